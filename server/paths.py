"""The service's runtime directory: created private, or checked to be."""

import os
from pathlib import Path


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
