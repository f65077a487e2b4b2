"""The 128-byte header (FORMAT.md §2) and its structural checks (§5 steps 1-7).

Every field is hostile until checked: sizes are Python ints (no overflow),
and each is compared with the bytes actually available before anything
downstream creates a view. Content checks (ptr, edge ids) live in
``topology``; they run on the worker's private copy.
"""

from dataclasses import dataclass

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput
from . import dtypes
from .format import (
    ALIGN, EDGE_INDEX_ITEMSIZE, FLAG_HAS_EDGE_ATTR, HEADER_SIZE, HEADER_STRUCT,
    KNOWN_FLAGS, MAGIC, MAX_COUNT, PTR_ITEMSIZE, VERSION,
)


@dataclass(frozen=True, slots=True)
class Header:
    num_graphs: int
    num_nodes: int
    num_edges: int
    num_node_features: int
    num_edge_features: int
    x_dtype: int
    edge_attr_dtype: int
    total_length: int
    ptr_offset: int
    edge_index_offset: int
    x_offset: int
    edge_attr_offset: int  # 0 = no edge_attr

    @property
    def has_edge_attr(self) -> bool:
        return self.edge_attr_offset != 0

    def section_sizes(self) -> tuple[int, int, int, int]:
        """Bytes of ptr, edge_index, x, edge_attr (§3), as exact ints."""
        return section_sizes(self.num_graphs, self.num_nodes, self.num_edges,
                             self.num_node_features, self.x_dtype,
                             self.num_edge_features, self.edge_attr_dtype)


def section_sizes(num_graphs, num_nodes, num_edges, num_node_features, x_dtype,
                  num_edge_features=0, edge_attr_dtype=0) -> tuple[int, int, int, int]:
    """§3 section sizes in bytes; Python ints, so hostile counts cannot wrap."""
    ea = 0
    if edge_attr_dtype:
        ea = num_edges * num_edge_features * dtypes.itemsize(edge_attr_dtype)
    return (
        (num_graphs + 1) * PTR_ITEMSIZE,
        2 * num_edges * EDGE_INDEX_ITEMSIZE,
        num_nodes * num_node_features * dtypes.itemsize(x_dtype),
        ea,
    )


def write_header(buf, offset: int, h: Header) -> None:
    """Write ``h`` at ``offset`` (§2); reserved fields become zero."""
    flags = FLAG_HAS_EDGE_ATTR if h.has_edge_attr else 0
    HEADER_STRUCT.pack_into(
        buf, offset, MAGIC, VERSION, HEADER_SIZE, flags, 0,
        h.num_graphs, h.num_nodes, h.num_edges,
        h.num_node_features, h.num_edge_features,
        h.x_dtype, h.edge_attr_dtype, bytes(6), h.total_length,
        h.ptr_offset, h.edge_index_offset, h.x_offset, h.edge_attr_offset,
        bytes(32),
    )


def _fail(code: ErrorCode, message: str) -> InvalidInput:
    return InvalidInput(message, code)


def available_bytes(buf, offset: int, length: int | None) -> int:
    """§5 step 1: how many bytes from ``offset`` the caller may read."""
    nbytes = memoryview(buf).nbytes
    if not 0 <= offset <= nbytes:
        raise _fail(ErrorCode.OUT_OF_BOUNDS,
                    f"offset {offset} lies outside the {nbytes}-byte region")
    if length is None:
        return nbytes - offset
    if not 0 <= length <= nbytes - offset:
        raise _fail(ErrorCode.OUT_OF_BOUNDS,
                    f"{length} bytes at offset {offset} run past the end of the "
                    f"{nbytes}-byte region. Hint: name a slot inside the arena")
    return length


def parse_header(buf, offset: int = 0, length: int | None = None) -> Header:
    """Read and structurally check the header at ``offset`` (§5 steps 1-7)."""
    length = available_bytes(buf, offset, length)
    if offset % ALIGN:
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"packed graph at offset {offset} is not {ALIGN}-byte aligned")
    return decode_header(buf, offset, length)


def decode_header(buf, offset: int, length: int) -> Header:
    """§5 steps 2-7 for a packed graph of ``length`` bytes whose header is at
    ``offset`` of ``buf``: the caller has checked that those bytes exist (a
    worker reads the header alone, into a buffer of HEADER_SIZE)."""
    if length < HEADER_SIZE:
        raise _fail(ErrorCode.OUT_OF_BOUNDS,
                    f"only {length} bytes available, a packed graph header needs "
                    f"{HEADER_SIZE}. Hint: send the length pack_into returned")
    fields = HEADER_STRUCT.unpack_from(buf, offset)
    _check_identity(fields)
    h = Header(*fields[5:12], fields[13], *fields[14:18])
    _check_counts_and_dtypes(h, flags=fields[3])
    _check_sections(h, length)
    return h


