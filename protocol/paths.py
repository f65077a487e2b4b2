"""Where the service's control socket is (docs/protocol.md §7)."""

import os
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
