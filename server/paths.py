"""The service's runtime directory and who may connect to its sockets.

Access control is the directory: 0700, or 0770 for a service group. On top
of that, every socket the service binds admits only peers whose kernel
credentials (SO_PEERCRED, checked by libzmq when it accepts) are ours,
root's, or, when the directory is open to its group, that group's: a socket
reached through a directory that was loosened later still refuses strangers.
"""

import os
from pathlib import Path

import zmq


def prepare_runtime_dir(directory: Path) -> None:
    """Create the socket directory 0700, or check an existing one is ours and private."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to uid {info.st_uid}, not to us; "
                              "refusing to put sockets there")
    if info.st_mode & 0o007:
        raise PermissionError(f"{directory} is open to other users (mode "
                              f"{oct(info.st_mode & 0o777)}). Hint: chmod 700 {directory}")


def admit_only_our_peers(socket: zmq.Socket, directory: Path) -> None:
    """Before ``bind``: refuse connections from other users (and other groups)."""
    for uid in {os.getuid(), 0}:
        socket.setsockopt(zmq.IPC_FILTER_UID, uid)
    info = directory.stat()
    if info.st_mode & 0o070:
        socket.setsockopt(zmq.IPC_FILTER_GID, info.st_gid)
