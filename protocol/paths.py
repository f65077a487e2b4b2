"""Where the service's control socket is (docs/protocol.md §7)."""

import errno
import os
import socket as _socket
from pathlib import Path

SOCKET_NAME = "graphferry.sock"
MAX_IPC_PATH = 107  # sun_path is 108 bytes with the terminating NUL


def default_socket() -> Path:
    explicit = os.environ.get("GRAPHFERRY_SOCKET")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "graphferry" / SOCKET_NAME
    return Path(f"/tmp/graphferry-{os.getuid()}") / SOCKET_NAME


def ipc(path) -> str:
    text = str(path)
    if len(text) > MAX_IPC_PATH:
        raise ValueError(f"socket path {text} is {len(text)} bytes; Unix sockets take at "
                         f"most {MAX_IPC_PATH}. Hint: use a shorter socket path")
    return f"ipc://{text}"


def unreachable(path) -> str | None:
    """Why nothing can be serving at socket ``path``, or None if something listens.

    zmq connects in the background and retries for ever, so without this a
    client would wait out its whole timeout for a service that is not there
    (docs/protocol.md §5.5). One plain connect, closed at once.
    """
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(os.fspath(path))
    except OSError as e:
        reasons = {
            errno.ENOENT: "there is no socket there",
            errno.ECONNREFUSED: "nothing listens there (a socket file left by a stopped service)",
            errno.EACCES: "permission denied (the socket's directory is closed to this user)",
            errno.ENOTSOCK: "that is not a socket",
            errno.ENOTDIR: "a part of that path is not a directory",
        }
        return reasons.get(e.errno)  # EAGAIN and the like: it listens, but is busy
    finally:
        probe.close()
    return None
