"""Every bad input gets its typed error; the worker keeps serving; others see nothing.

A bystander client runs correct requests in a thread for the whole module
and must see no error and no wrong output.
"""

import json
import os
import struct
import threading
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch

import graphferry
from graphferry.protocol.codes import ErrorCode
from graphferry.shm import pack
from support import reference
from support.raw import RawPeer, Region
from support.reference import graph

VECTORS = Path(__file__).resolve().parent.parent / "shm" / "vectors" / "invalid"
V = 1


@pytest.fixture(scope="module")
def bystander(server):
    """Another client doing correct work throughout; checked at the end."""
    stop, problems, done = threading.Event(), [], [0]
    g = graph(60, 200, seed=11)
    expected = reference.run("gcn", g)

    def loop():
        with server.client(arena_size=1 << 20) as c:
            while not stop.is_set() and done[0] < 100000:
                try:
                    if not torch.allclose(c.infer("gcn", g), expected, atol=1e-5):
                        problems.append("wrong output")
                except graphferry.Error as exc:
                    problems.append(repr(exc))
                done[0] += 1
                stop.wait(0.01)

    thread = threading.Thread(target=loop)
    thread.start()
    yield
    stop.set()
    thread.join(30)
    assert done[0] > 0 and not problems, problems[:5]


@pytest.fixture(scope="module")
def worker(server, bystander):
    with server.client(arena_size=1 << 16) as c:
        info = c._topology.model("gcn", None)
        stats = c.stats()
    pid = next(m for m in stats["models"] if m["name"] == "gcn")["workers"][0]["pid"]
    return info.workers[0][1], pid


@pytest.fixture
def peer(worker):
    p = RawPeer(worker[0])
    yield p
    p.close()


@pytest.fixture
def region():
    r = Region()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def worker_survives(request, server):
    yield
    if "worker" in request.fixturenames:
        endpoint, pid = request.getfixturevalue("worker")
        with server.client(arena_size=1 << 20) as c:
            g = graph(20, seed=2)
            assert torch.allclose(c.infer("gcn", g), reference.run("gcn", g), atol=1e-5)
            gcn = next(m for m in c.stats()["models"] if m["name"] == "gcn")
            assert [w["pid"] for w in gcn["workers"]] == [pid], "the worker restarted"


def infer(target, offset=0, length=None, **extra):
    message = {"v": V, "op": "infer", "id": 7, "model": "gcn", "version": 1,
               "region": target.name, "offset": offset,
               "length": target.segment.size - offset if length is None else length}
    message.update(extra)
    return message


def packed(num_nodes=10, features=32, dtype=np.float32, edges=None, ptr=None) -> bytes:
    x = np.ones((num_nodes, features), dtype=dtype)
    edges = np.array([[0, 1], [1, 2]]) if edges is None else np.asarray(edges)
    ptr = np.array([0, num_nodes]) if ptr is None else np.asarray(ptr)
    return pack(x=x, edge_index=edges, ptr=ptr)


def expect(reply: dict, code: ErrorCode, request_id: int = 7) -> None:
    assert reply["ok"] is False, reply
    assert reply["code"] == code and reply["error"] == code.name, reply
    assert reply["id"] == request_id
    assert reply["message"] and "Traceback" not in reply["message"]


# -- the message itself ------------------------------------------------------
def test_malformed_msgpack(peer):
    peer.send_frames(b"\xc1\xff not msgpack")
    expect(peer.reply(), ErrorCode.MALFORMED_MESSAGE, request_id=0)


def test_message_not_a_map(peer):
    peer.send_frames(msgpack.packb([1, 2, 3]))
    expect(peer.reply(), ErrorCode.MALFORMED_MESSAGE, request_id=0)


def test_extra_frames(peer):
    peer.send_frames(msgpack.packb({"v": V, "op": "infer", "id": 1}), b"second frame")
    expect(peer.reply(), ErrorCode.MALFORMED_MESSAGE, request_id=0)


def test_wrong_protocol_version(peer, region):
    reply = peer.request({**infer(region), "v": 99})
    expect(reply, ErrorCode.UNSUPPORTED_PROTOCOL)
    assert reply["versions"] == [1]


def test_unknown_op(peer):
    expect(peer.request({"v": V, "op": "launch", "id": 7}), ErrorCode.UNKNOWN_OP)


