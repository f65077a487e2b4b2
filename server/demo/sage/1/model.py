"""Demo: 2-layer GraphSAGE, node-level output of width 16. Weights fixed by seed."""

import torch
from torch_geometric.nn import SAGEConv


class Net(torch.nn.Module):
    def __init__(self, features: int = 32, hidden: int = 64, out: int = 16):
        super().__init__()
        self.conv1 = SAGEConv(features, hidden)
        self.conv2 = SAGEConv(hidden, out)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


class Model:
    def load(self, device):
        torch.manual_seed(0)
        self.net = Net().to(device).eval()

    def forward(self, batch):
        return self.net(batch.x, batch.edge_index)
