"""Stable error codes (docs/protocol.md §6). Constants only.

Numbers never change meaning; new codes take new numbers. The hundreds group
them by area: 1xx the request or its input, 2xx the model, 3xx the worker,
4xx capacity and time, 5xx the service. client_cpp mirrors this table in
``graphferry::ErrorCode`` and a test checks that the two agree.
"""

from enum import IntEnum


class ErrorCode(IntEnum):
    # 1xx: the request or its input (retrying the same request cannot help)
    INVALID_INPUT = 100
    MALFORMED_MESSAGE = 101
    UNSUPPORTED_PROTOCOL = 102
    UNKNOWN_OP = 103
    UNKNOWN_REGION = 104
    OUT_OF_BOUNDS = 105
    BAD_FORMAT = 106
    WRONG_DTYPE = 107
    WRONG_SHAPE = 108
    EDGE_OUT_OF_RANGE = 109
    BAD_PTR = 110
    EMPTY_REQUEST = 111
    LIMIT_EXCEEDED = 112
    OUTPUT_TOO_SMALL = 113
    # 2xx: the model
    UNKNOWN_MODEL = 200
    UNKNOWN_VERSION = 201
    MODEL_UNAVAILABLE = 202
    MODEL_ERROR = 203
    BAD_MODEL_OUTPUT = 204
    # 3xx: the worker
    WORKER_CRASHED = 300
    POISONED = 301
    # 4xx: capacity and time
    OVERLOADED = 400
    DEADLINE_EXCEEDED = 401
    # 5xx: the service
    SERVICE_UNAVAILABLE = 500
    INTERNAL = 501
