"""Outputs through a real server equal the same model called in-process."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import graphferry
from support import procs, reference
from support.reference import graph

ATOL = 1e-5


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_single_graph_matches_in_process(client, name):
    g = graph(100, 400, seed=1)
    out = client.infer(name, g)
    assert torch.allclose(out, reference.run(name, g), atol=ATOL)


@pytest.mark.parametrize("name", ["gcn", "sage"])
@pytest.mark.parametrize("count", [1, 2, 7, 64])
def test_list_of_graphs_of_varied_sizes(client, name, count):
    rng = np.random.default_rng(count)
    sizes = rng.integers(1, 5001, size=count)
    sizes[0] = 1 if count > 1 else sizes[0]
    sizes[-1] = 5000
    graphs = [graph(int(n), int(rng.integers(0, 4 * n + 1)), seed=i) for i, n in enumerate(sizes)]
    outs = client.infer(name, graphs)
    assert isinstance(outs, list) and len(outs) == count
    for g, out in zip(graphs, outs):
        assert torch.allclose(out, reference.run(name, g), atol=ATOL)


def test_batch_input_returns_one_tensor(client):
    graphs = [graph(n, seed=n) for n in (3, 50, 7)]
    out = client.infer("gcn", Batch.from_data_list(graphs))
    assert out.shape == (3, 8)
    assert torch.allclose(out, reference.run("gcn", graphs), atol=ATOL)


def test_dict_of_numpy_arrays(client):
    g = graph(30, 90, seed=4)
    out = client.infer("sage", {"x": g.x.numpy(), "edge_index": g.edge_index.numpy()})
    assert torch.allclose(out, reference.run("sage", g), atol=ATOL)


def test_dict_with_ptr_is_several_graphs(client):
    graphs = [graph(n, seed=n) for n in (5, 9)]
    b = Batch.from_data_list(graphs)
    out = client.infer("gcn", {"x": b.x, "edge_index": b.edge_index, "ptr": b.ptr})
    assert out.shape == (2, 8)
    assert torch.allclose(out, reference.run("gcn", graphs), atol=ATOL)


def test_large_node_output_travels_through_an_output_slot(client):
    g = graph(5000, 20000, seed=5)  # 5000 x 16 float32 = 320 KB > inline limit
    out = client.infer("sage", g)
    assert out.shape == (5000, 16)
    assert torch.allclose(out, reference.run("sage", g), atol=ATOL)


def test_graph_with_no_edges(client):
    g = graph(10, 0, seed=6)
    assert torch.allclose(client.infer("gcn", g), reference.run("gcn", g), atol=ATOL)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_graph_with_no_nodes(client, name):
    """Regression: the worker's read of an empty 2-D section (x of a graph
    with no nodes) raised TypeError, which killed the worker."""
    g = graph(0, 0, seed=6)
    assert torch.allclose(client.infer(name, g), reference.run(name, g), atol=ATOL)
    out = client.infer(name, [g, graph(5, 8, seed=7), g])
    for got, one in zip(out, [g, graph(5, 8, seed=7), g]):
        assert torch.allclose(got, reference.run(name, one), atol=ATOL)


def test_unknown_model_and_version(client):
    with pytest.raises(graphferry.UnknownModel) as info:
        client.infer("nope", graph(3))
    assert info.value.code == graphferry.ErrorCode.UNKNOWN_MODEL
    with pytest.raises(graphferry.UnknownModel) as info:
        client.infer("gcn", graph(3), version=9)
    assert info.value.code == graphferry.ErrorCode.UNKNOWN_VERSION


def test_metadata_health_stats(client):
    meta = client.metadata("gcn")
    assert meta["output"] == {"level": "graph", "width": 8, "dtype": "float32"}
    assert meta["input"]["features"] == 32 and meta["versions"] == [1]
    assert client.metadata("sage")["output"]["level"] == "node"
    health = client.health()
    assert health["status"] == "ready"
    assert {m["name"]: m["state"] for m in health["models"]} == {"gcn": "ready",
                                                                "sage": "ready"}
    client.infer("gcn", graph(4))
    stats = {m["name"]: m for m in client.stats()["models"]}
    assert stats["gcn"]["requests"] >= 1 and stats["gcn"]["batches"] >= 1
    assert stats["gcn"]["workers"][0]["pid"] > 0


def test_model_scratch_memory_is_reused_between_calls(client):
    """A batch of 32 small graphs: glibc's defaults page-faulted ~3,000 times a call
    (scratch blocks mmapped and unmapped each time); the worker keeps them (allocator.py)."""
    graphs = [graph(100, 400, seed=i) for i in range(32)]
    pid = {m["name"]: m for m in client.stats()["models"]}["gcn"]["workers"][0]["pid"]

    def minor_faults() -> int:
        return int(procs.stat_fields(pid)[7])

    for _ in range(3):  # the heap grows to its working size once
        client.infer("gcn", graphs)
    before = minor_faults()
    for _ in range(5):
        client.infer("gcn", graphs)
    assert (minor_faults() - before) / 5 < 300