def test_mistyped_field(peer, region):
    expect(peer.request(infer(region, length=64, offset="zero")), ErrorCode.MALFORMED_MESSAGE)


def test_wrong_model_for_this_worker(peer, region):
    region.write(0, packed())
    expect(peer.request(infer(region, model="sage")), ErrorCode.UNKNOWN_MODEL)


# -- where the input is --------------------------------------------------------
def test_unknown_region(peer, region):
    expect(peer.request(infer(region, region="graphferry-0000000000000000")),
           ErrorCode.UNKNOWN_REGION)


def test_region_name_outside_dev_shm(peer, region):
    expect(peer.request(infer(region, region="../../etc/passwd")), ErrorCode.UNKNOWN_REGION)


def test_offset_outside_region(peer, region):
    expect(peer.request(infer(region, offset=region.segment.size + 64, length=256)),
           ErrorCode.OUT_OF_BOUNDS)


def test_length_beyond_region(peer, region):
    region.write(0, packed())
    expect(peer.request(infer(region, offset=0, length=region.segment.size + 1)),
           ErrorCode.OUT_OF_BOUNDS)


def test_misaligned_offset(peer, region):
    region.write(64, packed())
    expect(peer.request(infer(region, offset=65, length=4096)), ErrorCode.OUT_OF_BOUNDS)


def test_output_slot_outside_region(peer, region):
    region.write(0, packed())
    expect(peer.request(infer(region, length=4096, out_offset=region.segment.size, out_length=64)),
           ErrorCode.OUT_OF_BOUNDS)


def test_region_shrunk_after_the_worker_opened_it(peer, region):
    """Regression: workers read regions through a mapping, and a client that
    shrank its segment (ftruncate) after a worker had mapped it killed that
    worker with SIGBUS on its next read."""
    data = packed()
    region.write(0, data)
    assert peer.request(infer(region, length=len(data)))["ok"]  # the worker has it open
    path = f"/dev/shm/{region.name}"
    os.truncate(path, 200)  # header and ptr still there, edge_index cut short
    expect(peer.request(infer(region, length=len(data))), ErrorCode.OUT_OF_BOUNDS)
    os.truncate(path, 0)
    reply = peer.request(infer(region, length=len(data)))
    expect(reply, ErrorCode.OUT_OF_BOUNDS)
    assert "shrank" in reply["message"]


def test_output_slot_in_a_shrunk_region(server, region):
    """The large-output write into a region shrunk below its slot must not kill
    the worker either: it goes through pwrite, not a mapping."""
    with server.client(arena_size=1 << 16) as c:
        endpoint = c._topology.model("sage", None).workers[0][1]
    peer = RawPeer(endpoint)
    try:
        data = packed(num_nodes=2000, edges=[[0], [1]])
        region.write(0, data)
        slot = 1 << 19
        request = infer(region, model="sage", length=len(data), out_offset=slot,
                        out_length=2000 * 16 * 4)
        assert peer.request(request)["in_slot"]  # the worker has the region open
        os.truncate(f"/dev/shm/{region.name}", len(data))
        reply = peer.request(request)
        assert reply["ok"] and reply["in_slot"], reply
        out = np.frombuffer(region.segment.buf, np.float32, 2000 * 16, slot)
        assert np.isfinite(out).all() and out.any()
    finally:
        peer.close()


# -- what the input holds -------------------------------------------------------
HEADER_LEVEL = sorted(p for p in VECTORS.glob("*.json")
                      if json.loads(p.read_text())["code"] not in ("BAD_PTR", "EDGE_OUT_OF_RANGE"))


@pytest.mark.parametrize("vector", HEADER_LEVEL, ids=lambda p: p.stem)
def test_invalid_vector_through_the_worker(peer, region, vector):
    data = vector.with_suffix(".bin").read_bytes()
    region.write(0, data)
    code = ErrorCode[json.loads(vector.read_text())["code"]]
    expect(peer.request(infer(region, length=len(data))), code)


def test_wrong_dtype(peer, region):
    region.write(0, packed(dtype=np.float16))
    reply = peer.request(infer(region))
    expect(reply, ErrorCode.WRONG_DTYPE)
    assert "float32" in reply["message"]


def test_wrong_feature_count(peer, region):
    region.write(0, packed(features=31))
    expect(peer.request(infer(region)), ErrorCode.WRONG_SHAPE)


