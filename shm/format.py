"""Constants of packed graph format v1 (FORMAT.md). Constants only.

Each name cites the FORMAT.md section that defines it; client_cpp mirrors
this module, and the golden vectors under ``vectors/`` keep the two honest.
"""

import struct

MAGIC = b"GFPG"  # §2: first four bytes of every packed graph
VERSION = 1  # §2: bumped only for incompatible layout changes
HEADER_SIZE = 128  # §2: fixed in v1; readers reject any other value
ALIGN = 64  # §1, §3: start of a packed graph and of every section

# §2: num_nodes and num_edges stay below this, so that every byte count and
# every numpy dimension times its itemsize fits a signed 64-bit integer.
MAX_COUNT = 1 << 48

FLAG_HAS_EDGE_ATTR = 1 << 0  # §2: flags bit 0
KNOWN_FLAGS = FLAG_HAS_EDGE_ATTR  # §5: any other bit is BAD_FORMAT

# §2: the header, field by field, little-endian. Reserved runs are read back
# as bytes/ints so that §5 can insist they are zero.
HEADER_STRUCT = struct.Struct(
    "<"
    "4s"  # 0   magic
    "H"  # 4   version
    "H"  # 6   header_size
    "I"  # 8   flags
    "I"  # 12  reserved
    "Q"  # 16  num_graphs
    "Q"  # 24  num_nodes
    "Q"  # 32  num_edges
    "I"  # 40  num_node_features
    "I"  # 44  num_edge_features
    "B"  # 48  x_dtype
    "B"  # 49  edge_attr_dtype
    "6s"  # 50  reserved
    "Q"  # 56  total_length
    "Q"  # 64  ptr_offset
    "Q"  # 72  edge_index_offset
    "Q"  # 80  x_offset
    "Q"  # 88  edge_attr_offset
    "32s"  # 96  reserved
)
assert HEADER_STRUCT.size == HEADER_SIZE

# §3: element sizes of the fixed-type sections.
PTR_ITEMSIZE = 8  # int64
EDGE_INDEX_ITEMSIZE = 8  # int64


def align_up(n: int) -> int:
    """§6: the first multiple of ALIGN at or after ``n``."""
    return -(-n // ALIGN) * ALIGN