def _check_identity(fields) -> None:
    """§5 step 2: magic, version, header size, flags, reserved bytes."""
    magic, version, header_size, flags, reserved0 = fields[:5]
    if magic != MAGIC:
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"magic is {magic!r}, expected {MAGIC!r}: this is not a packed "
                    "graph. Hint: check the offset you sent")
    if version != VERSION:
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"packed graph format version {version}; this reader knows "
                    f"version {VERSION}. Hint: use client and server of one release")
    if header_size != HEADER_SIZE:
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"header_size is {header_size}, version {VERSION} requires {HEADER_SIZE}")
    if flags & ~KNOWN_FLAGS:
        raise _fail(ErrorCode.BAD_FORMAT, f"unknown flag bits {flags & ~KNOWN_FLAGS:#x}")
    if reserved0 or any(fields[12]) or any(fields[18]):
        raise _fail(ErrorCode.BAD_FORMAT, "reserved header bytes must be zero")


def _check_counts_and_dtypes(h: Header, flags: int) -> None:
    """§5 steps 3-5: graph count, dtype codes, edge_attr consistency."""
    if h.num_graphs == 0:
        raise _fail(ErrorCode.EMPTY_REQUEST,
                    "the request holds no graphs. Hint: send at least one graph")
    if h.num_nodes >= MAX_COUNT or h.num_edges >= MAX_COUNT:
        # x may be empty (F = 0), so no byte count bounds N; numpy (and C++
        # ptrdiff_t) need every dimension times itemsize to fit int64.
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"{h.num_nodes} nodes and {h.num_edges} edges: each count must be "
                    f"below 2**48 (FORMAT.md §2)")
    if h.x_dtype not in dtypes.DTYPE_CODES.values():
        raise _fail(ErrorCode.WRONG_DTYPE,
                    f"x dtype code {h.x_dtype} is not a known code (FORMAT.md §4)")
    has_flag = bool(flags & FLAG_HAS_EDGE_ATTR)
    if has_flag and h.edge_attr_dtype == 0:
        raise _fail(ErrorCode.WRONG_DTYPE,
                    "header flags edge_attr but gives its dtype as 0 (none)")
    if h.edge_attr_dtype not in dtypes.DTYPE_CODES.values() and h.edge_attr_dtype != 0:
        raise _fail(ErrorCode.WRONG_DTYPE,
                    f"edge_attr dtype code {h.edge_attr_dtype} is not a known code "
                    "(FORMAT.md §4)")
    if has_flag and (h.num_edge_features == 0 or h.edge_attr_offset == 0):
        raise _fail(ErrorCode.WRONG_SHAPE,
                    "header flags edge_attr but gives it no features or no offset")
    if not has_flag and (h.num_edge_features or h.edge_attr_dtype or h.edge_attr_offset):
        raise _fail(ErrorCode.WRONG_SHAPE,
                    "header has edge_attr features, dtype or offset but its "
                    "HAS_EDGE_ATTR flag is clear")


def _check_sections(h: Header, length: int) -> None:
    """§5 steps 6-7: total_length, then each section aligned, ordered, inside."""
    if h.total_length % ALIGN or h.total_length < HEADER_SIZE:
        raise _fail(ErrorCode.BAD_FORMAT,
                    f"total_length {h.total_length} is not a multiple of {ALIGN} "
                    f"of at least {HEADER_SIZE}")
    if h.total_length > length:
        raise _fail(ErrorCode.OUT_OF_BOUNDS,
                    f"packed graph says it is {h.total_length} bytes, only {length} "
                    "are available. Hint: send the length pack_into returned")
    names = ("ptr", "edge_index", "x", "edge_attr")
    offsets = (h.ptr_offset, h.edge_index_offset, h.x_offset, h.edge_attr_offset)
    end = HEADER_SIZE
    for name, start, size in zip(names, offsets, h.section_sizes()):
        if name == "edge_attr" and not h.has_edge_attr:
            break
        if start % ALIGN:
            raise _fail(ErrorCode.BAD_FORMAT, f"{name} section at {start} is not {ALIGN}-aligned")
        if start < end:
            raise _fail(ErrorCode.BAD_FORMAT,
                        f"{name} section at {start} overlaps the header or the "
                        f"section before it (which ends at {end}); sections go in "
                        "the order ptr, edge_index, x, edge_attr")
        end = start + size
        if end > h.total_length:
            raise _fail(ErrorCode.BAD_FORMAT,
                        f"{name} section ends at {end}, past total_length {h.total_length}")
