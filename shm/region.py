"""A segment that another process owns, read and written through its file
descriptor (``pread``/``pwrite``), never mapped.

Workers and the supervisor read the clients' arenas this way. A mapping
would not be safe: the owner can shrink its segment at any moment
(``ftruncate``), and touching a mapped page past the new end raises SIGBUS,
which kills the reader, and Python cannot catch it. ``pread`` past the end
returns fewer bytes instead, which becomes an ``OUT_OF_BOUNDS`` error for
that request alone. ``pwrite`` past the end grows the file again, which
harms only its owner.

The descriptor is opened the first time a request names the region and kept,
as a mapping would be: nothing is opened or mapped per request. Each read is
one system call that copies straight into the caller's buffer (a worker's
batch buffers), the one copy the worker makes anyway (docs/protocol.md §4.2).
"""

import os

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput
from .segment import open_existing


class Region:
    def __init__(self, name: str, fd: int, size: int, inode: int):
        self.name, self.size, self.inode = name, size, inode
        self._fd = fd

    @classmethod
    def open(cls, name: str, writable: bool = True) -> "Region":
        """Open an existing segment; InvalidInput(UNKNOWN_REGION) if it cannot be."""
        fd, st = open_existing(name, writable)
        return cls(name, fd, st.st_size, st.st_ino)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def read_into(self, offset: int, buffer) -> None:
        """Fill ``buffer`` (writable, C-contiguous) with the bytes from ``offset`` on."""
        view, done = _bytes(buffer), 0
        while done < len(view):  # one call but for reads over 2 GiB (Linux's cap)
            got = os.preadv(self._fd, [view[done:]], offset + done)
            if not got:
                raise self._shrunk(offset + len(view))
            done += got

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise self._shrunk(offset + length)
        return data

    def write(self, offset: int, data) -> None:
        """Write ``data`` (C-contiguous) at ``offset``; InvalidInput if the OS refuses."""
        view, done = _bytes(data), 0
        try:
            while done < len(view):  # one call but for writes over 2 GiB
                done += os.pwrite(self._fd, view[done:], offset + done)
        except OSError as e:  # e.g. ENOSPC: the owner shrank it and /dev/shm is full
            raise InvalidInput(f"cannot write into region {self.name}: {e.strerror}",
                               ErrorCode.OUT_OF_BOUNDS) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _shrunk(self, end: int) -> InvalidInput:
        return InvalidInput(f"region {self.name} ends before byte {end}: its owner shrank it "
                            f"after announcing {self.size} bytes", ErrorCode.OUT_OF_BOUNDS)

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Region {self.name} {'closed' if self.closed else f'{self.size} bytes'}>"


def _bytes(buffer) -> memoryview:
    """``buffer`` as flat bytes; memoryview refuses to cast an empty 2-D array
    (a section of a graph with no nodes or no edges), so those become b""."""
    view = memoryview(buffer)
    return view.cast("B") if view.nbytes else memoryview(b"")
