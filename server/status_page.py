"""A worker's status page: one shared-memory page the worker writes and the
supervisor reads, so watching a worker costs no messages.

The supervisor creates the page before it spawns the worker and unlinks it
when the worker is gone. Fields are aligned 64-bit words, which cannot tear
on the platforms we support. No locks (DESIGN: no locks in shared memory):
each word has one writer. The worker writes its state, counters and the
batch it is executing; the supervisor writes the quarantine table and bumps
its generation word last, and the worker reloads the table when it sees the
generation change. A reader may see counters of two adjacent batches, which
is fine for stats.

The heartbeat advances once per batch, in the worker's main loop, so a
worker stuck inside a model call stops advancing it (progress, not
liveness); BUSY_SINCE_NS says since when it has been inside one.
"""

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from graphferry.shm import Segment

MAGIC = 0x4746535402  # "GFST", layout version 2
WORDS = 512  # one 4 KiB page
HIST_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # then "inf"
BATCH_ENTRY_WORDS = 3  # region inode, offset, attempt
MAX_BATCH_ENTRIES = 64  # a larger batch records its first 64 and its true size
QUARANTINE_ENTRY_WORDS = 7  # graphs, nodes, edges, length, digest (2 words), expires_ns
MAX_QUARANTINE = 32


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
    BATCH_SIZE = 24  # requests in the executing batch
    BATCH = 32  # MAX_BATCH_ENTRIES entries of BATCH_ENTRY_WORDS
    QUARANTINE_GENERATION = 240  # written by the supervisor, after the table
    QUARANTINE_COUNT = 241
    QUARANTINE = 248  # MAX_QUARANTINE entries of QUARANTINE_ENTRY_WORDS


@dataclass(frozen=True)
class BatchEntry:
    inode: int  # of the client's region: names it without a string in the page
    offset: int
    attempt: int  # 0: first send; 1: re-sent alone after a worker died


@dataclass(frozen=True)
class Fingerprint:
    """A quarantined input: its counts (a cheap pre-filter) and its digest."""
    graphs: int
    nodes: int
    edges: int
    length: int
    digest: bytes  # 16 bytes
    expires_ns: int  # time.monotonic_ns() deadline

    @property
    def key(self) -> tuple:
        return (self.graphs, self.nodes, self.edges, self.length)


class StatusPage:
    def __init__(self, segment: Segment, owner: bool):
        self.segment = segment
        self.owner = owner
        self.words = np.frombuffer(segment.buf, dtype=np.uint64, count=WORDS)
        # Scalar reads and writes through a memoryview cost half what numpy's do.
        self.word = segment.buf[:WORDS * 8].cast("Q")

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
        return self.word[field]

    def __setitem__(self, field: Field, value: int) -> None:
        self.word[field] = value

    # -- written by the worker --------------------------------------------
    def begin_batch(self, entries, size: int, now_ns: int) -> None:
        """Record the batch about to run: (inode, offset, attempt) per request."""
        w = self.word
        base = int(Field.BATCH)
        for entry in entries[:MAX_BATCH_ENTRIES]:
            w[base], w[base + 1], w[base + 2] = entry
            base += BATCH_ENTRY_WORDS
        w[Field.BATCH_SIZE] = size
        w[Field.BUSY_SINCE_NS] = now_ns

    def end_batch(self, requests: int, graphs: int, errors: int) -> None:
        w = self.word
        w[Field.BUSY_SINCE_NS] = 0
        w[Field.BATCH_SIZE] = 0
        w[Field.REQUESTS] += requests
        w[Field.GRAPHS] += graphs
        w[Field.ERRORS] += errors
        w[Field.BATCHES] += 1
        if requests > w[Field.MAX_BATCH_REQUESTS]:
            w[Field.MAX_BATCH_REQUESTS] = requests
        w[Field.HIST + bucket(requests)] += 1
        w[Field.HEARTBEAT] += 1

    # -- read by the supervisor -------------------------------------------
    def executing(self) -> tuple[int, list[BatchEntry]]:
        """The batch running when the page was read: its size and recorded entries."""
        size = self[Field.BATCH_SIZE]
        if not self[Field.BUSY_SINCE_NS]:
            return 0, []
        base = int(Field.BATCH)
        entries = []
        for i in range(min(size, MAX_BATCH_ENTRIES)):
            at = base + i * BATCH_ENTRY_WORDS
            entries.append(BatchEntry(*(int(v) for v in self.words[at:at + 3])))
        return size, entries

    def histogram(self) -> dict:
        labels = [str(b) for b in HIST_BOUNDS] + ["inf"]
        return {label: int(self.words[Field.HIST + i]) for i, label in enumerate(labels)}

    # -- the quarantine table: written by the supervisor, read by the worker
    def write_quarantine(self, fingerprints: list[Fingerprint]) -> None:
        w = self.words
        fingerprints = fingerprints[-MAX_QUARANTINE:]
        for i, f in enumerate(fingerprints):
            at = Field.QUARANTINE + i * QUARANTINE_ENTRY_WORDS
            w[at:at + 4] = f.key
            w[at + 4:at + 6] = np.frombuffer(f.digest, dtype=np.uint64)
            w[at + 6] = f.expires_ns
        w[Field.QUARANTINE_COUNT] = len(fingerprints)
        w[Field.QUARANTINE_GENERATION] += 1  # last: the worker reloads on a change

    def read_quarantine(self) -> list[Fingerprint]:
        out = []
        for i in range(min(self[Field.QUARANTINE_COUNT], MAX_QUARANTINE)):
            at = Field.QUARANTINE + i * QUARANTINE_ENTRY_WORDS
            v = self.words[at:at + 7]
            out.append(Fingerprint(int(v[0]), int(v[1]), int(v[2]), int(v[3]),
                                   v[4:6].tobytes(), int(v[6])))
        return out

    def close(self) -> None:
        self.words = None
        self.word.release()
        self.segment.close()
        if self.owner:
            self.segment.unlink()


def bucket(requests: int) -> int:
    for i, bound in enumerate(HIST_BOUNDS):
        if requests <= bound:
            return i
    return len(HIST_BOUNDS)
