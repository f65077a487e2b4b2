"""Write the golden vectors of FORMAT.md §7.

    .venv/bin/python shm/vectors/generate.py

Valid vectors are packed by graphferry.shm itself and their JSON is read back
from the bytes, so the two always agree; what makes them golden is that they
are committed, checked by hand, and read by the C++ tests too. Each invalid
vector is one valid vector with one documented corruption.
"""

import json
import struct
from pathlib import Path

import numpy as np

from graphferry.shm import bfloat16_from_float32, bfloat16_to_float32, name_of, pack, unpack

HERE = Path(__file__).resolve().parent

_EDGES4 = [[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]]
VALID = {
    "single_float32": dict(
        x=np.arange(12, dtype=np.float32).reshape(4, 3) / 4, edge_index=_EDGES4, ptr=[0, 4]),
    # graph 1 is empty; graph 0 owns nodes 0-2 and graph 2 nodes 3-4
    "multi_edge_attr": dict(
        x=np.array([[1, 0], [0, 1], [1, 1], [2, 0], [0, 2]], dtype=np.float32),
        edge_index=[[0, 1, 3, 4], [1, 2, 4, 3]], ptr=[0, 3, 3, 5],
        edge_attr=np.array([[0.5, 1], [1.5, 2], [2.5, 3], [3.5, 4]], dtype=np.float32)),
    "float16_x": dict(
        x=np.array([[0.5, -1.25], [3.0, 1024.0], [-0.0, 65504.0]], dtype=np.float16),
        edge_index=[[0, 1], [1, 2]], ptr=[0, 3]),
    "bfloat16_x": dict(
        x=bfloat16_from_float32([[1.5, -2.0, 0.25], [3.0, -0.5, 256.0]]), x_dtype="bfloat16",
        edge_index=[[0, 1], [1, 0]], ptr=[0, 2]),
    "int64_x": dict(
        x=np.array([[7], [-3], [2**40]], dtype=np.int64), edge_index=[[0], [2]], ptr=[0, 3]),
    "int32_x": dict(
        x=np.array([[1, -2, 3, -4], [5, 6, 7, 2**31 - 1]], dtype=np.int32),
        edge_index=[[0, 1], [1, 0]], ptr=[0, 2]),
    "no_edges": dict(
        x=np.ones((3, 2), dtype=np.float32), edge_index=np.zeros((2, 0), np.int64),
        ptr=[0, 2, 3]),
    "no_node_features": dict(
        x=np.zeros((3, 0), dtype=np.float32), edge_index=[[0, 1], [1, 2]], ptr=[0, 3]),
}


def expected_json(data: bytes) -> dict:
    g = unpack(data)
    h = g.header
    header = {f: getattr(h, f) for f in h.__slots__}
    header["x_dtype"] = name_of(h.x_dtype)
    header["edge_attr_dtype"] = name_of(h.edge_attr_dtype)
    doc = {"header": header, "ptr": g.ptr.tolist(), "edge_index": g.edge_index.tolist(),
           "x": _values(g.x, h.x_dtype)}
    if g.edge_attr is not None:
        doc["edge_attr"] = _values(g.edge_attr, h.edge_attr_dtype)
    return doc


def _values(a: np.ndarray, code: int) -> list:
    if name_of(code) == "bfloat16":
        a = bfloat16_to_float32(a)
    return a.tolist()


def _put(fmt: str, off: int, value):
    def corrupt(b: bytearray) -> bytearray:
        struct.pack_into("<" + fmt, b, off, value)
        return b
    return corrupt


def _cut(n: int):
    return lambda b: b[:n]


