"""Golden vectors (shm/FORMAT.md §7), both directions, plus the invalid set."""

import json
from pathlib import Path

import numpy as np
import pytest

from graphferry.protocol.errors import InvalidInput
from graphferry.shm import (
    bfloat16_from_float32, bfloat16_to_float32, code_of, numpy_dtype, pack, unpack,
)

VECTORS = Path(__file__).resolve().parent.parent / "shm" / "vectors"
VALID = sorted((VECTORS / "valid").glob("*.json"))
INVALID = sorted((VECTORS / "invalid").glob("*.json"))


def _load(path: Path):
    return json.loads(path.read_text()), path.with_suffix(".bin").read_bytes()


def _array(values, dtype_name: str, shape) -> np.ndarray:
    if dtype_name == "bfloat16":
        return bfloat16_from_float32(np.array(values, dtype=np.float32).reshape(shape))
    return np.array(values, dtype=numpy_dtype(code_of(dtype_name))).reshape(shape)


def _as_listed(a: np.ndarray, dtype_name: str) -> list:
    return (bfloat16_to_float32(a) if dtype_name == "bfloat16" else a).tolist()


def test_vector_sets_are_complete():
    assert len(VALID) >= 7 and len(INVALID) >= 16
    codes = {json.loads(p.read_text())["code"] for p in INVALID}
    assert codes >= {"BAD_FORMAT", "OUT_OF_BOUNDS", "WRONG_DTYPE", "WRONG_SHAPE",
                     "EMPTY_REQUEST", "BAD_PTR", "EDGE_OUT_OF_RANGE"}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector_decodes_to_its_fields(path):
    doc, data = _load(path)
    g = unpack(data)
    want = doc["header"]
    ea = want["edge_attr_dtype"]
    assert g.header.x_dtype == code_of(want["x_dtype"])
    assert g.header.edge_attr_dtype == (0 if ea == "none" else code_of(ea))
    counts = {f: v for f, v in want.items() if not f.endswith("_dtype")}
    assert {f: getattr(g.header, f) for f in counts} == counts
    assert g.header.total_length == len(data)
    assert g.ptr.tolist() == doc["ptr"]
    assert g.edge_index.tolist() == doc["edge_index"]
    assert _as_listed(g.x, want["x_dtype"]) == doc["x"]
    assert (g.edge_attr is None) == ("edge_attr" not in doc)
    if g.edge_attr is not None:
        assert _as_listed(g.edge_attr, ea) == doc["edge_attr"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector_encodes_to_identical_bytes(path):
    doc, data = _load(path)
    h = doc["header"]
    arrays = dict(
        x=_array(doc["x"], h["x_dtype"], (h["num_nodes"], h["num_node_features"])),
        x_dtype=h["x_dtype"],
        edge_index=np.array(doc["edge_index"], dtype=np.int64).reshape(2, h["num_edges"]),
        ptr=np.array(doc["ptr"], dtype=np.int64),
    )
    if "edge_attr" in doc:
        arrays["edge_attr"] = _array(doc["edge_attr"], h["edge_attr_dtype"],
                                     (h["num_edges"], h["num_edge_features"]))
        arrays["edge_attr_dtype"] = h["edge_attr_dtype"]
    assert pack(**arrays) == data


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_vector_fails_with_its_code(path):
    doc, data = _load(path)
    with pytest.raises(InvalidInput) as err:
        unpack(data)
    assert err.value.code.name == doc["code"], doc["why"]
    assert doc["why"]
