"""A real graphferry service in a temporary socket directory, for tests."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import graphferry

from . import procs

REPO = Path(__file__).resolve().parents[2]
TEST_MODELS = REPO / "tests" / "models"


class Server:
    """``graphferry serve`` as a child process; ``stop()`` kills only what it started."""

    def __init__(self, models: Path | None = None, extra_args=(), env=None):
        self.dir = Path(tempfile.mkdtemp(prefix="gf-", dir="/tmp"))
        self.socket = self.dir / "run" / "graphferry.sock"
        self.models = models
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.log_path = self.dir / "server.log"

    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> "Server":
        args = [sys.executable, "-m", "graphferry.server.cli", "serve",
                "--socket", str(self.socket), *self.extra_args]
        if self.models is not None:
            args += ["--models", str(self.models)]
        self.log = open(self.log_path, "wb")
        env = {**os.environ, **(self.env or {})}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)
        if wait_ready:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.stop()  # a server that never came up is not left running
                raise
        return self

    def wait_ready(self, timeout: float = 120.0, status: str = "ready") -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with graphferry.Client(socket=self.socket, timeout=2.0, arena_size=1 << 16) as client:
                    last = client.health()
                    if last["status"] == status:
                        return last
                    if last["status"] == "failed":
                        break  # nothing will come up: say so now, not at the timeout
            except graphferry.Error:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server did not become {status} (waited up to {timeout}s; last "
                           f"health {last}):\n"
                           f"{self.output()}")

    def client(self, **kwargs) -> graphferry.Client:
        return graphferry.Client(socket=self.socket, **kwargs)

    def worker_pids(self) -> list[int]:
        return procs.children(self.proc.pid)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        tree = [self.proc.pid] + procs.descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                procs.kill_tree(self.proc.pid)
                self.proc.wait()
        left = procs.wait_gone(tree, 10)
        for pid in left:  # only processes this server started
            os.kill(pid, signal.SIGKILL)
        procs.wait_gone(left, 5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.proc = None
