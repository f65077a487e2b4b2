"""One exception hierarchy for the whole system.

Code raises these where things fail; the server's socket boundary turns them
into error replies (code + message, never a traceback) and the client turns
error replies back into the same classes. The class follows from the code's
hundred (docs/protocol.md §6), with a few codes singled out.
"""

from .codes import ErrorCode


class Error(Exception):
    """Base of every graphferry error; ``code`` is an :class:`ErrorCode`."""

    default_code = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        self.code = ErrorCode(code if code is not None else self.default_code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name} ({int(self.code)}): {self.message}"

    def __reduce__(self):  # keep code through pickling (multiprocessing tests)
        return (type(self), (self.message, self.code))


class InvalidInput(Error):
    default_code = ErrorCode.INVALID_INPUT


class UnknownModel(Error):
    default_code = ErrorCode.UNKNOWN_MODEL


class ModelError(Error):
    default_code = ErrorCode.MODEL_ERROR


class WorkerCrashed(Error):
    default_code = ErrorCode.WORKER_CRASHED


class Overloaded(Error):
    default_code = ErrorCode.OVERLOADED


class DeadlineExceeded(Error):
    default_code = ErrorCode.DEADLINE_EXCEEDED


class ServiceUnavailable(Error):
    default_code = ErrorCode.SERVICE_UNAVAILABLE


_BY_CODE = {
    ErrorCode.UNKNOWN_MODEL: UnknownModel,
    ErrorCode.UNKNOWN_VERSION: UnknownModel,
    ErrorCode.MODEL_UNAVAILABLE: ServiceUnavailable,
    ErrorCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    ErrorCode.OVERLOADED: Overloaded,
}
_BY_HUNDRED = {
    1: InvalidInput,
    2: ModelError,
    3: WorkerCrashed,
    4: Overloaded,
    5: ServiceUnavailable,
}


def error_for(code: int, message: str) -> Error:
    """The exception for a wire error ``code``; unknown codes become INTERNAL."""
    try:
        code = ErrorCode(code)
    except ValueError:
        return Error(f"unknown error code {code}: {message}", ErrorCode.INTERNAL)
    cls = _BY_CODE.get(code) or _BY_HUNDRED.get(int(code) // 100, Error)
    return cls(message, code)
