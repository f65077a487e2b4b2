"""The client's view of the service: which workers serve which model version.

Built from ``hello``/``topology`` replies (docs/protocol.md §3.2). Picking a
worker takes the one with the fewest of this client's requests outstanding.
"""

import threading
from dataclasses import dataclass

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import ServiceUnavailable, UnknownModel


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    version: int
    latest: bool
    state: str
    workers: tuple  # ((worker id, endpoint), ...)
    level: str
    width: int
    raw: dict  # the whole §3.2 entry (input spec, limits, retry, ...)


class Topology:
    def __init__(self):
        self.lock = threading.Lock()
        self.models = {}  # (name, version) -> ModelInfo
        self.latest = {}  # name -> version
        self.dead = set()  # worker ids this client saw die, until the supervisor agrees
        self.outstanding = {}  # worker id -> requests in flight from this client

    def update(self, raw: dict) -> set:
        """Take a topology (§3.2); returns the ids of the workers it lists."""
        models, latest = {}, {}
        for m in raw["models"]:
            info = ModelInfo(m["name"], m["version"], m["latest"], m["state"],
                             tuple((w["id"], w["endpoint"]) for w in m["workers"]),
                             m["output"]["level"], m["output"]["width"], m)
            models[(info.name, info.version)] = info
            if info.latest:
                latest[info.name] = info.version
        live = {w for info in models.values() for w, _ in info.workers}
        with self.lock:
            self.models, self.latest = models, latest
            self.dead &= live
        return live

    def model(self, name: str, version: int | None) -> ModelInfo:
        key = (name, version if version else self.latest.get(name))
        info = self.models.get(key)
        if info is not None:
            return info
        if any(n == name for n, _ in self.models):
            raise UnknownModel(f"{name} has no version {version}; served: "
                               f"{sorted(v for n, v in self.models if n == name)}",
                               ErrorCode.UNKNOWN_VERSION)
        raise UnknownModel(f"no model named {name!r}; served: "
                           f"{', '.join(sorted(self.latest)) or 'none'}")

    def pick(self, info: ModelInfo):
        """The ready worker with the fewest outstanding requests, counted as taken."""
        if info.state == "failed":
            raise ServiceUnavailable(f"model {info.name} v{info.version} failed to load; "
                                     "see the server log", ErrorCode.MODEL_UNAVAILABLE)
        with self.lock:
            live = [w for w in info.workers if w[0] not in self.dead]
            if not live:
                return None
            worker = min(live, key=lambda w: self.outstanding.get(w[0], 0))
            self.outstanding[worker[0]] = self.outstanding.get(worker[0], 0) + 1
            return worker

    def done(self, worker_id: str) -> None:
        with self.lock:
            self.outstanding[worker_id] -= 1

    def mark_dead(self, worker_id: str) -> None:
        with self.lock:
            self.dead.add(worker_id)
