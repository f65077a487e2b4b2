"""The contract between a worker and its supervisor: exit codes and parent death.

Exit codes are how a worker tells the supervisor why it stopped; a boot
failure stops the restarts of that model instead of looping forever.
"""

import ctypes
import os
import signal

EXIT_OK = 0
EXIT_BOOT_FAILURE = 78  # EX_CONFIG: the model cannot be loaded; do not restart
EXIT_ORPHANED = 79  # the supervisor is gone

_PR_SET_PDEATHSIG = 1


def die_with_parent(supervisor_pid: int) -> None:
    """Get SIGKILL when the supervisor dies, and check it hasn't died already.

    The parent-death signal fires when the parent *thread* exits, and only for
    deaths after the prctl call, hence the getppid() check right after it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux; exit_if_orphaned() still catches it
    exit_if_orphaned(supervisor_pid)


_supervisor_pid = None


def exit_if_orphaned(supervisor_pid: int | None = None) -> None:
    global _supervisor_pid
    if supervisor_pid is not None:
        _supervisor_pid = supervisor_pid
    if _supervisor_pid is not None and os.getppid() != _supervisor_pid:
        os._exit(EXIT_ORPHANED)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
