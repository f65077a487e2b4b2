"""The codec against shm/FORMAT.md: round trips, every §5 rule, fuzz."""

import struct
from pathlib import Path

import numpy as np
import pytest

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import InvalidInput
from graphferry.shm import (
    ALIGN, HEADER_SIZE, bfloat16_from_float32, bfloat16_to_float32, check_topology,
    code_of, itemsize, name_of, numpy_dtype, pack, pack_into, packed_size, parse_header,
    section_views, unpack,
)

VECTORS = Path(__file__).resolve().parent.parent / "shm" / "vectors"


def graph(n=5, f=3, dtype=np.float32, edges=((0, 1), (1, 2), (2, 0)), ptr=None, d=0):
    """Arrays for one packed graph; edge_attr when d > 0."""
    rng = np.random.default_rng(n * 31 + f)
    x = (rng.integers(-8, 8, (n, f)) / 2).astype(dtype)
    ei = np.array(edges, dtype=np.int64).reshape(-1, 2).T
    arrays = dict(x=x, edge_index=ei, ptr=[0, n] if ptr is None else ptr)
    if d:
        arrays["edge_attr"] = rng.random((ei.shape[1], d), dtype=np.float32)
    return arrays


def code_of_error(fn, *args, **kwargs) -> ErrorCode:
    with pytest.raises(InvalidInput) as err:
        fn(*args, **kwargs)
    assert err.value.message  # human text, not just a number
    return err.value.code


# -- round trips ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.int32])
def test_round_trip_each_numpy_dtype(dtype):
    arrays = graph(dtype=dtype)
    g = unpack(pack(**arrays))
    assert g.x.dtype == np.dtype(dtype) and np.array_equal(g.x, arrays["x"])
    assert np.array_equal(g.edge_index, arrays["edge_index"])
    assert g.header.x_dtype == code_of(np.dtype(dtype))
    assert g.edge_attr is None and not g.header.has_edge_attr


def test_round_trip_bfloat16_as_bits_and_from_floats():
    values = np.array([[1.5, -2.0], [0.25, 3.0], [-0.5, 8.0]], dtype=np.float32)
    bits = bfloat16_from_float32(values)
    base = dict(edge_index=[[0], [1]], ptr=[0, 3])
    data = pack(x=bits, x_dtype="bfloat16", **base)
    assert pack(x=values, x_dtype="bfloat16", **base) == data  # rounded on the way in
    g = unpack(data)
    assert g.header.x_dtype == 3 and g.x.dtype == np.uint16
    assert np.array_equal(bfloat16_to_float32(g.x), values)


def test_round_trip_multiple_graphs_with_empty_one_and_edge_attr():
    arrays = graph(n=6, edges=((0, 1), (1, 0), (4, 5)), ptr=[0, 2, 2, 4, 6], d=3)
    g = unpack(pack(**arrays))
    assert g.header.num_graphs == 4 and g.header.has_edge_attr
    assert g.ptr.tolist() == [0, 2, 2, 4, 6]
    assert np.array_equal(g.edge_attr, arrays["edge_attr"])


def test_canonical_layout_and_zero_padding():
    arrays = graph(n=3, f=1, d=1)
    data = pack(**arrays)
    h = parse_header(data)
    assert h.ptr_offset == HEADER_SIZE
    for off in (h.edge_index_offset, h.x_offset, h.edge_attr_offset, h.total_length):
        assert off % ALIGN == 0
    assert len(data) == h.total_length == packed_size(1, 3, 3, 1, 1, 1, 1)
    ends = [(h.ptr_offset + 16, h.edge_index_offset), (h.edge_index_offset + 48, h.x_offset),
            (h.x_offset + 12, h.edge_attr_offset), (h.edge_attr_offset + 12, h.total_length)]
    assert all(not any(data[a:b]) for a, b in ends)


