"""Element type codes of the packed graph format (FORMAT.md §4).

numpy has no bfloat16, so bfloat16 data travels as its bit pattern in a
uint16 array and the header's code says what the bits mean. The two helpers
at the end convert to and from float32 for callers without torch.
"""

import numpy as np

from ..protocol.codes import ErrorCode
from ..protocol.errors import InvalidInput

NONE, FLOAT32, FLOAT16, BFLOAT16, INT64, INT32 = 0, 1, 2, 3, 4, 5  # §4

DTYPE_CODES: dict[str, int] = {  # §4
    "float32": FLOAT32,
    "float16": FLOAT16,
    "bfloat16": BFLOAT16,
    "int64": INT64,
    "int32": INT32,
}
_NAMES = {code: name for name, code in DTYPE_CODES.items()} | {NONE: "none"}
_NUMPY = {
    FLOAT32: np.dtype("<f4"),
    FLOAT16: np.dtype("<f2"),
    BFLOAT16: np.dtype("<u2"),  # bit pattern, see module docstring
    INT64: np.dtype("<i8"),
    INT32: np.dtype("<i4"),
}
_ITEMSIZE = {code: dt.itemsize for code, dt in _NUMPY.items()}
# numpy dtype -> code; uint16 is left out on purpose: it is ambiguous, and
# the caller must say bfloat16 explicitly.
_BY_NUMPY = {dt: code for code, dt in _NUMPY.items() if code != BFLOAT16}

_SUPPORTED = ", ".join(DTYPE_CODES)


def code_of(dtype) -> int:
    """The §4 code of a dtype name ("bfloat16") or a numpy dtype."""
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        if dtype in _NUMPY:
            return dtype
        raise InvalidInput(f"unknown dtype code {dtype}", ErrorCode.WRONG_DTYPE)
    if isinstance(dtype, str) and dtype in DTYPE_CODES:
        return DTYPE_CODES[dtype]
    try:
        dt = np.dtype(dtype).newbyteorder("<")
    except TypeError:
        dt = None
    if dt in _BY_NUMPY:
        return _BY_NUMPY[dt]
    raise InvalidInput(_unsupported_message(dtype), ErrorCode.WRONG_DTYPE)


def _unsupported_message(dtype) -> str:
    hint = "cast to one of them"
    if str(dtype) in ("float64", "<f8", "double"):
        hint = "cast with .astype(np.float32) (torch: tensor.float())"
    elif str(dtype) in ("uint16", "<u2"):
        hint = "if these are bfloat16 bits, say dtype 'bfloat16'"
    return f"dtype {dtype} is not carried; supported: {_SUPPORTED}. Hint: {hint}"


def numpy_dtype(code: int) -> np.dtype:
    """The numpy dtype views of ``code`` data have (bfloat16 -> uint16)."""
    try:
        return _NUMPY[code]
    except KeyError:
        raise InvalidInput(f"unknown dtype code {code}", ErrorCode.WRONG_DTYPE) from None


def name_of(code: int) -> str:
    """The §4 name of ``code``; 0 is "none"."""
    try:
        return _NAMES[code]
    except KeyError:
        raise InvalidInput(f"unknown dtype code {code}", ErrorCode.WRONG_DTYPE) from None


def itemsize(code: int) -> int:
    """Bytes per element of ``code``."""
    try:
        return _ITEMSIZE[code]  # a dict hit: header checks call this per request
    except KeyError:
        raise InvalidInput(f"unknown dtype code {code}", ErrorCode.WRONG_DTYPE) from None


def bfloat16_from_float32(values) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of float32 values, rounded to nearest even."""
    bits = np.asarray(values, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    out = (rounded >> 16).astype("<u2")
    nan = np.isnan(np.asarray(values, dtype="<f4"))
    out[nan] = 0x7FC0  # rounding could turn a NaN payload into infinity
    return out


def bfloat16_to_float32(bits) -> np.ndarray:
    """float32 values of bfloat16 bit patterns (exact)."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")
