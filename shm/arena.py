"""A client's arena: one segment per connection, request slots inside it (§8).

Nothing is created or mapped per request; a slot is a 64-aligned range found
first-fit in a sorted free list, coalesced on free. Slots are tiny in number
(one per request in flight), so a list scan beats anything cleverer. When
space is short, ``alloc`` waits for a ``free`` rather than failing at once:
short bursts queue in the client instead of turning into errors.
"""

import bisect
import threading
import time

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput, Overloaded
from .format import ALIGN, align_up
from .segment import PREFIX, Segment


class Arena:
    def __init__(self, segment: Segment):
        self._segment = segment
        self._size = segment.size // ALIGN * ALIGN
        self._free: list[tuple[int, int]] = [(0, self._size)]  # (offset, length), sorted
        self._used: dict[int, int] = {}  # offset -> length
        self._cond = threading.Condition()
        self._closed = False

    @classmethod
    def create(cls, size: int, prefix: str = PREFIX) -> "Arena":
        return cls(Segment.create(align_up(size), prefix))

    @property
    def name(self) -> str:
        return self._segment.name

    @property
    def size(self) -> int:
        return self._size

    @property
    def buf(self) -> memoryview:
        return self._segment.buf

    def alloc(self, nbytes: int, timeout: float | None = None) -> int:
        """A 64-aligned slot of at least ``nbytes``; waits up to ``timeout`` s for room."""
        need = max(ALIGN, align_up(nbytes))
        if need > self._size:
            raise InvalidInput(f"a {nbytes}-byte request cannot fit the {self._size}-byte "
                               "arena. Hint: create the client with a larger arena_size",
                               ErrorCode.LIMIT_EXCEEDED)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise ValueError(f"arena {self.name} is closed")
                offset = self._take(need)
                if offset is not None:
                    return offset
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Overloaded(self._short_message(need, timeout), ErrorCode.OVERLOADED)
                self._cond.wait(left)

    def _take(self, need: int) -> int | None:
        for i, (offset, length) in enumerate(self._free):
            if length >= need:
                self._free[i:i + 1] = [(offset + need, length - need)] if length > need else []
                self._used[offset] = need
                return offset
        return None

    def _short_message(self, need: int, timeout) -> str:
        free = self._size - self.in_use()
        return (f"arena {self.name} has {free} of {self._size} bytes free in "
                f"{len(self._free)} pieces, none of {need} bytes, after waiting "
                f"{timeout}s. Hint: fewer requests in flight, or a larger arena_size")

    def free(self, offset: int) -> None:
        """Return the slot ``alloc`` gave at ``offset``; anything else is a ValueError."""
        with self._cond:
            length = self._used.pop(offset, None)
            if length is None:
                raise ValueError(f"offset {offset} is not an allocated slot (double free?)")
            i = bisect.bisect_left(self._free, (offset, 0))
            end = offset + length
            if i < len(self._free) and self._free[i][0] == end:  # merge the next hole
                end += self._free.pop(i)[1]
            if i > 0 and sum(self._free[i - 1]) == offset:  # merge the previous hole
                offset = self._free[i - 1][0]
                self._free[i - 1] = (offset, end - offset)
            else:
                self._free.insert(i, (offset, end - offset))
            self._cond.notify_all()

    def in_use(self) -> int:
        with self._cond:
            return sum(self._used.values())

    def close(self) -> None:
        """Unmap and unlink the segment; idempotent. Waiting allocs raise."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._segment.close()
        self._segment.unlink()

    def __enter__(self) -> "Arena":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Arena {self.name} {self.in_use()}/{self._size} bytes in use>"