def test_edge_id_out_of_range(peer, region):
    region.write(0, packed(edges=[[0, 10], [1, 2]]))
    expect(peer.request(infer(region)), ErrorCode.EDGE_OUT_OF_RANGE)


def test_negative_edge_id(peer, region):
    region.write(0, packed(edges=[[0, -1], [1, 2]]))
    expect(peer.request(infer(region)), ErrorCode.EDGE_OUT_OF_RANGE)


def test_edge_across_graphs(peer, region):
    region.write(0, packed(edges=[[0], [7]], ptr=[0, 5, 10]))
    expect(peer.request(infer(region)), ErrorCode.EDGE_OUT_OF_RANGE)


def test_ptr_not_monotonic(peer, region):
    data = bytearray(packed(ptr=[0, 5, 10]))
    struct.pack_into("<q", data, 128 + 8, 11)  # ptr = [0, 11, 10]
    region.write(0, bytes(data))
    expect(peer.request(infer(region)), ErrorCode.BAD_PTR)


def test_zero_graphs(peer, region):
    data = bytearray(packed())
    struct.pack_into("<Q", data, 16, 0)
    region.write(0, bytes(data))
    expect(peer.request(infer(region)), ErrorCode.EMPTY_REQUEST)


def test_counts_over_the_configured_limits(peer, region):
    region.write(0, pack(x=np.ones((0, 32), np.float32), edge_index=np.zeros((2, 0)),
                         ptr=np.zeros(1026, np.int64)))  # 1025 empty graphs > max_graphs 1024
    reply = peer.request(infer(region))
    expect(reply, ErrorCode.LIMIT_EXCEEDED)
    assert "max_graphs" in reply["message"]


def test_output_too_small_names_the_size(server, region):
    with server.client(arena_size=1 << 16) as c:
        endpoint = c._topology.model("sage", None).workers[0][1]
    peer = RawPeer(endpoint)
    try:
        region.write(0, packed(num_nodes=2000, edges=[[0], [1]]))
        reply = peer.request(infer(region, model="sage", out_offset=1 << 19, out_length=64))
        expect(reply, ErrorCode.OUTPUT_TOO_SMALL)
        assert str(2000 * 16 * 4) in reply["message"]
    finally:
        peer.close()


def test_client_as_well_as_worker_survive_oversized_message(peer, region):
    peer.send_frames(b"\x00" * (2 << 20))  # over MAXMSGSIZE: the worker drops the peer
    region.write(0, packed())
    reply = peer.request(infer(region))  # the DEALER reconnects by itself
    assert reply["ok"] and reply["shape"] == [1, 8]


# -- the client refuses what it cannot send ------------------------------------
def test_client_rejects_float64_with_a_hint(client):
    g = graph(5)
    g.x = g.x.double()
    with pytest.raises(graphferry.InvalidInput) as info:
        client.infer("gcn", g)
    assert info.value.code == ErrorCode.WRONG_DTYPE and "float32" in info.value.message


def test_client_rejects_request_larger_than_its_arena(server):
    with server.client(arena_size=1 << 16) as small:
        with pytest.raises(graphferry.InvalidInput) as info:
            small.infer("gcn", graph(1000))
        assert info.value.code == ErrorCode.LIMIT_EXCEEDED and "arena" in info.value.message


def test_client_rejects_empty_list(client):
    with pytest.raises(graphferry.InvalidInput) as info:
        client.infer("gcn", [])
    assert info.value.code == ErrorCode.EMPTY_REQUEST


# -- the supervisor's control socket -------------------------------------------
def test_supervisor_rejects_garbage_and_keeps_serving(server):
    control = RawPeer(f"ipc://{server.socket}")
    try:
        control.send_frames(b"\x93garbage")
        expect(control.reply(), ErrorCode.MALFORMED_MESSAGE, request_id=0)
        expect(control.request({"v": V, "op": "shutdown", "id": 7}), ErrorCode.UNKNOWN_OP)
        expect(control.request({"v": V, "op": "metadata", "id": 7, "model": 5}),
               ErrorCode.MALFORMED_MESSAGE)
        expect(control.request({"v": V, "op": "hello", "id": 7, "regions": ["/etc/passwd"]}),
               ErrorCode.MALFORMED_MESSAGE)
        assert control.request({"v": V, "op": "health", "id": 8})["status"] == "ready"
    finally:
        control.close()