# single_float32 layout: header 0-127, ptr 128-143, edge_index 192-271,
# x 320-367, total_length 384. multi_edge_attr: ptr 128-159 = [0, 3, 3, 5],
# edge_index 192-255 (sources 192-223, targets 224-255), x 256-295,
# edge_attr 320-351, total_length 384.
INVALID = [
    ("bad_magic", "single_float32", "BAD_FORMAT", "bytes 0-3 = 'GFPX'", _put("4s", 0, b"GFPX")),
    ("bad_version", "single_float32", "BAD_FORMAT", "u16 version at 4 = 2", _put("H", 4, 2)),
    ("bad_header_size", "single_float32", "BAD_FORMAT", "u16 header_size at 6 = 64", _put("H", 6, 64)),
    ("unknown_flag", "single_float32", "BAD_FORMAT", "u32 flags at 8 = 0x2", _put("I", 8, 2)),
    ("reserved_12_nonzero", "single_float32", "BAD_FORMAT", "u32 reserved at 12 = 1", _put("I", 12, 1)),
    ("reserved_50_nonzero", "single_float32", "BAD_FORMAT", "byte 52 (reserved) = 1", _put("B", 52, 1)),
    ("reserved_96_nonzero", "single_float32", "BAD_FORMAT", "byte 127 (reserved) = 0xff", _put("B", 127, 0xFF)),
    ("zero_graphs", "single_float32", "EMPTY_REQUEST", "u64 num_graphs at 16 = 0", _put("Q", 16, 0)),
    ("num_nodes_too_large", "no_node_features", "BAD_FORMAT", "u64 num_nodes at 24 = 2**48 (F = 0, so x stays empty)", _put("Q", 24, 2**48)),
    ("unknown_x_dtype", "single_float32", "WRONG_DTYPE", "u8 x_dtype at 48 = 9", _put("B", 48, 9)),
    ("x_dtype_none", "single_float32", "WRONG_DTYPE", "u8 x_dtype at 48 = 0", _put("B", 48, 0)),
    ("unknown_edge_attr_dtype", "multi_edge_attr", "WRONG_DTYPE", "u8 edge_attr_dtype at 49 = 200", _put("B", 49, 200)),
    ("edge_attr_dtype_none_with_flag", "multi_edge_attr", "WRONG_DTYPE", "u8 edge_attr_dtype at 49 = 0, flag still set", _put("B", 49, 0)),
    ("flag_without_edge_features", "multi_edge_attr", "WRONG_SHAPE", "u32 num_edge_features at 44 = 0, flag still set", _put("I", 44, 0)),
    ("edge_features_without_flag", "multi_edge_attr", "WRONG_SHAPE", "u32 flags at 8 = 0; D, dtype and offset still set", _put("I", 8, 0)),
    ("edge_attr_offset_without_flag", "single_float32", "WRONG_SHAPE", "u64 edge_attr_offset at 88 = 384, flag clear", _put("Q", 88, 384)),
    ("total_length_not_multiple_of_64", "single_float32", "BAD_FORMAT", "u64 total_length at 56 = 380", _put("Q", 56, 380)),
    ("total_length_too_small", "single_float32", "BAD_FORMAT", "u64 total_length at 56 = 320; x (320-367) no longer fits", _put("Q", 56, 320)),
    ("total_length_beyond_buffer", "single_float32", "OUT_OF_BOUNDS", "u64 total_length at 56 = 448; the file has 384 bytes", _put("Q", 56, 448)),
    ("truncated_buffer", "single_float32", "OUT_OF_BOUNDS", "file cut to its first 320 bytes; total_length still 384", _cut(320)),
    ("truncated_header", "single_float32", "OUT_OF_BOUNDS", "file cut to its first 100 bytes, shorter than the header", _cut(100)),
    ("misaligned_section", "single_float32", "BAD_FORMAT", "u64 x_offset at 80 = 328 (not a multiple of 64)", _put("Q", 80, 328)),
    ("section_inside_header", "single_float32", "BAD_FORMAT", "u64 ptr_offset at 64 = 64", _put("Q", 64, 64)),
    ("overlapping_sections", "single_float32", "BAD_FORMAT", "u64 edge_index_offset at 72 = 128, on top of ptr", _put("Q", 72, 128)),
    ("sections_out_of_order", "single_float32", "BAD_FORMAT", "u64 x_offset at 80 = 128: x before edge_index", _put("Q", 80, 128)),
    ("ptr_not_starting_at_zero", "multi_edge_attr", "BAD_PTR", "i64 ptr[0] at 128 = 1", _put("q", 128, 1)),
    ("ptr_decreasing", "multi_edge_attr", "BAD_PTR", "i64 ptr[2] at 144 = 2 (ptr = 0, 3, 2, 5)", _put("q", 144, 2)),
    ("ptr_not_ending_at_n", "multi_edge_attr", "BAD_PTR", "i64 ptr[3] at 152 = 4, num_nodes is 5", _put("q", 152, 4)),
    ("negative_edge_id", "multi_edge_attr", "EDGE_OUT_OF_RANGE", "i64 source of edge 0 at 192 = -1", _put("q", 192, -1)),
    ("edge_id_too_large", "multi_edge_attr", "EDGE_OUT_OF_RANGE", "i64 target of edge 1 at 232 = 5, num_nodes is 5", _put("q", 232, 5)),
    ("cross_graph_edge", "multi_edge_attr", "EDGE_OUT_OF_RANGE", "i64 target of edge 0 at 224 = 3: node 0 (graph 0) to node 3 (graph 2)", _put("q", 224, 3)),
    ("single_graph_edge_too_large", "single_float32", "EDGE_OUT_OF_RANGE", "i64 target of edge 4 at 264 = 4, num_nodes is 4", _put("q", 264, 4)),
]


def _write(path: Path, data: bytes, doc: dict) -> None:
    path.with_suffix(".bin").write_bytes(data)
    path.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    valid = {name: pack(**arrays) for name, arrays in VALID.items()}
    for name, data in valid.items():
        _write(HERE / "valid" / name, data, expected_json(data))
    for name, base, code, why, corrupt in INVALID:
        _write(HERE / "invalid" / name, bytes(corrupt(bytearray(valid[base]))),
               {"code": code, "why": f"{base} with {why}"})


if __name__ == "__main__":
    main()
