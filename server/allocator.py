"""The worker's malloc settings: keep a model call's scratch memory for the next call.

A model call allocates its intermediate tensors afresh every time, through
glibc's malloc. By default glibc serves blocks above 128 KiB with a fresh
``mmap`` and hands free memory at the top of the heap back to the kernel, so
every call of a batch of a few thousand nodes paid 2,000 to 4,000 page faults
(measured on the demo GCN, docs/benchmarks.md). With both thresholds raised,
those blocks come from the heap and stay there: the next call reuses the pages
it already touched. The cost is that a worker keeps up to ``TRIM_BYTES`` of
freed memory mapped after a large batch.
"""

import ctypes
import logging

log = logging.getLogger("graphferry.worker")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_BYTES = 64 << 20  # blocks below this come from the heap
TRIM_BYTES = 256 << 20  # free memory at the heap's top is kept up to this


def keep_scratch_memory() -> None:
    """Raise glibc's mmap and trim thresholds; a no-op where malloc is not glibc's."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)):
        log.warning("could not raise malloc's thresholds; large batches will page-fault more")
