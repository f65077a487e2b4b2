"""A worker's status page: a small shared-memory segment it writes and the
supervisor reads, so watching a worker costs no messages.

The supervisor creates the page before it spawns the worker and unlinks it
when the worker is gone. Fields are aligned 64-bit words (torn reads cannot
happen on the platforms we support); the worker is the only writer. No locks:
a reader may see counters of two adjacent batches, which is fine for stats.
The heartbeat advances once per batch, in the worker's main loop, so a worker
stuck inside a model call stops advancing it (progress, not liveness).
"""

from enum import IntEnum

import numpy as np

from graphferry.shm import Segment

MAGIC = 0x4746535401  # "GFST", layout version 1
WORDS = 64
HIST_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # then "inf"


class State(IntEnum):
    BOOTING = 0
    LOADING = 1
    READY = 2
    STOPPING = 3


class Field(IntEnum):
    MAGIC = 0
    PID = 1
    STATE = 2
    HEARTBEAT = 3
    BUSY_SINCE_NS = 4  # time.monotonic_ns() when the running batch started; 0 when idle
    REQUESTS = 5
    GRAPHS = 6
    ERRORS = 7
    BATCHES = 8
    MAX_BATCH_REQUESTS = 9
    HIST = 10  # len(HIST_BOUNDS) + 1 words


class StatusPage:
    def __init__(self, segment: Segment, owner: bool):
        self.segment = segment
        self.owner = owner
        self.words = np.frombuffer(segment.buf, dtype=np.uint64, count=WORDS)

    @classmethod
    def create(cls) -> "StatusPage":
        page = cls(Segment.create(WORDS * 8, prefix="graphferry-status-"), owner=True)
        page.words[:] = 0
        page.words[Field.MAGIC] = MAGIC
        return page

    @classmethod
    def attach(cls, name: str) -> "StatusPage":
        page = cls(Segment.attach(name), owner=False)
        if int(page.words[Field.MAGIC]) != MAGIC:
            raise ValueError(f"{name} is not a graphferry status page")
        return page

    @property
    def name(self) -> str:
        return self.segment.name

    def __getitem__(self, field: Field) -> int:
        return int(self.words[field])

    def __setitem__(self, field: Field, value: int) -> None:
        self.words[field] = value

    def record_batch(self, requests: int, graphs: int, errors: int) -> None:
        w = self.words
        w[Field.REQUESTS] += requests
        w[Field.GRAPHS] += graphs
        w[Field.ERRORS] += errors
        w[Field.BATCHES] += 1
        if requests > w[Field.MAX_BATCH_REQUESTS]:
            w[Field.MAX_BATCH_REQUESTS] = requests
        w[Field.HIST + bucket(requests)] += 1
        w[Field.HEARTBEAT] += 1

    def histogram(self) -> dict:
        labels = [str(b) for b in HIST_BOUNDS] + ["inf"]
        return {label: int(self.words[Field.HIST + i]) for i, label in enumerate(labels)}

    def close(self) -> None:
        self.words = None
        self.segment.close()
        if self.owner:
            self.segment.unlink()


def bucket(requests: int) -> int:
    for i, bound in enumerate(HIST_BOUNDS):
        if requests <= bound:
            return i
    return len(HIST_BOUNDS)
