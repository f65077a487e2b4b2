"""``graphferry.Client``: send graphs to a running graphferry service.

A client owns one shared-memory arena. A call packs its graphs into a slot of
the arena, sends one small ``infer`` message straight to a worker of the
model and waits on its own socket for the reply: one round trip, no broker.
The supervisor is asked only for the topology. Safe to share between
threads: each thread gets its own sockets to the workers; the control socket
is locked (it is used rarely).

``spin_us``: after sending a request, poll its socket without sleeping for
up to this long before sleeping in ``poll`` (the thread yields its CPU to
any other runnable thread between polls). It spends a core per waiting
thread to save the wake-up of a sleeping one; 0 (the default) never spins.
"""

import itertools
import os
import threading
import time

import numpy as np
import zmq

from graphferry.protocol import wire
from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import (DeadlineExceeded, Error, InvalidInput,
                                        ServiceUnavailable, WorkerCrashed, error_for)
from graphferry.protocol.paths import default_socket, ipc, unreachable
from graphferry.shm import Arena, prepare, write

from .channel import REPLY, TIMEOUT, Channel
from .graphs import list_bounds, to_arrays
from .topology import Topology

DEFAULT_ARENA_BYTES = 64 << 20
WAIT_FOR_WORKER_S = 0.05
SETTLE_TIMEOUT_S = 0.5  # how long to ask the supervisor how a worker died
MAX_WORKER_DEATHS = 4  # per request, whatever their causes
MAX_SPIN_US = 1_000_000


