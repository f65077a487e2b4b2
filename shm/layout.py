"""The codec: packed graph bytes <-> numpy views (FORMAT.md §3, §6).

Writers produce only the canonical layout (§6), so equal inputs give equal
bytes and the golden vectors can be compared byte for byte. Readers accept
any layout §5 allows. ``pack_into`` runs once per request on ~100-node
graphs: it writes the header with one struct call, copies each section with
one memcpy (memoryview slice assignment), and zeroes only the padding.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput
from . import dtypes
from .format import ALIGN, HEADER_SIZE, MAGIC, VERSION, align_up
from .header import Header, parse_header, section_sizes, write_header
from .topology import check_ptr, check_topology

_ZEROS = bytes(ALIGN)

__all__ = [
    "ALIGN", "HEADER_SIZE", "MAGIC", "VERSION", "Header", "PackedGraph",
    "packed_size", "pack_into", "pack", "parse_header", "section_views",
    "check_topology", "unpack",
]


@dataclass(frozen=True, slots=True)
class PackedGraph:
    header: Header
    ptr: np.ndarray  # int64[G+1]
    edge_index: np.ndarray  # int64[2, E]
    x: np.ndarray  # [N, F]; bfloat16 shows as uint16 (§4)
    edge_attr: np.ndarray | None  # [E, D] or None


def canonical_header(num_graphs, num_nodes, num_edges, num_node_features, x_dtype_code,
                     num_edge_features=0, edge_attr_dtype_code=0) -> Header:
    """The §6 layout for these counts: sections in order, each 64-aligned."""
    sizes = section_sizes(num_graphs, num_nodes, num_edges, num_node_features,
                          x_dtype_code, num_edge_features, edge_attr_dtype_code)
    count = 4 if edge_attr_dtype_code else 3
    offsets, end = [], HEADER_SIZE
    for size in sizes[:count]:
        offsets.append(align_up(end))
        end = offsets[-1] + size
    if count == 3:
        offsets.append(0)  # §2: edge_attr_offset 0 means no edge_attr
    return Header(num_graphs, num_nodes, num_edges, num_node_features, num_edge_features,
                  x_dtype_code, edge_attr_dtype_code, align_up(end), *offsets)


def packed_size(num_graphs, num_nodes, num_edges, num_node_features, x_dtype_code,
                num_edge_features=0, edge_attr_dtype_code=0) -> int:
    """Canonical total_length (§6) of a packed graph with these counts."""
    return canonical_header(num_graphs, num_nodes, num_edges, num_node_features,
                            x_dtype_code, num_edge_features, edge_attr_dtype_code).total_length


def pack_into(buf, offset: int, *, x, edge_index, ptr, edge_attr=None,
              x_dtype=None, edge_attr_dtype=None) -> int:
    """Write the canonical packed graph (§6) at ``offset``; return total_length.

    ``x_dtype``/``edge_attr_dtype`` (a §4 name or code) override the arrays'
    own dtypes: the data is cast (same kind only) or, for bfloat16, taken as
    uint16 bits or rounded from floats.
    """
    h, arrays = prepare(x=x, edge_index=edge_index, ptr=ptr, edge_attr=edge_attr,
                        x_dtype=x_dtype, edge_attr_dtype=edge_attr_dtype)
    write(buf, offset, h, arrays)
    return h.total_length


def write(buf, offset: int, header: Header, arrays) -> None:
    """Write what ``prepare`` returned at ``offset`` (a caller that must size a
    slot first prepares once, allocates ``header.total_length``, then writes)."""
    if offset % ALIGN:
        raise ValueError(f"offset {offset} is not a multiple of {ALIGN} (FORMAT.md §1)")
    _write(_writable_bytes(buf, offset, header.total_length), offset, header, arrays)


def pack(*, x, edge_index, ptr, edge_attr=None, x_dtype=None, edge_attr_dtype=None) -> bytes:
    """The canonical packed graph as fresh bytes (tests, vectors)."""
    h, arrays = prepare(x=x, edge_index=edge_index, ptr=ptr, edge_attr=edge_attr,
                        x_dtype=x_dtype, edge_attr_dtype=edge_attr_dtype)
    out = bytearray(h.total_length)
    _write(memoryview(out), 0, h, arrays)
    return bytes(out)


def prepare(*, x, edge_index, ptr, edge_attr=None, x_dtype=None, edge_attr_dtype=None):
    """Check and convert the inputs; return the canonical header and arrays."""
    x, x_code = _feature_array("x", x, x_dtype, rows=None)
    edge_index = _edge_index_array(edge_index)
    ptr = _ptr_array(ptr, x.shape[0])
    ea_code, num_edge_features = 0, 0
    if edge_attr is not None:
        edge_attr, ea_code = _feature_array("edge_attr", edge_attr, edge_attr_dtype,
                                            rows=edge_index.shape[1])
        num_edge_features = edge_attr.shape[1]
    h = canonical_header(ptr.shape[0] - 1, x.shape[0], edge_index.shape[1], x.shape[1],
                         x_code, num_edge_features, ea_code)
    return h, (ptr, edge_index, x, edge_attr)


def _write(mem: memoryview, offset: int, h: Header, arrays) -> None:
    """Header, then each section by one memcpy; only the padding is zeroed."""
    write_header(mem, offset, h)
    end = offset + HEADER_SIZE
    starts = (h.ptr_offset, h.edge_index_offset, h.x_offset, h.edge_attr_offset)
    for start, array in zip(starts, arrays):
        if array is None:
            break
        start += offset
        mem[end:start] = _ZEROS[:start - end]  # canonical gaps are < ALIGN bytes
        end = start + array.nbytes
        if array.nbytes:  # memoryview refuses to cast empty arrays
            mem[start:end] = memoryview(array).cast("B")
    tail = offset + h.total_length
    mem[end:tail] = _ZEROS[:tail - end]


def _writable_bytes(buf, offset: int, needed: int) -> memoryview:
    mem = memoryview(buf)
    if mem.readonly:
        raise TypeError("pack_into needs a writable buffer (bytearray, mmap, memoryview)")
    if mem.format != "B" or mem.ndim != 1:
        mem = mem.cast("B")
    if offset < 0 or offset + needed > mem.nbytes:
        raise InvalidInput(f"the packed graph needs {needed} bytes at offset {offset}, "
                           f"the buffer holds {mem.nbytes}. Hint: size the slot with "
                           "packed_size()", ErrorCode.OUT_OF_BOUNDS)
    return mem


def _feature_array(name, values, dtype, rows):
    """A C-contiguous [rows, F] array in the dtype §4 will record, and its code."""
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise InvalidInput(f"{name} must be 2-D [{'E' if rows is not None else 'N'}, "
                           f"features], got shape {arr.shape}. Hint: reshape(-1, 1) "
                           "for one feature", ErrorCode.WRONG_SHAPE)
    if rows is not None and arr.shape[0] != rows:
        raise InvalidInput(f"{name} has {arr.shape[0]} rows but there are {rows} edges",
                           ErrorCode.WRONG_SHAPE)
    if rows is not None and arr.shape[1] == 0:
        raise InvalidInput(f"{name} has no features. Hint: pass {name}=None",
                           ErrorCode.WRONG_SHAPE)
    if arr.shape[1] >= 2**32:
        raise InvalidInput(f"{name} has {arr.shape[1]} features, at most 2**32 - 1 fit "
                           "(FORMAT.md §2)", ErrorCode.WRONG_SHAPE)
    code = dtypes.code_of(arr.dtype if dtype is None else dtype)
    return _as_code(name, arr, code), code


def _as_code(name, arr, code):
    target = dtypes.numpy_dtype(code)
    if code == dtypes.BFLOAT16 and arr.dtype.kind == "f":
        return dtypes.bfloat16_from_float32(arr)
    if arr.dtype == target or (code != dtypes.BFLOAT16
                               and np.can_cast(arr.dtype, target, "same_kind")):
        return np.ascontiguousarray(arr, dtype=target)  # no copy when it already fits
    raise InvalidInput(f"{name} is {arr.dtype} and cannot become {dtypes.name_of(code)} "
                       "without losing its kind. Hint: cast it yourself first",
                       ErrorCode.WRONG_DTYPE)


def _edge_index_array(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise InvalidInput(f"edge_index must have shape [2, E], got {arr.shape}",
                           ErrorCode.WRONG_SHAPE)
    if arr.dtype.kind not in "iu" and arr.size:
        raise InvalidInput(f"edge_index is {arr.dtype}; node ids must be integers",
                           ErrorCode.WRONG_DTYPE)
    return np.ascontiguousarray(arr, dtype="<i8")


def _ptr_array(values, num_nodes: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 1 and arr.shape[0] == 1:
        raise InvalidInput("ptr describes no graphs. Hint: send at least one graph",
                           ErrorCode.EMPTY_REQUEST)
    if arr.dtype.kind not in "iu" and arr.size:
        raise InvalidInput(f"ptr is {arr.dtype}; it must hold integers",
                           ErrorCode.WRONG_DTYPE)
    arr = np.ascontiguousarray(arr, dtype="<i8")
    check_ptr(arr, num_nodes)
    return arr


def section_views(buf, offset: int, header: Header) -> PackedGraph:
    """Zero-copy views of the sections ``header`` names (contents unchecked).

    ``header`` must come from ``parse_header`` on the same buffer: that is what
    makes every view below lie inside it.
    """
    h = header

    def view(start, dtype, shape):
        return np.frombuffer(buf, dtype, count=math.prod(shape),
                             offset=offset + start).reshape(shape)

    int64 = np.dtype("<i8")
    edge_attr = None
    if h.has_edge_attr:
        edge_attr = view(h.edge_attr_offset, dtypes.numpy_dtype(h.edge_attr_dtype),
                         (h.num_edges, h.num_edge_features))
    return PackedGraph(
        header=h,
        ptr=view(h.ptr_offset, int64, (h.num_graphs + 1,)),
        edge_index=view(h.edge_index_offset, int64, (2, h.num_edges)),
        x=view(h.x_offset, dtypes.numpy_dtype(h.x_dtype), (h.num_nodes, h.num_node_features)),
        edge_attr=edge_attr,
    )


def unpack(buf, offset: int = 0, length: int | None = None) -> PackedGraph:
    """Check everything (§5) and return zero-copy views of the sections."""
    h = parse_header(buf, offset, length)
    graph = section_views(buf, offset, h)
    check_topology(graph.ptr, graph.edge_index, h.num_nodes)
    return graph
