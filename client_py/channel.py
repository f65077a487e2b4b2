"""One thread's connection to one worker: a DEALER socket and its monitor.

Each thread that calls ``infer`` gets its own channel per worker, so a call
is send → wait on its own socket → receive: no lock and no hand-off between
threads on the request path. The monitor reports the socket's disconnect at
once when the worker process dies (the kernel closes its end), which is how
a request outstanding at a dead worker is settled without waiting for a
timeout (docs/protocol.md §5.3).
"""

import os
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from graphferry.protocol import wire

REPLY, GONE, TIMEOUT = "reply", "gone", "timeout"
CHECK_EVERY_MS = 1000  # while waiting long, ask whether the worker is still alive


class Channel:
    def __init__(self, context: zmq.Context, endpoint: str, worker_id: str):
        self.worker_id = worker_id
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        # DISCONNECTED only: it comes once per connection. Events nobody reads
        # block libzmq's I/O thread once the monitor's queue is full (libzmq
        # #3575), freezing every socket of the context; CONNECT_RETRIED would
        # arrive every 100 ms from a dead worker's socket. A worker that died
        # before we connected is caught by the 1 s check instead.
        self.monitor = self.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.socket.connect(endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        # request id -> arena offset kept for a late reply; guarded by the
        # client's lock, since any thread may learn that this worker died.
        self.orphans = {}
        self.gone = False
        self.busy = False  # its thread is in send/wait: nobody else may close it
        self.closed = False

    def send(self, payload: bytes) -> None:
        self.socket.send(payload, copy=True)

    def wait(self, request_id: int, deadline: float, late_reply,
             worker_dead, spin_ns: int = 0) -> tuple[str, dict | None]:
        """Wait for ``request_id``'s reply until ``deadline`` (monotonic seconds).

        Late replies to earlier, timed-out requests are discarded, and
        ``late_reply(self, id)`` frees their slots. Every CHECK_EVERY_MS without a reply,
        ``worker_dead()`` is asked: a request sent before the connection was
        up sees no disconnect event when the worker dies. For the first
        ``spin_ns`` it polls without sleeping (reading ZMQ_EVENTS processes
        the socket's pending commands, as poll does), yielding between reads.
        """
        if spin_ns:
            events = self.socket.getsockopt
            until = min(time.monotonic_ns() + spin_ns, int(deadline * 1e9))
            while not events(zmq.EVENTS) & zmq.POLLIN and time.monotonic_ns() < until:
                os.sched_yield()
        while True:
            left_ms = (deadline - time.monotonic()) * 1000
            if left_ms <= 0:
                return TIMEOUT, None
            events = dict(self.poller.poll(max(1, min(int(left_ms), CHECK_EVERY_MS))))
            if not events:
                if worker_dead():
                    self.gone = True
                    return GONE, None
                continue
            if self.socket in events:
                reply = wire.decode(self.socket.recv())
                got = reply.get("id")
                if got == request_id:
                    return REPLY, reply
                late_reply(self, got)
                continue
            if self.monitor in events:
                recv_monitor_message(self.monitor)
                self.gone = True
                return GONE, None

    def close(self) -> None:
        self.closed = True
        self.socket.disable_monitor()
        self.monitor.close(0)
        self.socket.close(0)