class Client:
    def __init__(self, socket=None, timeout: float = 30.0,
                 arena_size: int = DEFAULT_ARENA_BYTES, name: str = "", spin_us: int = 0):
        self.socket_path = os.fspath(socket or default_socket())
        why = unreachable(self.socket_path)
        if why:
            raise ServiceUnavailable(f"no graphferry service at {self.socket_path}: {why}. "
                                     "Hint: start it (graphferry serve), or point "
                                     "GRAPHFERRY_SOCKET at the socket it serves")
        self.timeout = timeout
        self.name = name
        if not 0 <= spin_us <= MAX_SPIN_US:
            raise ValueError(f"spin_us must be within 0..{MAX_SPIN_US}, got {spin_us}")
        self._spin_ns = int(spin_us) * 1000
        self._ids = itertools.count(1)
        self._context = zmq.Context(io_threads=1)
        self._control_lock = threading.Lock()
        self._control = self._control_socket()
        self._arena = Arena.create(arena_size)
        self._arena_inode = os.stat(f"/dev/shm/{self._arena.name}").st_ino
        self._local = threading.local()
        self._channels = []  # every thread's channels, for close()
        self._channels_lock = threading.Lock()
        self._topology = Topology()
        self._closed = False
        try:
            self._hello()
        except BaseException:
            self.close()
            raise

    # -- public API -------------------------------------------------------
    def infer(self, model: str, graphs, version: int | None = None):
        """Run ``model`` on ``graphs``; a torch tensor, or a list of them for a list."""
        arrays = to_arrays(graphs)
        header, packed = prepare(x=arrays.x, edge_index=arrays.edge_index, ptr=arrays.ptr,
                                 edge_attr=arrays.edge_attr, x_dtype=arrays.x_dtype,
                                 edge_attr_dtype=arrays.edge_attr_dtype)
        deadline = time.monotonic() + self.timeout
        info = self._model(model, version, deadline)
        node_level = info.level == "node"
        rows = header.num_nodes if node_level else header.num_graphs
        output = self._run(info, header, packed, rows, deadline)
        import torch
        tensor = torch.from_numpy(output)
        if not arrays.is_list:
            return tensor
        bounds = list_bounds(arrays, node_level)
        return [tensor[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def metadata(self, model: str, version: int | None = None) -> dict:
        return self._call("metadata", model=model, version=version or 0)

    def health(self) -> dict:
        return self._call("health")

    def stats(self) -> dict:
        return self._call("stats")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._call("bye", timeout=0.5)
        except Error:
            pass
        with self._channels_lock:
            for channel in self._channels:
                channel.close()
            self._channels.clear()
        self._control.close(0)
        if hasattr(self, "_arena"):
            self._arena.close()
        self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.close()

    # -- the request path -------------------------------------------------
    def _run(self, info, header, packed, rows: int, deadline: float) -> np.ndarray:
        size = header.total_length
        out_bytes = rows * info.width * 4
        slot_bytes = out_bytes if out_bytes > self._inline_limit else 0
        offset = self._arena.alloc(size + slot_bytes, timeout=max(0.0, deadline - time.monotonic()))
        keep = False
        try:
            write(self._arena.buf, offset, header, packed)
            request = {"v": wire.PROTOCOL_VERSION, "op": "infer", "model": info.name,
                       "version": info.version, "region": self._arena.name,
                       "offset": offset, "length": size}
            if slot_bytes:
                request.update(out_offset=offset + size, out_length=slot_bytes)
            reply = self._exchange(info, request, offset, deadline)
            if reply is None:  # timed out: the slot now waits for the worker (§5.3)
                keep = True
                raise DeadlineExceeded(f"no reply from {info.name} within {self.timeout} s. "
                                       "Hint: raise Client(timeout=...)")
            if reply.get("in_slot"):
                start = offset + size
                data = self._arena.buf[start:start + out_bytes]
            else:
                data = reply["data"]
            return np.frombuffer(data, dtype=np.float32).reshape(reply["shape"]).copy()
        finally:
            if not keep:
                self._arena.free(offset)

    def _exchange(self, info, request: dict, offset: int, deadline: float):
        """Send to a worker and wait; settle the request if that worker dies (§5.3).

        Returns the reply, or None on timeout: the slot is then an orphan of
        the channel, kept until the late reply or the worker's death.
        """
        deaths = 0
        while True:
            worker_id, endpoint = self._worker(info, deadline)
            channel = self._channel(worker_id, endpoint)
            request["id"] = request_id = next(self._ids)
            try:
                channel.send(wire.encode(request))
                outcome, reply = channel.wait(request_id, deadline, self._late_reply,
                                              lambda: self._is_dead(worker_id), self._spin_ns)
            finally:
                self._topology.done(worker_id)
                with self._channels_lock:
                    channel.busy = False
            if outcome == REPLY:
                if not reply.get("ok"):
                    raise error_for(reply.get("code", ErrorCode.INTERNAL),
                                    reply.get("message", ""))
                return reply
            if outcome == TIMEOUT:
                with self._channels_lock:
                    channel.orphans[request_id] = offset
                return None
            self._forget(worker_id)
            deaths += 1
            request["attempt"] = self._settle(info, worker_id, offset,
                                              request.get("attempt", 0), deaths)
            info = self._model(info.name, info.version, deadline, refresh=True)

    def _settle(self, info, worker_id: str, offset: int, attempt: int, deaths: int) -> int:
        """A worker died holding our request: fail it, or say how to re-send it.

        Retry off: WORKER_CRASHED. Running alone when it died: WORKER_CRASHED
        (the supervisor quarantines the input). Running in a batch: re-send
        once, alone (attempt 1). Only queued there: innocent, re-send as it was.
        """
        # Asked even when retry is off: the answer comes after the supervisor has
        # reaped the worker and read back a killer's input, so our slot is not
        # reused (and a neighbour's input quarantined) before that.
        executing = self._was_executing(worker_id, offset)
        if not info.raw.get("retry", True):
            raise WorkerCrashed(f"worker {worker_id} of {info.name} died while holding this "
                                "request (retry_on_crash is off for this model)")
        if executing and attempt:
            raise WorkerCrashed(f"worker {worker_id} of {info.name} died while running this "
                                "request alone; the input is quarantined (POISONED if sent "
                                "again)")
        if deaths >= MAX_WORKER_DEATHS:
            raise WorkerCrashed(f"{deaths} workers of {info.name} died while holding this "
                                "request")
        return 1 if executing else attempt

    def _was_executing(self, worker_id: str, offset: int) -> bool:
        """Ask the supervisor whether the dead worker was running our request."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            verdict = self._call("worker_exit", worker=worker_id,
                                 timeout=max(0.05, deadline - time.monotonic()))
            if verdict["state"] == "dead":
                running = {(inode, off) for inode, off, _ in verdict["executing"]}
                return ((self._arena_inode, offset) in running
                        or verdict["batch_size"] > len(verdict["executing"]))
            if verdict["state"] != "alive" or time.monotonic() >= deadline:
                return False  # not known to have died running it: innocent
            time.sleep(0.01)  # its socket closed, its exit not reaped yet

    def _is_dead(self, worker_id: str) -> bool:
        try:
            return self._call("worker_exit", worker=worker_id,
                              timeout=SETTLE_TIMEOUT_S)["state"] != "alive"
        except Error:
            return True

    def _worker(self, info, deadline: float):
        while True:
            worker = self._topology.pick(info)
            if worker is not None:
                return worker
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(f"no worker of {info.name} v{info.version} became "
                                         f"ready within {self.timeout} s",
                                         ErrorCode.MODEL_UNAVAILABLE)
            time.sleep(WAIT_FOR_WORKER_S)
            info = self._model(info.name, info.version, deadline, refresh=True)

    def _model(self, name: str, version, deadline: float, refresh: bool = False):
        if refresh or not self._topology.models:
            self._refresh(deadline)
        return self._topology.model(name, version)

    def _channel(self, worker_id: str, endpoint: str) -> Channel:
        channels = getattr(self._local, "channels", None)
        if channels is None:
            channels = self._local.channels = {}
        with self._channels_lock:
            channel = channels.get(worker_id)
            if channel is None or channel.closed:  # closed: its worker died meanwhile
                channel = channels[worker_id] = Channel(self._context, endpoint, worker_id)
                self._channels.append(channel)
            channel.busy = True
        return channel

    def _forget(self, worker_id: str) -> None:
        self._topology.mark_dead(worker_id)
        self._release_orphans({worker_id})  # closes this channel (idle since wait returned)

    def _late_reply(self, channel: Channel, request_id) -> None:
        with self._channels_lock:
            offset = channel.orphans.pop(request_id, None)
        if offset is not None:
            self._arena.free(offset)

    def _release_orphans(self, dead: set) -> None:
        """Workers in ``dead`` are gone: free the slots kept for their late replies
        and close the channels to them, whichever thread made them (that thread
        may never use the worker again, or may have ended). A channel its thread
        is using right now is left to that thread."""
        with self._channels_lock:
            offsets = [off for ch in self._channels if ch.worker_id in dead
                       for off in ch.orphans.values()]
            for ch in self._channels:
                if ch.worker_id in dead:
                    ch.orphans.clear()
            idle = [ch for ch in self._channels if ch.worker_id in dead and not ch.busy]
            for ch in idle:
                self._channels.remove(ch)
                ch.close()
        for offset in offsets:
            self._arena.free(offset)

    # -- control ----------------------------------------------------------
    def _control_socket(self) -> zmq.Socket:
        control = self._context.socket(zmq.DEALER)
        control.setsockopt(zmq.LINGER, 0)
        control.setsockopt(zmq.MAXMSGSIZE, 16 * wire.MAX_MESSAGE_BYTES)
        control.connect(ipc(self.socket_path))
        return control

    def _hello(self, timeout: float | None = None) -> None:
        reply = self._call("hello", client={"pid": os.getpid(), "name": self.name},
                           regions=[self._arena.name], timeout=timeout)
        self._inline_limit = reply["limits"]["inline_output_bytes"]
        live = self._topology.update(reply["topology"])
        with self._channels_lock:
            gone = {ch.worker_id for ch in self._channels if ch.worker_id not in live}
        if gone:
            self._release_orphans(gone)

    def _refresh(self, deadline: float | None = None) -> None:
        # hello, not topology: a restarted supervisor learns our regions again.
        timeout = SETTLE_TIMEOUT_S if deadline is None else min(
            SETTLE_TIMEOUT_S, max(0.05, deadline - time.monotonic()))
        self._hello(timeout)

    def _call(self, op: str, timeout: float | None = None, **fields) -> dict:
        """One control request to the supervisor; replies to earlier, timed-out ones are skipped."""
        timeout = self.timeout if timeout is None else timeout
        with self._control_lock:
            request_id = next(self._ids)
            self._control.send(wire.encode({"v": wire.PROTOCOL_VERSION, "op": op,
                                            "id": request_id, **fields}))
            deadline = time.monotonic() + timeout
            while True:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0 or not self._control.poll(left_ms):
                    raise ServiceUnavailable(f"the graphferry service at {self.socket_path} did "
                                             f"not answer {op!r} within {timeout:.1f} s. Hint: is "
                                             "it running? (graphferry serve)")
                reply = wire.decode(self._control.recv())
                if reply.get("id") == request_id:
                    break
        if not reply.get("ok"):
            raise error_for(reply.get("code", ErrorCode.INTERNAL), reply.get("message", ""))
        return {k: v for k, v in reply.items() if k not in ("v", "id", "ok")}
