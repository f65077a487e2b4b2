"""Inputs that killed a worker while running alone, and how they are refused.

The supervisor fingerprints such an input (from the dead worker's status page
and the client's arena) and writes the fingerprint into every status page of
the model. A worker compares each request's counts with the table, a tuple
lookup, and hashes the request's bytes only when the counts match exactly: the
request path hashes nothing in normal operation.
"""

import hashlib
import time

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import WorkerCrashed
from graphferry.shm import Header, Region

from .status_page import Field, Fingerprint, StatusPage


def digest(data) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def fingerprint(header: Header, data, quarantine_s: float) -> Fingerprint:
    return Fingerprint(header.num_graphs, header.num_nodes, header.num_edges,
                       header.total_length, digest(data),
                       time.monotonic_ns() + int(quarantine_s * 1e9))


class Quarantine:
    """The worker's copy of its page's quarantine table."""

    def __init__(self, page: StatusPage):
        self.page = page
        self.generation = -1
        self.by_key = {}  # (graphs, nodes, edges, length) -> [Fingerprint]

    def refresh(self) -> None:
        """Reload the table if the supervisor changed it (one word read per batch)."""
        generation = self.page[Field.QUARANTINE_GENERATION]
        if generation == self.generation:
            return
        self.generation = generation
        self.by_key = {}
        for f in self.page.read_quarantine():
            self.by_key.setdefault(f.key, []).append(f)

    def check(self, header: Header, region: Region, offset: int) -> None:
        if not self.by_key:
            return
        candidates = self.by_key.get((header.num_graphs, header.num_nodes, header.num_edges,
                                      header.total_length))
        if not candidates:
            return
        now = time.monotonic_ns()
        live = [f for f in candidates if f.expires_ns > now]
        digests = {f.digest for f in live}
        if digests and digest(region.read(offset, header.total_length)) in digests:
            left = max(f.expires_ns for f in live) - now
            raise WorkerCrashed(f"this input crashed a worker while running alone and is "
                                f"quarantined for another {left / 1e9:.0f} s; it was not run",
                                ErrorCode.POISONED)
