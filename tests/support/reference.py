"""The same demo models called in-process, and graphs to feed them."""

import functools

import torch
from torch_geometric.data import Batch, Data

from graphferry.server.model_loader import load_model
from graphferry.server.repository import DEMO_ROOT, scan


@functools.lru_cache(maxsize=None)
def model(name: str):
    entry = next(e for e in scan(DEMO_ROOT).entries if e.name == name)
    return load_model(entry, torch.device("cpu"))


def run(name: str, graphs) -> torch.Tensor:
    batch = Batch.from_data_list(graphs if isinstance(graphs, list) else [graphs])
    with torch.inference_mode():
        return model(name).forward(batch)


def graph(num_nodes: int, num_edges: int | None = None, features: int = 32,
          seed: int = 0) -> Data:
    generator = torch.Generator().manual_seed(seed)
    num_edges = 4 * num_nodes if num_edges is None else num_edges
    x = torch.randn(num_nodes, features, generator=generator)
    edge_index = torch.randint(0, max(num_nodes, 1), (2, num_edges), generator=generator)
    if num_nodes == 0:
        edge_index = edge_index[:, :0]
    return Data(x=x, edge_index=edge_index)
