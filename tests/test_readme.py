"""The README's two commands and its Python example work as written."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from support import procs
from support.server import REPO, Server


def code_blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    first = code_blocks("sh")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]
    assert (REPO / "README.md").read_text().index(first) < 40
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_make_serve_then_the_python_example():
    server = Server()  # only for its temporary directory, log and readiness check
    env = {**os.environ, "GRAPHFERRY_SOCKET": str(server.socket)}
    server.proc = subprocess.Popen(["make", "-s", "serve"], cwd=REPO, env=env,
                                   stdout=open(server.log_path, "wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server.log = open(server.log_path, "ab")
    try:
        server.wait_ready(timeout=300)
        example = code_blocks("python")[0]
        result = subprocess.run([sys.executable, "-c", example], env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ready torch.Size([1, 8])")
    finally:
        tree = [server.proc.pid] + procs.descendants(server.proc.pid)
        os.killpg(server.proc.pid, signal.SIGTERM)  # the session we started, and only it
        server.proc.wait(30)
        procs.wait_gone(tree, 15)
        server.stop()
