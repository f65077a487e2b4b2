"""Where the control socket lives, and who may use its directory."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
import zmq

import graphferry
from graphferry.protocol.paths import default_socket, ipc
from graphferry.server.paths import prepare_runtime_dir
from support.server import Server


def test_default_socket_order(monkeypatch):
    monkeypatch.setenv("GRAPHFERRY_SOCKET", "/x/y.sock")
    assert str(default_socket()) == "/x/y.sock"
    monkeypatch.delenv("GRAPHFERRY_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert str(default_socket()) == "/run/user/7/graphferry/graphferry.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert str(default_socket()) == f"/tmp/graphferry-{os.getuid()}/graphferry.sock"


def test_runtime_dir_is_created_private(tmp_path):
    directory = tmp_path / "a" / "run"
    prepare_runtime_dir(directory)
    assert (directory.stat().st_mode & 0o777) == 0o700


def test_runtime_dir_open_to_others_is_refused(tmp_path):
    directory = tmp_path / "open"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    with pytest.raises(PermissionError, match="chmod 700"):
        prepare_runtime_dir(directory)


def test_socket_path_too_long_is_refused():
    with pytest.raises(ValueError, match="107"):
        ipc("/tmp/" + "x" * 120)


def test_client_without_a_service_fails_at_once(tmp_path):
    """Regression: a client whose socket had nothing behind it (no service, a
    typo, a service that refused its directory) waited out its whole timeout
    before saying so."""
    missing, stale = tmp_path / "missing.sock", tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # the file stays, nothing listens: a stopped service's
    for path, why in ((missing, "there is no socket there"), (stale, "nothing listens")):
        started = time.monotonic()
        with pytest.raises(graphferry.ServiceUnavailable, match=why) as info:
            graphferry.Client(socket=path, timeout=60)
        assert info.value.code.name == "SERVICE_UNAVAILABLE" and "Hint" in info.value.message
        assert time.monotonic() - started < 30, "it waited for its timeout"


def test_second_service_on_the_same_socket_is_refused(server):
    result = subprocess.run([sys.executable, "-m", "graphferry.server.cli", "serve",
                             "--socket", str(server.socket)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "already serving" in result.stderr


def test_serve_uses_graphferry_socket_from_the_environment():
    server = Server()
    server.env = {"GRAPHFERRY_SOCKET": str(server.socket)}
    server.socket.parent.mkdir(mode=0o700)
    try:
        args_socket = server.socket
        server.extra_args = []
        # start without --socket: Server.start always passes it, so run by hand
        server.proc = subprocess.Popen([sys.executable, "-m", "graphferry.server.cli", "serve"],
                                       env={**os.environ, **server.env},
                                       stdout=open(server.log_path, "wb"),
                                       stderr=subprocess.STDOUT)
        server.log = open(server.log_path, "ab")
        assert server.wait_ready()["status"] == "ready"
        assert args_socket.is_socket()
    finally:
        server.stop()


def answered_as(uid: int, endpoint: str) -> bool:
    """Send a request from a child process running as ``uid``: did anything answer?"""
    pid = os.fork()
    if pid == 0:  # the child touches none of the parent's zmq state
        answered = 2
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sock = zmq.Context().socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            sock.send(msgpack.packb({"v": 1, "op": "hello", "id": 1}))
            answered = int(bool(sock.poll(2000)))
        finally:
            os._exit(answered)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert status in (0, 1), f"the child running as uid {uid} failed ({status})"
    return status == 1


@pytest.mark.skipif(os.getuid() != 0, reason="acting as another user needs root")
def test_sockets_refuse_other_users_even_through_an_opened_directory(server):
    """The directory is the access control, and the kernel's peer credentials
    back it up: with the directories and sockets opened to everyone after the
    start, another user still gets no answer from the supervisor or a worker."""
    with server.client() as c:
        worker = c._topology.model("gcn", None).workers[0][1]
    sockets = [server.socket, Path(worker.removeprefix("ipc://"))]
    directories = [server.dir, server.socket.parent]
    modes = {p: p.stat().st_mode & 0o777 for p in sockets + directories}
    try:
        for d in directories:
            d.chmod(0o711)
        for s in sockets:
            s.chmod(0o777)
        for endpoint in (f"ipc://{server.socket}", worker):
            assert answered_as(os.getuid(), endpoint)
            assert not answered_as(65534, endpoint), f"{endpoint} answered another user"
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
