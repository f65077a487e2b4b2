"""What callers pass to ``infer``, turned into the arrays the packed format holds.

Accepted: a PyG ``Data``, a list of ``Data``, a ``Batch``, or a dict of
arrays (``x``, ``edge_index``, optional ``edge_attr``, optional ``ptr``);
arrays may be numpy arrays or CPU/GPU torch tensors. torch is imported only
when a torch object is actually passed, so the client works without it for
numpy callers.
"""

from dataclasses import dataclass

import numpy as np

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import InvalidInput
from graphferry.shm import dtypes


@dataclass(frozen=True, slots=True)
class GraphArrays:
    x: np.ndarray
    edge_index: np.ndarray
    ptr: np.ndarray
    edge_attr: np.ndarray | None
    x_dtype: int | None  # a §4 code when the array's own dtype does not say it (bfloat16)
    edge_attr_dtype: int | None
    is_list: bool  # the caller passed a list: answer with a list


def to_arrays(graphs) -> GraphArrays:
    if isinstance(graphs, dict):
        return _from_dict(graphs)
    if isinstance(graphs, (list, tuple)):
        return _from_list(graphs)
    store = getattr(graphs, "_store", None)  # a PyG Data or Batch keeps its tensors here;
    if store is not None and "x" in store:  # getattr on the object itself costs µs apiece
        return _assemble(store["x"], store.get("edge_index"), store.get("edge_attr"),
                         store.get("ptr"), is_list=False)
    if hasattr(graphs, "x") and hasattr(graphs, "edge_index"):
        return _assemble(graphs.x, graphs.edge_index, getattr(graphs, "edge_attr", None),
                         getattr(graphs, "ptr", None), is_list=False)
    raise InvalidInput(f"cannot send a {type(graphs).__name__}; pass a torch_geometric Data, "
                       "a list of Data, a Batch, or a dict with 'x' and 'edge_index'",
                       ErrorCode.INVALID_INPUT)


def _from_dict(graphs: dict) -> GraphArrays:
    unknown = set(graphs) - {"x", "edge_index", "edge_attr", "ptr"}
    if unknown or "x" not in graphs or "edge_index" not in graphs:
        raise InvalidInput("a graph dict needs 'x' and 'edge_index' and may have 'edge_attr' "
                           f"and 'ptr'; got keys {sorted(graphs)}", ErrorCode.INVALID_INPUT)
    return _assemble(graphs["x"], graphs["edge_index"], graphs.get("edge_attr"),
                     graphs.get("ptr"), is_list=False)


def _from_list(graphs) -> GraphArrays:
    if not graphs:
        raise InvalidInput("the list of graphs is empty", ErrorCode.EMPTY_REQUEST)
    parts = [to_arrays(graph) for graph in graphs]
    if any(len(p.ptr) != 2 for p in parts):
        raise InvalidInput("a list may hold single graphs only, not batches",
                           ErrorCode.INVALID_INPUT)
    if len({p.edge_attr is None for p in parts}) > 1:
        raise InvalidInput("some graphs in the list have edge_attr and some do not",
                           ErrorCode.WRONG_SHAPE)
    counts = np.cumsum([0] + [len(p.x) for p in parts])
    edges = [p.edge_index + start if start else p.edge_index
             for p, start in zip(parts, counts[:-1])]
    has_attr = parts[0].edge_attr is not None
    return GraphArrays(_concat([p.x for p in parts], "x"), np.concatenate(edges, axis=1),
                       counts.astype(np.int64),
                       _concat([p.edge_attr for p in parts], "edge_attr") if has_attr else None,
                       parts[0].x_dtype, parts[0].edge_attr_dtype, is_list=True)


def _concat(arrays: list, what: str) -> np.ndarray:
    if len({a.dtype for a in arrays}) > 1 or len({a.shape[1:] for a in arrays}) > 1:
        raise InvalidInput(f"the graphs' {what} differ in dtype or width", ErrorCode.WRONG_SHAPE)
    return np.concatenate(arrays)


def _assemble(x, edge_index, edge_attr, ptr, is_list: bool) -> GraphArrays:
    x, x_dtype = _numpy(x, "x")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    edge_index, _ = _numpy(edge_index, "edge_index")
    edge_attr, edge_attr_dtype = (None, None) if edge_attr is None else _numpy(edge_attr,
                                                                              "edge_attr")
    if edge_attr is not None and edge_attr.ndim == 1:
        edge_attr = edge_attr.reshape(-1, 1)
    if ptr is None:
        ptr = np.array([0, len(x)], dtype=np.int64)
    else:
        ptr, _ = _numpy(ptr, "ptr")
    return GraphArrays(x, edge_index, ptr, edge_attr, x_dtype, edge_attr_dtype, is_list)


def list_bounds(arrays: GraphArrays, node_level: bool) -> np.ndarray:
    """Where each listed graph's output rows start and end."""
    return arrays.ptr if node_level else np.arange(len(arrays.ptr))


def _numpy(array, what: str) -> tuple[np.ndarray, int | None]:
    """A host numpy view of ``array``; bfloat16 travels as its bits, with its code."""
    if type(array).__module__.startswith("torch"):
        try:
            return array.numpy(), None  # the common case: a CPU tensor without grad
        except (RuntimeError, TypeError):
            pass
        array = array.detach()
        if array.device.type != "cpu":
            array = array.cpu()
        if str(array.dtype) == "torch.bfloat16":
            import torch
            return (array.contiguous().view(torch.int16).numpy().view(np.uint16),
                    dtypes.code_of("bfloat16"))
        return array.numpy(), None
    return np.asarray(array), None
