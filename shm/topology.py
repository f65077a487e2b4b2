"""Content checks of ptr and edge_index (FORMAT.md §5 steps 8-9).

The worker runs these on its own copies, after copying out of shared memory:
a client that scribbles over its arena mid-request can then corrupt only its
own answer, never the check. Everything is vectorised; the first offender is
named so the caller can find it.
"""

import numpy as np

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput

_BATCH_HINT = ("Hint: offset each graph's node ids by the nodes before it, "
               "as torch_geometric.data.Batch does")


def check_ptr(ptr: np.ndarray, num_nodes: int) -> None:
    """§5 step 8: ptr[0] == 0, non-decreasing, ptr[G] == num_nodes."""
    if ptr.ndim != 1 or ptr.shape[0] < 2:
        raise InvalidInput(f"ptr must have num_graphs + 1 >= 2 entries, got shape "
                           f"{ptr.shape}", ErrorCode.WRONG_SHAPE)
    if ptr[0] == 0 and int(ptr[-1]) == num_nodes and (
            ptr.shape[0] == 2 or (ptr[1:] >= ptr[:-1]).all()):
        return  # the common case, without building messages
    if ptr[0] != 0:
        raise InvalidInput(f"ptr[0] is {ptr[0]}, it must be 0", ErrorCode.BAD_PTR)
    drops = np.flatnonzero(ptr[1:] < ptr[:-1])
    if drops.size:
        g = int(drops[0])
        raise InvalidInput(f"ptr decreases from ptr[{g}] = {ptr[g]} to ptr[{g + 1}] = "
                           f"{ptr[g + 1]}: graph {g} would own fewer than 0 nodes",
                           ErrorCode.BAD_PTR)
    if int(ptr[-1]) != num_nodes:  # Python ints: a hostile N may not fit int64
        raise InvalidInput(f"ptr ends at {ptr[-1]} but there are {num_nodes} nodes: "
                           "ptr[num_graphs] must equal num_nodes", ErrorCode.BAD_PTR)


def check_edges(ptr: np.ndarray, edge_index: np.ndarray, num_nodes: int) -> None:
    """§5 step 9: ids in [0, N), both ends of an edge in the same graph."""
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise InvalidInput(f"edge_index must have shape [2, E], got {edge_index.shape}",
                           ErrorCode.WRONG_SHAPE)
    if edge_index.shape[1] == 0:
        return
    # One pass for both bounds: as uint64, a negative id is above any N < 2**48.
    if edge_index.view(np.uint64).max() >= num_nodes:
        bad = np.flatnonzero(((edge_index < 0) | (edge_index >= num_nodes)).any(axis=0))
        e = int(bad[0])
        src, dst = (int(v) for v in edge_index[:, e])
        raise InvalidInput(f"edge {e} joins node {src} to node {dst}, but node ids "
                           f"must lie in [0, {num_nodes})", ErrorCode.EDGE_OUT_OF_RANGE)
    if ptr.shape[0] <= 2:
        return  # one graph: every in-range edge is inside it
    # side="right" - 1 maps a node to the last graph starting at or before it,
    # which is the graph that owns it even when empty graphs repeat a ptr value.
    graph = np.searchsorted(ptr, edge_index, side="right") - 1
    cross = np.flatnonzero(graph[0] != graph[1])
    if cross.size:
        e = int(cross[0])
        src, dst = (int(v) for v in edge_index[:, e])
        raise InvalidInput(f"edge {e} joins node {src} (graph {graph[0, e]}) to node "
                           f"{dst} (graph {graph[1, e]}): edges must stay inside their "
                           f"graph. {_BATCH_HINT}", ErrorCode.EDGE_OUT_OF_RANGE)


def check_topology(ptr: np.ndarray, edge_index: np.ndarray, num_nodes: int) -> None:
    """All §5 content checks: BAD_PTR, then EDGE_OUT_OF_RANGE."""
    check_ptr(ptr, num_nodes)
    check_edges(ptr, edge_index, num_nodes)
