"""The supervisor: holds every model at its instance count, answers control
operations, and stays off the request path. It never imports torch.

Main loop (after gunicorn's arbiter): wait for messages → handle queued
signals → reap_workers() → watch_workers() → manage_workers() →
reap_clients(). Control operations that report on workers reap first, so
what they say is true at that moment.
"""

import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import zmq

from graphferry.protocol import wire
from graphferry.protocol.paths import ipc
from graphferry.protocol.errors import InvalidInput
from graphferry.shm import HEADER_SIZE, Region, decode_header
from graphferry.shm.segment import unlink_quietly

from . import frontend
from .cleanup import collect
from .lifecycle import pid_alive
from .paths import admit_only_our_peers, prepare_runtime_dir
from .pool import ModelPool
from .quarantine import fingerprint
from .repository import Repository
from .restart_policy import RestartPolicy
from .status_page import BatchEntry
from .worker_process import STOP_GRACE_S, WorkerProcess

log = logging.getLogger("graphferry.supervisor")
TICK_MS = 50
CLIENT_CHECK_S = 1.0


@dataclass(frozen=True)
class ServeConfig:
    repository: Repository
    socket_path: Path
    restart_policy: RestartPolicy = RestartPolicy()
    log_level: str = "INFO"


@dataclass
class ClientRecord:
    pid: int
    name: str
    regions: list


class Supervisor:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.models = {(e.name, e.version): ModelPool(e) for e in config.repository.entries}
        self.clients = {}  # zmq identity -> ClientRecord
        self.generation = 0  # topology generation
        self.spawned = 0  # worker generations handed out
        self.signals = []
        self.stopping = False
        self.started = time.monotonic()
        self.next_client_check = 0.0

    # -- the loop ---------------------------------------------------------
    def run(self) -> None:
        self.start()
        try:
            while not self.stopping:
                self.wait()
                self.handle_signals()
                self.reap_workers()
                self.watch_workers()
                self.manage_workers()
                self.reap_clients()
        finally:
            self.shutdown()

    def start(self) -> None:
        path = self.config.socket_path
        prepare_runtime_dir(path.parent)
        refuse_if_served(path)
        for stale in path.parent.glob("w-*.sock"):  # a killed service's workers' sockets
            stale.unlink(missing_ok=True)
        for name in collect(prefix="graphferry-status-"):  # a killed supervisor's pages
            log.info("removed stale status page %s", name)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.signals.append(signum))
        self.context = zmq.Context(io_threads=1)
        self.control = self.context.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        admit_only_our_peers(self.control, path.parent)
        self.control.bind(ipc(path))
        for name, why in self.config.repository.failures.items():
            log.error("model %s cannot be served: %s", name, why)
        log.info("serving %d model(s) from %s on %s", len(self.models),
                 self.config.repository.root, path)

    def wait(self) -> None:
        if not self.control.poll(TICK_MS):
            return
        while True:
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            identity = frames[0]
            reply = (frontend.handle(self, identity, frames[1]) if len(frames) == 2 else
                     wire.error_reply(0, wire.extra_frames(len(frames) - 1)))
            self.control.send_multipart((identity, reply))

    def handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            log.info("received %s; stopping", signal.Signals(signum).name)
            self.stopping = True

    # -- workers ----------------------------------------------------------
    def reap_workers(self) -> None:
        for pool in self.models.values():
            if pool.reap(self.config.restart_policy, self.fingerprint):
                self.generation += 1

    def watch_workers(self) -> None:
        for pool in self.models.values():
            if pool.watch():
                self.generation += 1

    def manage_workers(self) -> None:
        if self.stopping:
            return
        for pool in self.models.values():
            pool.manage(self.spawn)

    def spawn(self, pool: ModelPool, slot: int) -> WorkerProcess:
        self.spawned += 1
        return WorkerProcess.spawn(pool.entry, slot, self.spawned,
                                   self.config.socket_path.parent, self.config.log_level,
                                   pool.quarantine)

    def fingerprint(self, entry: BatchEntry, quarantine_s: float):
        """Read back the input a dead worker was running alone, from its client's arena."""
        for client in self.clients.values():
            for name in client.regions:
                try:
                    with Region.open(name, writable=False) as region:
                        if region.inode != entry.inode:
                            continue
                        header = decode_header(region.read(entry.offset, HEADER_SIZE), 0,
                                               region.size - entry.offset)
                        return fingerprint(header, region.read(entry.offset,
                                                               header.total_length),
                                           quarantine_s)
                except (OSError, InvalidInput):  # gone, shrunk or rewritten: nothing to read
                    continue
        return None

    # -- clients ----------------------------------------------------------
    def register_client(self, identity: bytes, pid: int, name: str, regions: list) -> None:
        self.clients[identity] = ClientRecord(pid, name, regions)

    def reap_clients(self) -> None:
        """Unlink the regions of clients whose process is gone."""
        now = time.monotonic()
        if now < self.next_client_check:
            return
        self.next_client_check = now + CLIENT_CHECK_S
        for identity, client in list(self.clients.items()):
            if not pid_alive(client.pid):
                log.info("client pid %d is gone; unlinking its %d region(s)", client.pid,
                         len(client.regions))
                self.forget_client(identity, unlink=True)

    def forget_client(self, identity: bytes, unlink: bool) -> None:
        client = self.clients.pop(identity, None)
        if client and unlink:
            for name in client.regions:
                unlink_quietly(name)

    # -- shutdown ---------------------------------------------------------
    def shutdown(self) -> None:
        workers = [w for pool in self.models.values() for w in pool.all_workers()]
        for worker in workers:
            worker.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            worker.finish(deadline)
        for pool in self.models.values():
            pool.workers.clear()
            pool.standbys.clear()
        if hasattr(self, "control"):
            self.control.close(0)
            self.context.term()
        try:
            self.config.socket_path.unlink()
        except FileNotFoundError:
            pass
        log.info("stopped")


def refuse_if_served(path: Path) -> None:
    """Fail if a live service already listens on ``path``; remove a stale socket file."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # left by a service that was killed
        return
    finally:
        probe.close()
    raise RuntimeError(f"another graphferry service is already serving on {path}")
