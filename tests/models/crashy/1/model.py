"""Misbehaves when a graph's first node has x[0] equal to a marker:

666 os._exit(3) · 667 os.abort() · 668 loops forever · 669 raises ValueError
670 SIGSEGV · 671 returns the wrong number of rows · 672 sleeps 0.3 s (slow but fine)
"""

import ctypes
import os
import time

import torch
from torch_geometric.nn import global_mean_pool

EXIT, ABORT, LOOP, RAISE, SEGV, WRONG_ROWS, SLOW = 666, 667, 668, 669, 670, 671, 672


class Model:
    def load(self, device):
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(32, 8).to(device)

    def forward(self, batch):
        firsts = batch.x[batch.ptr[:-1].clamp(max=max(batch.num_nodes - 1, 0)), 0].tolist()
        for marker in firsts:
            if marker == EXIT:
                os._exit(3)
            if marker == ABORT:
                os.abort()
            if marker == LOOP:
                while True:
                    pass
            if marker == RAISE:
                raise ValueError("marker 669 says fail")
            if marker == SEGV:
                ctypes.string_at(0)
            if marker == WRONG_ROWS:
                return torch.zeros(batch.num_graphs + 1, 8)
            if marker == SLOW:
                time.sleep(0.3)
        return self.lin(global_mean_pool(batch.x, batch.batch, size=batch.num_graphs))
