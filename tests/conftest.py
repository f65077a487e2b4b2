"""Fixtures: real servers in temporary socket directories, and a leak probe.

The leak probe fails any test that leaves a graphferry-* segment in /dev/shm
or a child process behind, apart from what longer-lived fixtures own (a
module's server and its workers, a shared client's arena), which are checked
when those fixtures end.
"""

import os

import pytest

from graphferry.shm.segment import owner_pid
from support import procs
from support.server import Server

_owned_pids = set()  # processes of servers held by module/session fixtures
_owned_segments = set()  # segments held by such fixtures (client arenas)


def _server_pids() -> set[int]:
    pids = set()
    for pid in _owned_pids:
        pids.add(pid)
        pids.update(procs.descendants(pid))
    return pids


def _excused(segment: str, server_pids: set[int], ours: set[int]) -> bool:
    """Held by a longer-lived fixture, or created by a live process outside this run."""
    if segment in _owned_segments:
        return True
    pid = owner_pid(segment)
    if pid in server_pids:
        return True
    return pid is not None and procs.alive(pid) and pid not in ours


@pytest.fixture(autouse=True)
def leak_probe():
    segments_before = procs.segments()
    children_before = set(procs.descendants(os.getpid()))
    yield
    server_pids = _server_pids()
    leaked_children = [p for p in procs.descendants(os.getpid())
                       if p not in children_before and p not in server_pids
                       and procs.alive(p)]
    leaked_children = [p for p in leaked_children if procs.wait_gone([p], 3)]
    ours = {os.getpid(), *children_before, *procs.descendants(os.getpid())}
    leaked_segments = sorted(s for s in procs.segments() - segments_before
                             if not _excused(s, server_pids, ours))
    for pid in leaked_children:  # only our own descendants
        procs.kill_tree(pid)
    for name in leaked_segments:
        os.unlink(f"/dev/shm/{name}")
    assert not leaked_children, f"test left child processes behind: {leaked_children}"
    assert not leaked_segments, f"test left shared memory behind: {leaked_segments}"


def hold_server(server: Server):
    _owned_pids.add(server.proc.pid)
    return server


def release_server(server: Server):
    pid = server.proc.pid
    status_pages = {s for s in procs.segments() if owner_pid(s) == pid}
    server.stop()
    _owned_pids.discard(pid)
    left = status_pages & procs.segments()
    assert not left, f"server left its status pages behind: {left}"


@pytest.fixture(scope="module")
def server():
    """The demo models, served for a whole test module."""
    srv = Server().start()
    hold_server(srv)
    yield srv
    release_server(srv)


@pytest.fixture(scope="module")
def client(server):
    c = server.client(arena_size=256 << 20)
    _owned_segments.add(c._arena.name)
    yield c
    c.close()
    _owned_segments.discard(c._arena.name)
    assert c._arena.name not in procs.segments()
