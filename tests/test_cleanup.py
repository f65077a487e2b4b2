"""Dead clients' regions are unlinked; `graphferry gc` removes only stale segments."""

import os
import subprocess
import sys
import textwrap
import time

from graphferry.shm import Segment
from support import procs


def test_supervisor_unlinks_the_regions_of_a_killed_client(server):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, graphferry
        client = graphferry.Client(socket={str(server.socket)!r}, arena_size=1 << 20)
        print(client._arena.name, flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        arena = child.stdout.readline().strip()
        assert arena in procs.segments()
        child.kill()
        child.wait()
        deadline = time.monotonic() + 10
        while arena in procs.segments() and time.monotonic() < deadline:
            time.sleep(0.05)
        gone_after = 10 - (deadline - time.monotonic())
        print(f"\nkilled client's arena unlinked {gone_after:.2f} s after SIGKILL")
        assert arena not in procs.segments()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def run_gc(*args) -> str:
    result = subprocess.run([sys.executable, "-m", "graphferry.server.cli", "gc", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gc_removes_stale_segments_and_only_those():
    # A segment made by a process that is gone ...
    child = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from graphferry.shm import Segment
        s = Segment.create(4096, prefix="graphferry-gctest-")
        print(s.name)
        s.close()  # closed, not unlinked: the process just exits
    """)], capture_output=True, text=True, timeout=60)
    stale = child.stdout.strip()
    # ... one whose creator (us) is alive, and one with no pid in its name.
    live = Segment.create(4096, prefix="graphferry-gctest-")
    foreign = "graphferry-gctest-nopid"
    fd = os.open(f"/dev/shm/{foreign}", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)
    try:
        assert stale in procs.segments()
        listed = run_gc("--dry-run")
        assert f"would remove /dev/shm/{stale}" in listed and stale in procs.segments()
        removed = run_gc()
        assert f"removed /dev/shm/{stale}" in removed
        assert stale not in procs.segments()
        assert live.name in procs.segments() and foreign in procs.segments()
        assert live.name not in removed and foreign not in removed
    finally:
        live.close()
        live.unlink()
        os.unlink(f"/dev/shm/{foreign}")
        if stale in procs.segments():
            os.unlink(f"/dev/shm/{stale}")


def test_restart_policy_backs_off_and_resets():
    from graphferry.server.restart_policy import RestartPolicy
    policy = RestartPolicy(first_delay_s=0.1, factor=2.0, max_delay_s=1.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