def test_pack_into_nonzero_offset_leaves_neighbours_alone():
    arrays = graph(d=2)
    size = len(pack(**arrays))
    buf = bytearray(b"\xAA" * (64 * 3 + size + 64))
    assert pack_into(buf, 192, **arrays) == size
    assert buf[:192] == b"\xAA" * 192 and buf[192 + size:] == b"\xAA" * 64
    assert bytes(buf[192:192 + size]) == pack(**arrays)
    g = unpack(buf, 192, size)
    assert np.array_equal(g.x, arrays["x"])
    # a stale graph in a reused slot must not leak through the padding
    assert pack_into(buf, 192, **arrays) == size
    assert bytes(buf[192:192 + size]) == pack(**arrays)


def test_pack_into_memoryview_of_mmap_like_buffer():
    arrays = graph()
    mv = memoryview(bytearray(4096))
    n = pack_into(mv, 64, **arrays)
    assert unpack(mv, 64, n).header.total_length == n


def test_section_views_are_zero_copy():
    buf = bytearray(pack(**graph()))
    g = section_views(buf, 0, parse_header(buf))
    g.x[0, 0] = 42
    assert unpack(buf).x[0, 0] == 42


def test_zero_edges_and_zero_features():
    g = unpack(pack(x=np.zeros((4, 0), np.float32), edge_index=np.zeros((2, 0), int), ptr=[0, 4]))
    assert g.x.shape == (4, 0) and g.edge_index.shape == (2, 0)


# -- writer input checks ----------------------------------------------------

def test_unaligned_offset_is_value_error():
    with pytest.raises(ValueError):
        pack_into(bytearray(4096), 8, **graph())


def test_too_small_buffer_is_out_of_bounds():
    arrays = graph()
    size = len(pack(**arrays))
    assert code_of_error(pack_into, bytearray(size - 1), 0, **arrays) == ErrorCode.OUT_OF_BOUNDS
    assert code_of_error(pack_into, bytearray(size + 63), 64, **arrays) == ErrorCode.OUT_OF_BOUNDS


def test_readonly_buffer_is_type_error():
    with pytest.raises(TypeError):
        pack_into(bytes(4096), 0, **graph())


def test_float64_rejected_with_a_hint():
    with pytest.raises(InvalidInput) as err:
        pack(**graph(dtype=np.float64))
    assert err.value.code == ErrorCode.WRONG_DTYPE
    assert "float32" in err.value.message and "Hint" in err.value.message


def test_explicit_dtype_casts_within_kind_only():
    arrays = graph(dtype=np.float64)
    assert unpack(pack(**arrays, x_dtype="float32")).x.dtype == np.float32
    arrays = graph(dtype=np.float32)
    assert code_of_error(pack, **arrays, x_dtype="int32") == ErrorCode.WRONG_DTYPE


@pytest.mark.parametrize("change, code", [
    (dict(x=np.ones(5, np.float32)), ErrorCode.WRONG_SHAPE),
    (dict(edge_index=np.zeros((3, 2), int)), ErrorCode.WRONG_SHAPE),
    (dict(edge_index=np.zeros((2, 2), np.float32)), ErrorCode.WRONG_DTYPE),
    (dict(edge_attr=np.ones((2, 1), np.float32)), ErrorCode.WRONG_SHAPE),
    (dict(edge_attr=np.ones((3, 0), np.float32)), ErrorCode.WRONG_SHAPE),
    (dict(ptr=[0]), ErrorCode.EMPTY_REQUEST),
    (dict(ptr=[0, 4]), ErrorCode.BAD_PTR),
    (dict(ptr=[1, 5]), ErrorCode.BAD_PTR),
    (dict(ptr=[0, 3, 2, 5]), ErrorCode.BAD_PTR),
    (dict(x=np.ones((5, 2), np.uint16)), ErrorCode.WRONG_DTYPE),
])
def test_pack_rejects_inputs_it_cannot_pack(change, code):
    assert code_of_error(pack, **(graph() | change)) == code


