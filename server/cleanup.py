"""``graphferry gc``: remove graphferry segments whose creating process is gone.

Every segment graphferry creates carries its creator's pid in its name
(shm/FORMAT.md §8). A segment whose pid is alive is left alone, and so is one
whose name carries no pid (not ours to judge). A reused pid makes a stale
segment look alive: gc then errs on the side of keeping it.
"""

import os

from graphferry.shm.segment import PREFIX, SHM_DIR, owner_pid, unlink_quietly

from .lifecycle import pid_alive


def stale_segments(prefix: str = PREFIX) -> list[str]:
    stale = []
    for name in sorted(os.listdir(SHM_DIR)):
        if not name.startswith(prefix):
            continue
        pid = owner_pid(name)
        if pid is not None and not pid_alive(pid):
            stale.append(name)
    return stale


def collect(prefix: str = PREFIX, dry_run: bool = False) -> list[str]:
    """Unlink the stale segments; returns the names removed (or that would be)."""
    stale = stale_segments(prefix)
    if dry_run:
        return stale
    return [name for name in stale if unlink_quietly(name)]
