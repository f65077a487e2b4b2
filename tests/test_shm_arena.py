"""Segments in real /dev/shm, regions read by pread, and the client arena (shm/FORMAT.md §8)."""

import os
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import InvalidInput, Overloaded
from graphferry.shm import PREFIX, Arena, Region, Segment, unlink_quietly
from graphferry.shm.segment import owner_pid

# Tests create their segments under a prefix of their own, so the leak check
# below cannot be confused by other graphferry processes on the machine.
TEST_PREFIX = f"{PREFIX}test{os.getpid()}-"


def _ours() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith(TEST_PREFIX)}


@pytest.fixture(autouse=True)
def no_leaked_segments():
    before = _ours()
    yield
    leaked = _ours() - before
    for name in leaked:
        unlink_quietly(name)
    assert not leaked, f"test leaked /dev/shm segments: {sorted(leaked)}"


@pytest.fixture
def segment():
    seg = Segment.create(1 << 16, prefix=TEST_PREFIX)
    try:
        yield seg
    finally:
        seg.close()
        seg.unlink()


@pytest.fixture
def arena():
    a = Arena.create(4096, prefix=TEST_PREFIX)
    try:
        yield a
    finally:
        a.close()


# -- segment ------------------------------------------------------------------

def test_default_name_mode_and_unlink():
    seg = Segment.create(10_000)
    path = f"/dev/shm/{seg.name}"
    try:
        assert seg.name.startswith(f"{PREFIX}{os.getpid()}-") and len(seg.name) == len(
            f"{PREFIX}{os.getpid()}-") + 16
        assert owner_pid(seg.name) == os.getpid()
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 10_000
        assert seg.size == 10_000 and len(seg.buf) == 10_000
    finally:
        seg.close()
        seg.unlink()
    assert not os.path.exists(path)
    seg.close()
    seg.unlink()  # both idempotent


_CHILD = """
import sys
from graphferry.shm import Segment
seg = Segment.attach(sys.argv[1])
sys.stdout.write(bytes(seg.buf[:5]).decode())
seg.buf[100:103] = b"abc"
seg.close()
"""


