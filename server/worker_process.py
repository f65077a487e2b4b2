"""One worker process as the supervisor sees it: spawn, watch, stop.

Each spawn is a new generation with its own socket path, so a client can
never reach a dead generation's successor through a stale endpoint.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from graphferry.protocol.paths import ipc

from . import lifecycle
from .repository import ModelEntry
from .status_page import Field, State, StatusPage

log = logging.getLogger("graphferry.supervisor")
STOP_GRACE_S = 5.0


@dataclass
class WorkerProcess:
    entry: ModelEntry
    slot: int
    generation: int
    socket_path: Path
    page: StatusPage
    proc: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    ready: bool = False

    @property
    def id(self) -> str:
        # The supervisor's pid makes ids unique across service restarts.
        return f"{self.entry.name}-{self.entry.version}-{self.slot}.{os.getpid()}.{self.generation}"

    @property
    def endpoint(self) -> str:
        return ipc(self.socket_path)

    @classmethod
    def spawn(cls, entry: ModelEntry, slot: int, generation: int, runtime_dir: Path,
              log_level: str, quarantine: list) -> "WorkerProcess":
        socket_path = runtime_dir / (f"w-{os.getpid()}-{entry.name}-{entry.version}-{slot}-"
                                     f"{generation}.sock")
        page = StatusPage.create()
        if quarantine:
            page.write_quarantine(quarantine)
        spec = {"entry": entry.to_json(), "endpoint": ipc(socket_path), "instance": slot,
                "status_page": page.name, "supervisor_pid": os.getpid(),
                "log_level": log_level}
        try:
            proc = subprocess.Popen([sys.executable, "-m", "graphferry.server.worker",
                                     json.dumps(spec)], stdin=subprocess.DEVNULL)
        except OSError:
            page.close()
            raise
        worker = cls(entry, slot, generation, socket_path, page, proc)
        log.info("started worker %s pid %d", worker.id, proc.pid)
        return worker

    def poll_ready(self) -> bool:
        """True the first time the worker reports READY on its status page."""
        if not self.ready and self.page[Field.STATE] == State.READY:
            self.ready = True
            log.info("worker %s ready after %.2f s", self.id, time.monotonic() - self.started)
            return True
        return False

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def finish(self, deadline: float) -> None:
        """Wait for the exit until ``deadline`` (monotonic), then SIGKILL; release all."""
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %s ignored SIGTERM; killing it", self.id)
            self.proc.kill()
            self.proc.wait()
        self.release()

    def release(self) -> None:
        self.page.close()
        try:
            self.socket_path.unlink()  # left behind when the worker was killed
        except FileNotFoundError:
            pass

    def describe_exit(self, code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        if code == lifecycle.EXIT_BOOT_FAILURE:
            return "could not load its model"
        return f"exited with code {code}"