# -- reader rules (§5), on a canonical graph with edge_attr -------------------

def corrupted(fmt, off, value, **kwargs):
    data = bytearray(pack(**graph(d=2, **kwargs)))
    struct.pack_into("<" + fmt, data, off, value)
    return data


@pytest.mark.parametrize("fmt, off, value, code", [
    ("4s", 0, b"XXXX", ErrorCode.BAD_FORMAT),
    ("H", 4, 0, ErrorCode.BAD_FORMAT),
    ("H", 6, 256, ErrorCode.BAD_FORMAT),
    ("I", 8, 0x81, ErrorCode.BAD_FORMAT),
    ("I", 12, 7, ErrorCode.BAD_FORMAT),
    ("B", 55, 1, ErrorCode.BAD_FORMAT),
    ("B", 96, 1, ErrorCode.BAD_FORMAT),
    ("Q", 16, 0, ErrorCode.EMPTY_REQUEST),
    ("B", 48, 6, ErrorCode.WRONG_DTYPE),
    ("B", 48, 0, ErrorCode.WRONG_DTYPE),
    ("B", 49, 0, ErrorCode.WRONG_DTYPE),
    ("B", 49, 99, ErrorCode.WRONG_DTYPE),
    ("I", 44, 0, ErrorCode.WRONG_SHAPE),
    ("Q", 88, 0, ErrorCode.WRONG_SHAPE),
    ("I", 8, 0, ErrorCode.WRONG_SHAPE),
    ("Q", 56, 100, ErrorCode.BAD_FORMAT),
    ("Q", 56, 64, ErrorCode.BAD_FORMAT),
    ("Q", 56, 1 << 40, ErrorCode.OUT_OF_BOUNDS),
    ("Q", 64, 130, ErrorCode.BAD_FORMAT),
    ("Q", 72, 128, ErrorCode.BAD_FORMAT),
    ("Q", 80, 1 << 62, ErrorCode.BAD_FORMAT),
    ("Q", 88, 64, ErrorCode.BAD_FORMAT),
    ("Q", 32, 1 << 60, ErrorCode.BAD_FORMAT),  # E huge: sections would wrap in u64
    ("I", 40, 0xFFFFFFFF, ErrorCode.BAD_FORMAT),
])
def test_header_rules(fmt, off, value, code):
    assert code_of_error(unpack, corrupted(fmt, off, value)) == code


def test_offset_and_length_rules():
    data = bytearray(64) + pack(**graph())
    n = len(data) - 64
    assert unpack(data, 64, n).header.total_length == n
    assert code_of_error(unpack, data, 32) == ErrorCode.BAD_FORMAT
    assert code_of_error(unpack, data, len(data) + 64) == ErrorCode.OUT_OF_BOUNDS
    assert code_of_error(unpack, data, -64) == ErrorCode.OUT_OF_BOUNDS
    assert code_of_error(unpack, data, 64, n + 1) == ErrorCode.OUT_OF_BOUNDS
    assert code_of_error(unpack, data, 64, n - 64) == ErrorCode.OUT_OF_BOUNDS
    assert code_of_error(unpack, data, 64, 127) == ErrorCode.OUT_OF_BOUNDS


def test_reader_accepts_non_canonical_layout():
    arrays = graph()
    data = bytearray(pack(**arrays))
    h = parse_header(data)
    # move x one 64-byte step later, inside a longer total_length
    x_bytes = bytes(data[h.x_offset:h.x_offset + 60])
    data += bytes(64)
    data[h.x_offset:h.x_offset + 64] = bytes(64)
    data[h.x_offset + 64:h.x_offset + 124] = x_bytes
    struct.pack_into("<Q", data, 80, h.x_offset + 64)
    struct.pack_into("<Q", data, 56, h.total_length + 64)
    assert np.array_equal(unpack(data).x, arrays["x"])


