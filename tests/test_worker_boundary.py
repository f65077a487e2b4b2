"""The worker's request boundary, on a real Worker object in this process.

A failure of our own code while taking one request (not a coded Error) must
fail that request with INTERNAL and leave the batch buffers as they were, so
the worker goes on serving instead of dying and getting a good input
quarantined. The fault is injected into one read of the client's region;
everything else (the worker, its status page, the region) is real.
"""

import msgpack
import numpy as np
import pytest
import torch

from graphferry.protocol import wire
from graphferry.protocol.codes import ErrorCode
from graphferry.server.repository import DEMO_ROOT, scan
from graphferry.server.status_page import StatusPage
from graphferry.server.worker import Worker
from graphferry.shm import Region, Segment, prepare, write
from support import reference
from support.reference import graph


@pytest.fixture(scope="module")
def worker():
    page = StatusPage.create()
    w = Worker(next(e for e in scan(DEMO_ROOT).entries if e.name == "gcn"), "ipc:///unused",
               page, 0)
    w.boot()
    yield w
    for region in w.regions.values():
        region.close()
    page.close()


@pytest.fixture
def arena():
    segment = Segment.create(1 << 20, prefix="graphferry-test-")
    yield segment
    segment.close()
    segment.unlink()


def request(arena: Segment, g, offset: int, request_id: int) -> bytes:
    header, arrays = prepare(x=g.x.numpy(), edge_index=g.edge_index.numpy(),
                             ptr=np.array([0, g.num_nodes]))
    write(arena.buf, offset, header, arrays)
    return wire.encode({"v": wire.PROTOCOL_VERSION, "op": "infer", "id": request_id,
                        "model": "gcn", "region": arena.name, "offset": offset,
                        "length": header.total_length})


def test_a_bug_while_taking_a_request_fails_that_request_only(worker, arena, monkeypatch):
    replies = []
    monkeypatch.setattr(worker, "send", lambda identity, payload: replies.append(
        (identity, msgpack.unpackb(payload))))
    good, other = graph(30, 90, seed=1), graph(20, 50, seed=2)
    worker.accept(b"a", request(arena, good, 0, 1))  # queued: the batch has one request

    reads = {"n": 0}
    real_read = Region.read_into

    def fail_on_the_x_read(self, offset, buffer):
        reads["n"] += 1
        if reads["n"] == 5:  # header, ptr, sources, targets, then x
            raise TypeError("injected")
        return real_read(self, offset, buffer)

    monkeypatch.setattr(Region, "read_into", fail_on_the_x_read)
    worker.accept(b"b", request(arena, other, 1 << 16, 2))
    monkeypatch.setattr(Region, "read_into", real_read)
    assert replies == [(b"b", {"v": 1, "id": 2, "ok": False, "code": ErrorCode.INTERNAL,
                               "error": "INTERNAL", "message": replies[0][1]["message"]})]
    assert "Traceback" not in replies[0][1]["message"]

    worker.accept(b"c", request(arena, other, 1 << 17, 3))  # the buffers are still sound
    worker.executor.run(worker.send)
    outputs = {identity: torch.tensor(np.frombuffer(r["data"], np.float32).reshape(r["shape"]))
               for identity, r in replies[1:]}
    assert sorted(outputs) == [b"a", b"c"]
    assert torch.allclose(outputs[b"a"], reference.run("gcn", good), atol=1e-5)
    assert torch.allclose(outputs[b"c"], reference.run("gcn", other), atol=1e-5)
