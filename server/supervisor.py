"""The supervisor: holds every model at its instance count, answers control
operations, and stays off the request path. It never imports torch.

Main loop (after gunicorn's arbiter): wait for messages → handle queued
signals → reap_workers() → watch_workers() → manage_workers() →
reap_clients().
"""

import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from graphferry.protocol import wire
from graphferry.shm.segment import unlink_quietly

from . import frontend
from .lifecycle import EXIT_BOOT_FAILURE
from .paths import ipc, prepare_runtime_dir
from .repository import ModelEntry, Repository
from .restart_policy import RestartPolicy
from .status_page import Field
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
class ModelState:
    """Everything the supervisor keeps about one served model version."""
    entry: ModelEntry
    workers: dict = field(default_factory=dict)  # slot -> WorkerProcess
    failed: str = ""  # why the model cannot be served; "" while it can
    restarts: int = 0
    crashes: dict = field(default_factory=dict)  # slot -> consecutive crashes
    restart_at: dict = field(default_factory=dict)  # slot -> monotonic time
    retired: dict = field(default_factory=dict)  # counters of workers that are gone

    def ready_workers(self) -> list:
        return [w for w in self.workers.values() if w.ready]


@dataclass
class ClientRecord:
    pid: int
    name: str
    regions: list


class Supervisor:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.models = {(e.name, e.version): ModelState(e) for e in config.repository.entries}
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
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.signals.append(signum))
        self.context = zmq.Context(io_threads=1)
        self.control = self.context.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
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
        for model in self.models.values():
            for slot, worker in list(model.workers.items()):
                code = worker.exit_code()
                if code is None:
                    continue
                del model.workers[slot]
                self.retire(model, worker)
                if code == EXIT_BOOT_FAILURE:
                    model.failed = f"worker {worker.id} {worker.describe_exit(code)}"
                    log.error("model %s v%d failed: %s; not restarting it (see the worker's "
                              "log above)", model.entry.name, model.entry.version, model.failed)
                    continue
                log.warning("worker %s (pid %d) %s", worker.id, worker.proc.pid,
                            worker.describe_exit(code))
                self.schedule_restart(model, slot, worker)

    def retire(self, model: ModelState, worker: WorkerProcess) -> None:
        for key in (Field.REQUESTS, Field.GRAPHS, Field.ERRORS, Field.BATCHES):
            model.retired[key] = model.retired.get(key, 0) + worker.page[key]
        if worker.ready:
            self.generation += 1
        worker.release()

    def schedule_restart(self, model: ModelState, slot: int, worker: WorkerProcess) -> None:
        policy = self.config.restart_policy
        now = time.monotonic()
        stable = now - worker.started >= policy.stable_after_s
        crashes = 1 if stable else model.crashes.get(slot, 0) + 1
        model.crashes[slot] = crashes
        model.restart_at[slot] = now + policy.delay(crashes)
        model.restarts += 1

    def watch_workers(self) -> None:
        for model in self.models.values():
            for worker in model.workers.values():
                if worker.poll_ready():
                    self.generation += 1

    def manage_workers(self) -> None:
        """Hold every model that has not failed at its instance count."""
        now = time.monotonic()
        for model in self.models.values():
            if model.failed or self.stopping:
                continue
            for slot in range(model.entry.config.instances):
                if slot in model.workers or model.restart_at.get(slot, 0) > now:
                    continue
                self.spawned += 1
                model.workers[slot] = WorkerProcess.spawn(
                    model.entry, slot, self.spawned, self.config.socket_path.parent,
                    self.config.log_level)

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
        workers = [w for m in self.models.values() for w in m.workers.values()]
        for worker in workers:
            worker.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            worker.finish(deadline)
        for model in self.models.values():
            model.workers.clear()
        if hasattr(self, "control"):
            self.control.close(0)
            self.context.term()
        try:
            self.config.socket_path.unlink()
        except FileNotFoundError:
            pass
        log.info("stopped")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
