"""One POSIX shared memory object in /dev/shm, owned or attached (FORMAT.md §8).

Not multiprocessing.shared_memory: its resource tracker unlinks segments it
thinks leaked and warns at exit, which fights a supervisor that owns cleanup.
We open /dev/shm/<name> directly, which is what shm_open does on Linux.

Limits it knows: Linux only; a mapping cannot be closed while numpy arrays
still view it, so ``close`` then leaves the mmap to the garbage collector.
"""

import mmap
import os
import re
import secrets
import stat

import numpy as np

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput

PREFIX = "graphferry-"  # §8: every segment graphferry creates or attaches
SHM_DIR = "/dev/shm"
MAX_NAME = 200  # §8
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
# MADV_POPULATE_WRITE (Linux 5.14) faults every page in one call; Python's
# mmap module only names it from 3.12 on, so fall back to the raw number.
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def path_of(name: str) -> str:
    """§8: a name from a client is hostile; it must not reach outside /dev/shm."""
    if (not isinstance(name, str) or not name.startswith(PREFIX)
            or len(name) > MAX_NAME or not _NAME_RE.fullmatch(name)):
        raise InvalidInput(f"{name!r} is not a graphferry region name (FORMAT.md §8)",
                           ErrorCode.UNKNOWN_REGION)
    return os.path.join(SHM_DIR, name)


def owner_pid(name: str) -> int | None:
    """The pid of the process that created segment ``name`` (§8), if it says."""
    digits = name.rsplit("-", 2)[-2] if name.count("-") >= 2 else ""
    return int(digits) if digits.isdigit() else None


def unlink_quietly(name: str) -> bool:
    """Remove segment ``name`` if it is a valid name and exists; True if removed."""
    try:
        os.unlink(path_of(name))
        return True
    except (InvalidInput, FileNotFoundError):
        return False


def open_existing(name: str, writable: bool) -> tuple[int, os.stat_result]:
    """Open segment ``name`` (fd and stat); InvalidInput(UNKNOWN_REGION) if it cannot be."""
    # O_NOFOLLOW: anyone can put a graphferry-* symlink in /dev/shm, and a
    # worker must not be steered into writing some other file.
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path_of(name), flags)
    except OSError as e:
        raise InvalidInput(f"cannot open region {name!r}: {e.strerror}. Hint: the "
                           "client that owns it may have exited", ErrorCode.UNKNOWN_REGION) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        os.close(fd)
        raise InvalidInput(f"region {name!r} is empty or not a shared memory segment",
                           ErrorCode.UNKNOWN_REGION)
    return fd, st


class Segment:
    """A mapped shared memory segment. ``with`` closes it (and unlinks it if created)."""

    def __init__(self, name: str, mm: mmap.mmap, owner: bool):
        self._name, self._mmap, self._owner = name, mm, owner
        self._buf: memoryview | None = memoryview(mm)

    @classmethod
    def create(cls, size: int, prefix: str = PREFIX) -> "Segment":
        """A new segment of ``size`` bytes, mode 0600, every page faulted in."""
        if size <= 0:
            raise ValueError(f"segment size must be positive, got {size}")
        # The creator's pid in the name says whose it is: `graphferry gc` and the
        # tests' leak probe tell a live owner's segment from a leaked one by it.
        name = f"{prefix}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            path = path_of(name)
        except InvalidInput:
            raise ValueError(f"prefix {prefix!r} must start with {PREFIX!r} and use only "
                             "[A-Za-z0-9._-]") from None
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.fchmod(fd, 0o600)  # umask cannot widen it, but be exact regardless
            # fallocate, not just ftruncate: on a full /dev/shm it fails here with
            # ENOSPC instead of SIGBUS on first touch of a hole, later, mid-request.
            os.posix_fallocate(fd, 0, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)  # mmap keeps its own duplicate
        _prefault(mm, size)
        return cls(name, mm, owner=True)

    @classmethod
    def attach(cls, name: str, writable: bool = True) -> "Segment":
        """Map an existing segment; InvalidInput(UNKNOWN_REGION) if it cannot be."""
        fd, st = open_existing(name, writable)
        try:
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            mm = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, prot)
        finally:
            os.close(fd)
        return cls(name, mm, owner=False)

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return len(self._mmap)

    @property
    def buf(self) -> memoryview:
        if self._buf is None:
            raise ValueError(f"segment {self._name} is closed")
        return self._buf

    @property
    def closed(self) -> bool:
        return self._buf is None

    def close(self) -> None:
        """Unmap; idempotent. With views still alive the unmap waits for the GC."""
        if self._buf is None:
            return
        self._buf.release()
        self._buf = None
        try:
            self._mmap.close()
        except BufferError:
            pass  # exported numpy views keep the mapping; it goes when they do

    def unlink(self) -> None:
        """Remove the name from /dev/shm; idempotent. Mappings stay valid."""
        try:
            os.unlink(os.path.join(SHM_DIR, self._name))
        except FileNotFoundError:
            pass

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        if self._owner:
            self.unlink()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.size} bytes"
        return f"<Segment {self._name} {state}>"


def _prefault(mm: mmap.mmap, size: int) -> None:
    """Fault every page now, so the first request does not pay ~2 GB/s page faults."""
    try:
        mm.madvise(_MADV_POPULATE_WRITE)
        return
    except (OSError, ValueError, AttributeError):
        pass  # kernel older than 5.14, or no madvise: touch one byte per page
    pages = np.frombuffer(mm, np.uint8)
    pages[::mmap.PAGESIZE] = 0
    del pages
