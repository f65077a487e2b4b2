"""Message framing (docs/protocol.md §1–§2): one frame, one msgpack map.

``decode_request`` is the one place a received request's envelope is checked;
it raises :class:`InvalidInput` with the right code, which the receiving
socket's boundary turns into an error reply with ``error_reply``.
"""

import msgpack

from .codes import ErrorCode
from .errors import Error, InvalidInput

PROTOCOL_VERSION = 1  # §2
SUPPORTED_VERSIONS = (1,)  # §2.1
MAX_MESSAGE_BYTES = 1 << 20  # §1
INLINE_OUTPUT_BYTES = 64 << 10  # §3.1 limits.inline_output_bytes

def encode(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def decode(frame) -> dict:
    """Decode a reply or request frame into a map; MALFORMED_MESSAGE if it isn't one."""
    try:
        message = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise InvalidInput(f"frame is not valid msgpack ({exc.__class__.__name__})",
                           ErrorCode.MALFORMED_MESSAGE) from None
    if not isinstance(message, dict):
        raise InvalidInput("frame is not a msgpack map", ErrorCode.MALFORMED_MESSAGE)
    return message


def decode_request(frame) -> dict:
    """Decode and check a request's envelope (§2): ``v``, ``op`` and ``id``."""
    message = decode(frame)
    request_id = message.get("id")
    if type(request_id) is not int or request_id < 0:
        raise InvalidInput("request needs an integer 'id' >= 0", ErrorCode.MALFORMED_MESSAGE)
    version = message.get("v")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedProtocol(request_id, version)
    if type(message.get("op")) is not str:
        raise RequestError(request_id, InvalidInput("request needs a string 'op'",
                                                    ErrorCode.MALFORMED_MESSAGE))
    return message


class RequestError(Error):
    """An error that belongs to a known request id (so the reply can echo it)."""

    def __init__(self, request_id: int, error: Error):
        super().__init__(error.message, error.code)
        self.request_id = request_id


class UnsupportedProtocol(RequestError):
    def __init__(self, request_id: int, version):
        super().__init__(request_id, InvalidInput(
            f"protocol version {version!r} is not supported; this server speaks "
            f"{list(SUPPORTED_VERSIONS)}. Hint: upgrade the client or the server.",
            ErrorCode.UNSUPPORTED_PROTOCOL))


def extra_frames(count: int) -> InvalidInput:
    return InvalidInput(f"a message is one frame (§1), this one came in {count}",
                        ErrorCode.MALFORMED_MESSAGE)


def ok_reply(request_id: int, **fields) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, **fields})


def error_reply(request_id: int, error: Error) -> bytes:
    fields = {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "code": int(error.code),
              "error": error.code.name, "message": error.message}
    if isinstance(error, UnsupportedProtocol):
        fields["versions"] = list(SUPPORTED_VERSIONS)
    return encode(fields)


def field(message: dict, key: str, kind: type, *, default=None, required: bool = True):
    """Read a typed field of a request; MALFORMED_MESSAGE naming the key if it is wrong."""
    value = message.get(key, default)
    if value is None and not required:
        return None
    if type(value) is not kind or (kind is int and value < 0):
        expected = "a non-negative integer" if kind is int else f"a {kind.__name__}"
        raise InvalidInput(f"field '{key}' must be {expected}, got {value!r}",
                           ErrorCode.MALFORMED_MESSAGE)
    return value