# -- topology (§5 steps 8-9) --------------------------------------------------

def test_topology_rules_and_messages():
    ptr = np.array([0, 3, 3, 5])
    ok = np.array([[0, 1, 3], [2, 2, 4]])
    check_topology(ptr, ok, 5)
    with pytest.raises(InvalidInput) as err:
        check_topology(ptr, np.array([[0, 1, 4], [2, 3, 3]]), 5)
    assert err.value.code == ErrorCode.EDGE_OUT_OF_RANGE
    assert "edge 1 joins node 1 (graph 0) to node 3 (graph 2)" in err.value.message
    assert code_of_error(check_topology, ptr, np.array([[0], [5]]), 5) == ErrorCode.EDGE_OUT_OF_RANGE
    assert code_of_error(check_topology, ptr, np.array([[-1], [0]]), 5) == ErrorCode.EDGE_OUT_OF_RANGE
    assert code_of_error(check_topology, np.array([0, 5]), np.array([[0], [9]]), 5) \
        == ErrorCode.EDGE_OUT_OF_RANGE
    for bad in ([1, 3, 3, 5], [0, 3, 2, 5], [0, 3, 3, 6]):
        assert code_of_error(check_topology, np.array(bad), ok, 5) == ErrorCode.BAD_PTR


def test_cross_graph_edge_into_empty_graph_boundary():
    # node 2 belongs to graph 2 (graph 1 is empty); edge 1 -> 2 crosses graphs
    ptr = np.array([0, 2, 2, 4])
    assert code_of_error(check_topology, ptr, np.array([[1], [2]]), 4) == ErrorCode.EDGE_OUT_OF_RANGE
    check_topology(ptr, np.array([[2, 0], [3, 1]]), 4)


# -- dtypes (§4) -------------------------------------------------------------

def test_dtype_helpers():
    assert [code_of(n) for n in ("float32", "float16", "bfloat16", "int64", "int32")] == [1, 2, 3, 4, 5]
    assert code_of(np.float32) == 1 and code_of(np.dtype(">i4")) == 5
    assert numpy_dtype(3) == np.uint16 and name_of(3) == "bfloat16" and name_of(0) == "none"
    assert [itemsize(c) for c in range(1, 6)] == [4, 2, 2, 8, 4]
    for bad in (np.uint16, "float64", 9):
        with pytest.raises(InvalidInput):
            code_of(bad)


# -- fuzz ---------------------------------------------------------------------

def test_fuzz_flips_and_truncations_raise_only_invalid_input():
    rng = np.random.default_rng(1234)
    seeds = [p.read_bytes() for p in sorted((VECTORS / "valid").glob("*.bin"))]
    outcomes = {"ok": 0, "invalid": 0}
    for i in range(2000):
        data = bytearray(seeds[i % len(seeds)])
        mode = rng.random()
        if mode < 0.2:
            data = data[:rng.integers(0, len(data))]
        elif mode < 0.5:  # a whole count or offset, small or huge
            value = int(rng.integers(0, 2**63)) * 2 + 1 if rng.random() < 0.3 else int(rng.integers(0, 2048))
            struct.pack_into("<Q", data, int(rng.integers(2, 12)) * 8, value)
        else:
            # bias towards the header, where the structure lives
            hi = HEADER_SIZE if rng.random() < 0.7 else len(data)
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(0, hi)] ^= 1 << rng.integers(0, 8)
        try:
            unpack(bytes(data))
            outcomes["ok"] += 1
        except InvalidInput:
            outcomes["invalid"] += 1
    assert outcomes["invalid"] > 1000


# -- dependency rule (DESIGN.md: graphferry.shm never imports torch or zmq) ----

def test_shm_modules_import_only_numpy_stdlib_and_protocol():
    import ast
    import sys
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for path in (VECTORS.parent).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue  # relative: this package or ..protocol
            assert set(roots) <= allowed, f"{path.name} imports {roots}"
