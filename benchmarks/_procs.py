"""Processes and shared memory for the benchmark harnesses: only what a run started.

Each harness signals only pids it started (or their descendants) and checks
/dev/shm for graphferry segments it left behind.
"""

import os
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [0] is field 3 (state), [7]
    minflt, [11] utime, [12] stime (proc(5)); OSError if the pid is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids) -> float:
    """utime + stime of ``pids`` (seconds); vanished pids count 0."""
    total = 0
    for pid in pids:
        try:
            fields = stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        state = stat_fields(pid)[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def signal_pids(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("graphferry-")}


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
