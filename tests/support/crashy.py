"""Inputs for the crashy test model, and what it answers for good ones."""

import torch
from torch_geometric.data import Data

EXIT, ABORT, LOOP, RAISE, SEGV, WRONG_ROWS, SLOW = 666, 667, 668, 669, 670, 671, 672


def graph(seed: int, marker: float | None = None, nodes: int = 12) -> Data:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(nodes, 32, generator=generator)
    if marker is not None:
        x[0, 0] = marker
    return Data(x=x, edge_index=torch.randint(0, nodes, (2, 3 * nodes), generator=generator))


def expected(g: Data) -> torch.Tensor:
    torch.manual_seed(0)
    lin = torch.nn.Linear(32, 8)
    with torch.inference_mode():
        return lin(g.x.mean(dim=0, keepdim=True))
