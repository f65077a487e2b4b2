"""Process and /dev/shm bookkeeping for tests: who is a child of whom, what leaked.

The /proc readers are the benchmarks' (benchmarks/_procs.py); tests add
``kill_tree``.
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _procs import (alive, children, cpu_seconds, descendants, segments,  # noqa: E402,F401
                    stat_fields, wait_gone)


def kill_tree(pid: int, sig=signal.SIGKILL) -> None:
    """Kill ``pid`` and everything below it (only what we started)."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
