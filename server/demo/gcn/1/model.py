"""Demo: 2-layer GCN, graph-level output of width 8. Weights fixed by seed."""

import torch
from torch_geometric.nn import GCNConv, global_mean_pool


class Net(torch.nn.Module):
    def __init__(self, features: int = 32, hidden: int = 64, out: int = 8):
        super().__init__()
        self.conv1 = GCNConv(features, hidden)
        self.conv2 = GCNConv(hidden, hidden)
        self.head = torch.nn.Linear(hidden, out)

    def forward(self, x, edge_index, batch, num_graphs: int):
        x = self.conv1(x, edge_index).relu()
        x = self.conv2(x, edge_index).relu()
        return self.head(global_mean_pool(x, batch, size=num_graphs))


class Model:
    def load(self, device):
        torch.manual_seed(0)
        self.net = Net().to(device).eval()

    def forward(self, batch):
        return self.net(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
