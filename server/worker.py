"""A worker process: one model version on one device, one data socket.

Loop: wait for requests → gather a batch (everything queued, then up to the
queue delay, within the batch limits) → one model call → split and reply.
The supervisor is not on this path; it watches the status page and the exit
code. Run as ``python -m graphferry.server.worker SPEC_JSON``.
"""

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import zmq

from graphferry.protocol import wire
from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import Error, InvalidInput, UnknownModel
from graphferry.shm import HEADER_SIZE, Header, Region, decode_header

from . import lifecycle
from .allocator import keep_scratch_memory
from .batching import Assembler, OutputSlot
from .execution import Executor
from .model_loader import configure_threads, load_model, resolve_device
from .paths import admit_only_our_peers
from .quarantine import Quarantine
from .repository import ModelEntry
from .status_page import Field, State, StatusPage

log = logging.getLogger("graphferry.worker")
HOUSEKEEPING_NS = 1_000_000_000


class Worker:
    def __init__(self, entry: ModelEntry, endpoint: str, page: StatusPage, instance: int):
        self.entry = entry
        self.endpoint = endpoint
        self.page = page
        self.instance = instance
        self.regions: dict[str, Region] = {}  # opened on first use and kept
        self.header = bytearray(HEADER_SIZE)
        self.header_view = memoryview(self.header)  # made once, sliced per request
        self.quarantine = Quarantine(page)
        self.stopping = False
        self.next_housekeeping = 0

    def boot(self) -> None:
        """Load and warm the model; any failure here is a boot failure."""
        self.page[Field.STATE] = State.LOADING
        configure_threads(self.entry.config.cpu_threads)
        keep_scratch_memory()
        device = resolve_device(self.entry.config.device, self.instance)
        self.assembler = Assembler(self.entry.config, device)
        model = load_model(self.entry, device)
        self.executor = Executor(model, self.entry.config, self.assembler, self.page)
        self.executor.warm_up()

    def serve(self) -> None:
        context = zmq.Context(io_threads=1)
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        admit_only_our_peers(self.socket, Path(self.endpoint.removeprefix("ipc://")).parent)
        self.socket.bind(self.endpoint)
        self.page[Field.STATE] = State.READY
        log.info("%s v%d ready on %s", self.entry.name, self.entry.version, self.endpoint)
        spin_ns = self.entry.config.idle_spin_us * 1000
        spin_until = 0
        while not self.stopping:
            if self.wait_for_request(spin_until):
                self.quarantine.refresh()
                self.gather()
                if self.assembler.pending:
                    self.executor.run(self.send)
                spin_until = time.monotonic_ns() + spin_ns
            if time.monotonic_ns() >= self.next_housekeeping:
                self.housekeeping()
        self.page[Field.STATE] = State.STOPPING
        self.socket.close(0)
        context.term()

    def wait_for_request(self, spin_until: int) -> bool:
        """Is a request queued? Until ``spin_until`` (idle_spin_us after the last
        batch) it polls without sleeping, yielding the CPU between reads (so
        the sockets' I/O threads run at once), then sleeps in poll until a
        request comes or housekeeping is due."""
        events = self.socket.getsockopt  # a socket option read: no Poller per try
        while time.monotonic_ns() < spin_until:
            if events(zmq.EVENTS) & zmq.POLLIN:
                return True
            os.sched_yield()
        return bool(self.socket.poll(HOUSEKEEPING_NS // 1_000_000))

    def gather(self) -> None:
        """Take every queued request, then wait up to the queue delay for more."""
        batching = self.entry.config.batching
        delay_ns = batching.max_queue_delay_us * 1000
        enough = batching.preferred_batch_nodes or batching.max_nodes + 1
        deadline = None
        while self.assembler.nodes < enough:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                if not self.assembler.pending or not delay_ns:
                    return
                deadline = deadline or time.monotonic_ns() + delay_ns
                left_ms = (deadline - time.monotonic_ns()) / 1e6
                if left_ms <= 0 or not self.socket.poll(max(1, round(left_ms))):
                    return
                continue
            if len(frames) == 2:
                self.accept(*frames)
            else:
                self.send(frames[0], wire.error_reply(0, wire.extra_frames(len(frames) - 1)))

    def accept(self, identity: bytes, frame: bytes) -> None:
        """Queue one request into the batch, or answer it at once if it is bad."""
        request_id = 0
        try:
            message = wire.decode_request(frame)
            request_id = message["id"]
            if message["op"] != "infer":
                raise InvalidInput(f"unknown op {message['op']!r}; workers take 'infer'",
                                   ErrorCode.UNKNOWN_OP)
            self.enqueue(identity, request_id, message)
        except wire.RequestError as exc:
            self.send(identity, wire.error_reply(exc.request_id, exc))
        except Error as exc:
            self.page[Field.ERRORS] += 1
            self.send(identity, wire.error_reply(request_id, exc))
        except Exception:  # a bug of ours on this input: that request fails, not the worker
            log.exception("request %d: taking it failed inside the worker", request_id)
            self.page[Field.ERRORS] += 1
            self.send(identity, wire.error_reply(request_id, Error(
                "the worker failed to take this request (see the service log)",
                ErrorCode.INTERNAL)))

    def enqueue(self, identity: bytes, request_id: int, message: dict) -> None:
        self.check_model(message)
        region = self.region(wire.field(message, "region", str))
        offset = wire.field(message, "offset", int)
        length = wire.field(message, "length", int)
        if offset % 64 or offset + length > region.size:
            raise InvalidInput(f"input [{offset}, {offset + length}) is outside region "
                               f"{region.name} of {region.size} bytes or not 64-aligned",
                               ErrorCode.OUT_OF_BOUNDS)
        attempt = wire.field(message, "attempt", int, default=0)
        header = self.read_header(region, offset, length)
        self.assembler.check(header)
        self.quarantine.check(header, region, offset)
        out_slot = self.out_slot(message, region)
        alone = attempt > 0  # a re-send after a worker died runs in a batch of its own
        if self.assembler.pending and (alone or not self.assembler.fits(header)):
            self.executor.run(self.send)  # run what was gathered; this one starts anew
        self.assembler.add(identity, request_id, region, offset, header, out_slot,
                           (region.inode, offset, attempt))
        if alone:
            self.executor.run(self.send)

    def check_model(self, message: dict) -> None:
        name = wire.field(message, "model", str)
        version = wire.field(message, "version", int, default=0)
        if name != self.entry.name or version not in (0, self.entry.version):
            raise UnknownModel(f"this worker serves {self.entry.name} v{self.entry.version}, "
                               f"not {name} v{version}. Hint: refresh the topology")

    def read_header(self, region: Region, offset: int, length: int) -> Header:
        region.read_into(offset, self.header_view[:min(length, HEADER_SIZE)])
        return decode_header(self.header, 0, length)

    def out_slot(self, message: dict, region: Region) -> OutputSlot | None:
        out_offset = wire.field(message, "out_offset", int, required=False)
        if out_offset is None:
            return None
        out_length = wire.field(message, "out_length", int)
        if out_offset % 64 or out_offset + out_length > region.size:
            raise InvalidInput(f"output slot [{out_offset}, {out_offset + out_length}) is "
                               f"outside region {region.name} or not 64-aligned",
                               ErrorCode.OUT_OF_BOUNDS)
        return OutputSlot(region, out_offset, out_length)

    def region(self, name: str) -> Region:
        region = self.regions.get(name)
        if region is None:
            region = self.regions[name] = Region.open(name)
        return region

    def send(self, identity: bytes, payload: bytes) -> None:
        try:
            self.socket.send_multipart((identity, payload), zmq.NOBLOCK)
        except zmq.ZMQError:  # that client is gone or not reading: its loss alone
            pass

    def housekeeping(self) -> None:
        """Once a second, busy or idle: orphan check, drop regions that are gone."""
        self.next_housekeeping = time.monotonic_ns() + HOUSEKEEPING_NS
        lifecycle.exit_if_orphaned()
        for name in [n for n in self.regions if not os.path.exists(f"/dev/shm/{n}")]:
            self.regions.pop(name).close()  # its client unlinked it: let its memory go


def main(argv=None) -> None:
    spec = json.loads((argv or sys.argv[1:])[0])
    lifecycle.die_with_parent(spec["supervisor_pid"])
    logging.basicConfig(level=spec.get("log_level", "INFO"), stream=sys.stderr,
                        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(message)s")
    page = StatusPage.attach(spec["status_page"])
    page[Field.PID] = os.getpid()
    worker = Worker(ModelEntry.from_json(spec["entry"]), spec["endpoint"], page,
                    spec["instance"])
    signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "stopping", True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; Ctrl-C goes to it
    try:
        worker.boot()
    except Exception:
        log.exception("%s v%d could not load its model", worker.entry.name, worker.entry.version)
        logging.shutdown()
        os._exit(lifecycle.EXIT_BOOT_FAILURE)
    worker.serve()


if __name__ == "__main__":
    main()