def test_attach_from_another_process_sees_the_same_bytes(segment):
    # A plain interpreter rather than multiprocessing's spawn: spawn starts a
    # resource-tracker process that outlives the test (and the leak probe
    # rightly counts it), and its tracker is what unlinks segments behind us.
    segment.buf[:5] = b"hello"
    child = subprocess.run([sys.executable, "-c", _CHILD, segment.name],
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "hello"
    assert bytes(segment.buf[100:103]) == b"abc"


def test_attach_read_only(segment):
    segment.buf[:2] = b"hi"
    with Segment.attach(segment.name, writable=False) as ro:
        assert bytes(ro.buf[:2]) == b"hi" and ro.buf.readonly
    assert os.path.exists(f"/dev/shm/{segment.name}")  # attachers never unlink on exit


OPENERS = [Segment.attach, Region.open]


@pytest.mark.parametrize("opener", OPENERS, ids=["Segment.attach", "Region.open"])
@pytest.mark.parametrize("name", [
    "graphferry-doesnotexist0000", "other-abc", "graphferry-../etc/passwd", "graphferry-a/b",
    "graphferry-" + "a" * 200, "", "graphferry-sp ace",
])
def test_attach_bad_or_missing_name_is_unknown_region(name, opener):
    with pytest.raises(InvalidInput) as err:
        opener(name)
    assert err.value.code == ErrorCode.UNKNOWN_REGION
    assert unlink_quietly(name) is False


@pytest.mark.parametrize("opener", OPENERS, ids=["Segment.attach", "Region.open"])
def test_attach_refuses_symlinks(tmp_path, opener):
    target = tmp_path / "victim"
    target.write_bytes(b"x" * 4096)
    link = f"/dev/shm/{TEST_PREFIX}link"
    os.symlink(target, link)
    try:
        with pytest.raises(InvalidInput):
            opener(os.path.basename(link))
    finally:
        os.unlink(link)


# -- region: another process's segment, by pread/pwrite --------------------------
def test_region_reads_and_writes_the_owners_bytes(segment):
    segment.buf[64:70] = b"packed"
    with Region.open(segment.name) as region:
        assert (region.size, region.inode) == (segment.size,
                                               os.stat(f"/dev/shm/{segment.name}").st_ino)
        into = bytearray(6)
        region.read_into(64, into)
        assert into == b"packed" and region.read(64, 6) == b"packed"
        region.write(128, memoryview(b"answer"))
    assert bytes(segment.buf[128:134]) == b"answer"
    assert region.closed


def test_region_reads_and_writes_empty_sections(segment):
    """An empty section (no nodes, or no edges of a model with edge features) is
    a 2-D array with a zero in its shape, which memoryview refuses to cast."""
    with Region.open(segment.name) as region:
        for empty in (np.empty((0, 32), np.float32), np.empty((4, 0), np.uint16),
                      np.empty((2, 0), np.int64)[0]):
            region.read_into(64, empty)
            region.write(64, empty)


def test_region_shrunk_by_its_owner_is_out_of_bounds_not_sigbus(segment):
    region = Region.open(segment.name)
    try:
        os.truncate(f"/dev/shm/{segment.name}", 100)
        for read in (lambda: region.read(64, 64), lambda: region.read_into(0, bytearray(101))):
            with pytest.raises(InvalidInput) as err:
                read()
            assert err.value.code == ErrorCode.OUT_OF_BOUNDS and "shrank" in err.value.message
        assert region.read(0, 100) == bytes(segment.buf[:100])
    finally:
        region.close()


def test_close_with_live_views_does_not_crash(segment):
    import numpy as np
    view = np.frombuffer(segment.buf, np.uint8)
    segment.close()
    segment.close()
    assert segment.closed
    with pytest.raises(ValueError):
        segment.buf
    del view


def test_context_manager_unlinks_what_it_created():
    with Segment.create(4096, prefix=TEST_PREFIX) as seg:
        path = f"/dev/shm/{seg.name}"
        assert os.path.exists(path)
    assert not os.path.exists(path)


# -- arena --------------------------------------------------------------------

def test_alloc_is_aligned_and_rounded(arena):
    a, b = arena.alloc(1), arena.alloc(65)
    assert a % 64 == 0 and b % 64 == 0 and b - a == 64
    assert arena.in_use() == 64 + 128
    c = arena.alloc(0)
    assert c == a + 192
    for off in (a, b, c):
        arena.free(off)
    assert arena.in_use() == 0


def test_free_coalesces_neighbours(arena):
    slots = [arena.alloc(1024) for _ in range(4)]  # the whole 4096-byte arena
    with pytest.raises(Overloaded):
        arena.alloc(64, timeout=0)
    arena.free(slots[1])
    arena.free(slots[2])  # merges with the hole before it
    assert arena.alloc(2048, timeout=0) == slots[1]
    arena.free(slots[1])
    arena.free(slots[0])
    arena.free(slots[3])  # everything merges back to one hole
    assert arena.alloc(4096, timeout=0) == 0


def test_double_free_and_unknown_offset_are_value_errors(arena):
    off = arena.alloc(100)
    arena.free(off)
    with pytest.raises(ValueError):
        arena.free(off)
    with pytest.raises(ValueError):
        arena.free(off + 64)


def test_alloc_times_out_with_overloaded(arena):
    off = arena.alloc(4096)
    start = time.monotonic()
    with pytest.raises(Overloaded) as err:
        arena.alloc(64, timeout=0.2)
    assert err.value.code == ErrorCode.OVERLOADED
    assert 0.15 < time.monotonic() - start < 5
    arena.free(off)


def test_alloc_waits_for_a_free(arena):
    off = arena.alloc(4096)
    threading.Timer(0.1, arena.free, args=(off,)).start()
    assert arena.alloc(4096, timeout=10) == 0
    arena.free(0)


def test_oversized_request_fails_at_once_with_a_hint(arena):
    with pytest.raises(InvalidInput) as err:
        arena.alloc(4097, timeout=None)
    assert err.value.code == ErrorCode.LIMIT_EXCEEDED
    assert "arena_size" in err.value.message


def test_threads_never_share_live_slots():
    arena = Arena.create(64 * 1024, prefix=TEST_PREFIX)
    live: dict[int, tuple[int, int]] = {}
    lock, errors = threading.Lock(), []

    def worker(tid):
        import random
        rng = random.Random(tid)
        for _ in range(500):
            size = rng.randint(1, 8192)
            off = arena.alloc(size, timeout=30)
            with lock:
                for other, (start, end) in live.items():
                    if start < off + size and off < end:
                        errors.append((tid, other, off, start))
                live[tid] = (off, off + size)
            arena.buf[off:off + size] = bytes([tid]) * size
            if bytes(arena.buf[off:off + size]) != bytes([tid]) * size:
                errors.append((tid, "overwritten"))
            with lock:
                del live[tid]
            arena.free(off)

    try:
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert arena.in_use() == 0
        assert arena.alloc(64 * 1024, timeout=0) == 0  # fully coalesced again
    finally:
        arena.close()


def test_close_unlinks_and_is_idempotent():
    arena = Arena.create(4096, prefix=TEST_PREFIX)
    path = f"/dev/shm/{arena.name}"
    assert os.path.exists(path)
    arena.close()
    arena.close()
    assert not os.path.exists(path)
    with pytest.raises(ValueError):
        arena.alloc(64)


def test_close_wakes_waiting_allocs():
    arena = Arena.create(4096, prefix=TEST_PREFIX)
    arena.alloc(4096)
    got = []
    t = threading.Thread(target=lambda: got.append(_raises(arena.alloc, 64)))
    t.start()
    time.sleep(0.1)
    arena.close()
    t.join(10)
    assert got == [ValueError]


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - the test compares the type
        return type(e)
    return None
