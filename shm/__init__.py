"""graphferry.shm: the packed graph format and the shared memory it travels in.

Layers, each in its own module: ``format``/``dtypes`` (constants of
FORMAT.md) -> ``header``/``topology`` (checks; every byte is hostile) ->
``layout`` (bytes <-> numpy views) -> ``segment`` (one POSIX shm object) ->
``arena`` (a client's request slots inside one segment); ``region`` (a
segment another process owns, read by ``pread``, never mapped).

numpy and the standard library only: the supervisor and the clients import
this without torch or zmq. Linux only (segments live in /dev/shm).
"""

from .arena import Arena
from .dtypes import (
    DTYPE_CODES, bfloat16_from_float32, bfloat16_to_float32, code_of, itemsize,
    name_of, numpy_dtype,
)
from .format import ALIGN, HEADER_SIZE, MAGIC, VERSION
from .header import decode_header
from .layout import (
    Header, PackedGraph, check_topology, pack, pack_into, packed_size, parse_header,
    prepare, section_views, unpack, write,
)
from .region import Region
from .segment import PREFIX, Segment, unlink_quietly

__all__ = [
    "ALIGN", "HEADER_SIZE", "MAGIC", "VERSION", "DTYPE_CODES", "code_of", "numpy_dtype",
    "name_of", "itemsize", "bfloat16_from_float32", "bfloat16_to_float32", "Header",
    "PackedGraph", "pack_into", "pack", "prepare", "write", "packed_size", "parse_header", "section_views",
    "check_topology", "unpack", "decode_header", "Segment", "PREFIX", "unlink_quietly",
    "Arena", "Region",
]
