"""Dynamic batching: requests are copied into preallocated batch buffers as
they arrive, and any run of consecutive requests becomes one PyG ``Batch``.

Copying happens once, out of the client's shared memory into these buffers
(``pread`` from the region: see graphferry.shm.region), and validation runs on
the copy (a client rewriting its arena mid-request can only corrupt its own
answer). Buffers are sized by the model's batching limits and allocated once
per worker (pinned when the model is on a GPU); ``np.empty`` does not touch
pages, so generous limits cost address space, not memory.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import InvalidInput
from graphferry.shm import Header, Region, check_topology
from graphferry.shm.format import EDGE_INDEX_ITEMSIZE
from graphferry.shm import dtypes

from .config import ModelConfig

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16,
                 "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32}
# PyG's Batch() resolves its dynamic class through inspect.signature on every
# call (~80 µs); building the same class once and filling its store is ~10 µs.
_BATCH_CLASS = type(Batch())


class OutputSlot(NamedTuple):
    """Where in its client's region a request's large output goes."""
    region: Region
    offset: int
    length: int


@dataclass(slots=True)
class Pending:
    """A request copied into the batch buffers, waiting for its model call."""
    identity: bytes
    request_id: int
    graph_start: int
    graphs: int
    node_start: int
    nodes: int
    edge_start: int
    edges: int
    out_slot: OutputSlot | None  # where a large output goes, or None
    entry: tuple  # (region inode, offset, attempt) for the status page


class Assembler:
    def __init__(self, config: ModelConfig, device: torch.device):
        self.config = config
        self.device = device
        limits, spec = config.batching, config.input
        pin = device.type == "cuda"
        self.x = _buffer((limits.max_nodes, spec.features), spec.dtype, pin)
        self.edge_attr = (_buffer((limits.max_edges, spec.edge_features), spec.edge_dtype, pin)
                          if spec.edge_features else None)
        self.edges = _buffer((2, limits.max_edges), "int64", pin)
        self.ptr = _buffer((limits.max_graphs + 1,), "int64", pin)
        self.batch = _buffer((limits.max_nodes,), "int64", pin)
        self.x_np, self.edge_attr_np = _bits(self.x), _bits(self.edge_attr)
        self.edges_np, self.ptr_np, self.batch_np = (t.numpy() for t in
                                                     (self.edges, self.ptr, self.batch))
        self.x_code = dtypes.code_of(spec.dtype)
        self.edge_code = dtypes.code_of(spec.edge_dtype) if spec.edge_features else 0
        self.pending: list[Pending] = []
        # One Batch object, refilled for every model call (a new one costs a
        # Data.__init__ per call); models must not keep it past forward().
        self.data = _BATCH_CLASS.__new__(_BATCH_CLASS)
        Data.__init__(self.data)
        self.reset()

    def reset(self) -> None:
        self.pending.clear()
        self.graphs = self.nodes = self.edges_used = 0
        self.ptr_np[0] = 0

    def check(self, header: Header) -> None:
        """Does this request suit the model at all? Raises with a hint if not."""
        spec, limits = self.config.input, self.config.batching
        if header.x_dtype != self.x_code:
            raise InvalidInput(f"x is {dtypes.name_of(header.x_dtype)}, the model takes "
                               f"{spec.dtype}. Hint: cast x to {spec.dtype}",
                               ErrorCode.WRONG_DTYPE)
        if header.num_node_features != spec.features:
            raise InvalidInput(f"x has {header.num_node_features} features per node, the model "
                               f"takes {spec.features}", ErrorCode.WRONG_SHAPE)
        if header.num_edge_features != spec.edge_features:
            raise InvalidInput(f"edge_attr has {header.num_edge_features} features per edge, "
                               f"the model takes {spec.edge_features}", ErrorCode.WRONG_SHAPE)
        if spec.edge_features and header.edge_attr_dtype != self.edge_code:
            raise InvalidInput(f"edge_attr is {dtypes.name_of(header.edge_attr_dtype)}, the "
                               f"model takes {spec.edge_dtype}", ErrorCode.WRONG_DTYPE)
        for what, count, limit in (("graphs", header.num_graphs, limits.max_graphs),
                                   ("nodes", header.num_nodes, limits.max_nodes),
                                   ("edges", header.num_edges, limits.max_edges)):
            if count > limit:
                raise InvalidInput(f"request has {count} {what}, this model takes at most "
                                   f"{limit} per request. Hint: split the request, or raise "
                                   f"max_{what} in the model's config.toml",
                                   ErrorCode.LIMIT_EXCEEDED)

    def fits(self, header: Header) -> bool:
        limits = self.config.batching
        return (self.graphs + header.num_graphs <= limits.max_graphs
                and self.nodes + header.num_nodes <= limits.max_nodes
                and self.edges_used + header.num_edges <= limits.max_edges)

    def add(self, identity: bytes, request_id: int, region: Region, offset: int,
            header: Header, out_slot: OutputSlot | None, entry: tuple) -> None:
        """Copy one checked request into the buffers, then validate the copy.

        ``header`` was checked against the model's limits and ``fits``, so
        every section lands inside the buffers."""
        g0, n0, e0 = self.graphs, self.nodes, self.edges_used
        g, n, e = header.num_graphs, header.num_nodes, header.num_edges
        ptr = self.ptr_np[g0:g0 + g + 1]
        edges = self.edges_np[:, e0:e0 + e]
        try:
            region.read_into(offset + header.ptr_offset, ptr)
            sources = offset + header.edge_index_offset  # FORMAT.md §3: 2 x E, sources first
            region.read_into(sources, edges[0])
            region.read_into(sources + e * EDGE_INDEX_ITEMSIZE, edges[1])
            check_topology(ptr, edges, n)
            region.read_into(offset + header.x_offset, self.x_np[n0:n0 + n])
            if self.edge_attr_np is not None:
                region.read_into(offset + header.edge_attr_offset,
                                 self.edge_attr_np[e0:e0 + e])
        except Exception:
            self.ptr_np[g0] = n0  # the previous request's end, which ptr[0] overwrote
            raise
        if n0:
            ptr += n0
            edges += n0
        if g == 1:
            self.batch_np[n0:n0 + n] = g0
        else:
            self.batch_np[n0:n0 + n] = np.repeat(np.arange(g0, g0 + g), np.diff(ptr))
        self.pending.append(Pending(identity, request_id, g0, g, n0, n, e0, e, out_slot, entry))
        self.graphs, self.nodes, self.edges_used = g0 + g, n0 + n, e0 + e

    def build(self, first: Pending, last: Pending) -> Batch:
        """One PyG Batch of the requests from ``first`` to ``last`` (inclusive)."""
        g0, g1 = first.graph_start, last.graph_start + last.graphs
        n0, n1 = first.node_start, last.node_start + last.nodes
        e0, e1 = first.edge_start, last.edge_start + last.edges
        edge_index = self.edges[:, e0:e1]
        ptr, batch = self.ptr[g0:g1 + 1], self.batch[n0:n1]
        if n0:  # a request re-run on its own: make its ids local again
            edge_index, ptr, batch = edge_index - n0, ptr - n0, batch - g0
        store = {"x": self.x[n0:n1], "edge_index": edge_index.contiguous(),
                 "batch": batch, "ptr": ptr}
        if self.edge_attr is not None:
            store["edge_attr"] = self.edge_attr[e0:e1]
        if self.device.type != "cpu":
            store = {k: v.to(self.device, non_blocking=True) for k, v in store.items()}
        data = self.data
        data._store._mapping.update(store)
        data._num_graphs = g1 - g0
        return data


def _buffer(shape, dtype: str, pin: bool) -> torch.Tensor:
    return torch.empty(shape, dtype=_TORCH_DTYPES[dtype], pin_memory=pin)


def _bits(tensor: torch.Tensor | None):
    """A numpy view with the same bits (numpy has no bfloat16: use uint16)."""
    if tensor is None:
        return None
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    return tensor.numpy()
