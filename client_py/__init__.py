"""graphferry: send PyTorch Geometric graphs to a crash-isolated inference service.

    import graphferry
    with graphferry.Client() as client:
        scores = client.infer("gcn", data)

Errors are ``graphferry.Error`` subclasses carrying a stable ``.code``
(docs/protocol.md §6).

``Client`` is imported on first use, so that importing a subpackage
(``graphferry.shm``, ``graphferry.protocol``) pulls in neither zmq nor torch.
"""

__version__ = "0.1.0"

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import (DeadlineExceeded, Error, InvalidInput, ModelError,
                                        Overloaded, ServiceUnavailable, UnknownModel,
                                        WorkerCrashed)

__all__ = ["Client", "Error", "ErrorCode", "InvalidInput", "UnknownModel", "ModelError",
           "WorkerCrashed", "DeadlineExceeded", "Overloaded", "ServiceUnavailable",
           "__version__"]


def __getattr__(name: str):
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError(f"module 'graphferry' has no attribute {name!r}")
