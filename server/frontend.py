"""The supervisor's control operations (docs/protocol.md §3).

This is the boundary where exceptions become error replies: handlers raise
graphferry errors, ``handle`` turns them into codes and messages. Anything
else is a bug in graphferry: it is logged with its traceback and the client
gets INTERNAL, never the traceback.
"""

import logging
import os
import time

from graphferry import __version__
from graphferry.protocol import wire
from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import Error, InvalidInput, UnknownModel
from graphferry.shm.segment import PREFIX

from .status_page import Field

log = logging.getLogger("graphferry.supervisor")


def handle(sup, identity: bytes, frame: bytes) -> bytes:
    request_id = 0
    try:
        message = wire.decode_request(frame)
        request_id = message["id"]
        operation = OPERATIONS.get(message["op"])
        if operation is None:
            raise InvalidInput(f"unknown op {message['op']!r}; the supervisor takes "
                               f"{', '.join(OPERATIONS)}", ErrorCode.UNKNOWN_OP)
        return wire.ok_reply(request_id, **operation(sup, identity, message))
    except wire.RequestError as exc:
        return wire.error_reply(exc.request_id, exc)
    except Error as exc:
        return wire.error_reply(request_id, exc)
    except Exception:
        log.exception("control operation failed")
        return wire.error_reply(request_id, Error("internal error; see the server log",
                                                  ErrorCode.INTERNAL))


def hello(sup, identity: bytes, message: dict) -> dict:
    client = message.get("client") or {}
    regions = message.get("regions", [])
    if not isinstance(client, dict) or not isinstance(regions, list) or not all(
            isinstance(r, str) and r.startswith(PREFIX) for r in regions):
        raise InvalidInput("hello needs 'client' (map) and 'regions' (list of graphferry- "
                           "segment names)", ErrorCode.MALFORMED_MESSAGE)
    pid = client.get("pid")
    if type(pid) is int and pid > 0:
        sup.register_client(identity, pid, str(client.get("name", "")), regions)
    sup.reap_workers()
    return {"server": {"version": __version__, "protocol": wire.PROTOCOL_VERSION,
                       "pid": os.getpid()},
            "limits": {"inline_output_bytes": wire.INLINE_OUTPUT_BYTES,
                       "max_message_bytes": wire.MAX_MESSAGE_BYTES},
            "topology": topology_map(sup)}


def topology(sup, identity: bytes, message: dict) -> dict:
    sup.reap_workers()
    return {"topology": topology_map(sup)}


def topology_map(sup) -> dict:
    latest = {}
    for name, version in sup.models:
        latest[name] = max(version, latest.get(name, version))
    return {"generation": sup.generation,
            "models": [model_map(m, latest[m.entry.name]) for m in sup.models.values()]}


def model_map(model, latest_version: int) -> dict:
    entry, config = model.entry, model.entry.config
    return {"name": entry.name, "version": entry.version,
            "latest": entry.version == latest_version, "state": model_state(model),
            "retry": config.retry_on_crash,
            "workers": [{"id": w.id, "endpoint": w.endpoint} for w in model.ready_workers()],
            "input": {"features": config.input.features, "dtype": config.input.dtype,
                      "edge_features": config.input.edge_features,
                      "edge_dtype": config.input.edge_dtype if config.input.edge_features
                      else ""},
            "output": {"level": config.output.level, "width": config.output.width,
                       "dtype": config.output.dtype},
            "limits": {"max_graphs": config.batching.max_graphs,
                       "max_nodes": config.batching.max_nodes,
                       "max_edges": config.batching.max_edges}}


def model_state(model) -> str:
    if model.failed:
        return "failed"
    return "ready" if model.ready_workers() else "starting"


def metadata(sup, identity: bytes, message: dict) -> dict:
    name = wire.field(message, "model", str)
    version = wire.field(message, "version", int, default=0)
    versions = sorted(v for n, v in sup.models if n == name)
    if not versions:
        raise UnknownModel(f"no model named {name!r}; served: "
                           f"{', '.join(sorted({n for n, _ in sup.models})) or 'none'}")
    if version and version not in versions:
        raise UnknownModel(f"{name} has no version {version}; served: {versions}",
                           ErrorCode.UNKNOWN_VERSION)
    model = sup.models[(name, version or versions[-1])]
    config = model.entry.config
    return {**model_map(model, versions[-1]), "versions": versions,
            "instances": config.instances, "standby": config.standby,
            "device": config.device, "exec_timeout_s": config.exec_timeout_s,
            "max_queue_delay_us": config.batching.max_queue_delay_us}


def health(sup, identity: bytes, message: dict) -> dict:
    sup.reap_workers()
    states = [model_state(m) for m in sup.models.values()]
    failures = list(sup.config.repository.failures)
    if states and all(s == "ready" for s in states) and not failures:
        status = "ready"
    elif states and all(s == "failed" for s in states) or not states:
        status = "failed"
    elif "ready" in states:
        status = "degraded"
    else:
        status = "starting"
    models = [{"name": m.entry.name, "version": m.entry.version, "state": model_state(m),
               "ready_workers": len(m.ready_workers()),
               "instances": m.entry.config.instances, "reason": m.failed}
              for m in sup.models.values()]
    models += [{"name": name, "version": 0, "state": "failed", "ready_workers": 0,
                "instances": 0, "reason": why}
               for name, why in sup.config.repository.failures.items()]
    return {"status": status, "models": models}


def stats(sup, identity: bytes, message: dict) -> dict:
    return {"uptime_s": time.monotonic() - sup.started, "clients": len(sup.clients),
            "models": [model_stats(m) for m in sup.models.values()]}


def model_stats(model) -> dict:
    workers = model.all_workers()
    total = {key: model.retired.get(key, 0) + sum(w.page[key] for w in workers)
             for key in (Field.REQUESTS, Field.GRAPHS, Field.ERRORS, Field.BATCHES)}
    hist = {}
    for worker in workers:
        for bound, count in worker.page.histogram().items():
            hist[bound] = hist.get(bound, 0) + count
    return {"name": model.entry.name, "version": model.entry.version,
            "requests": total[Field.REQUESTS], "graphs": total[Field.GRAPHS],
            "errors": total[Field.ERRORS], "batches": total[Field.BATCHES],
            "max_batch_requests": max((w.page[Field.MAX_BATCH_REQUESTS] for w in workers),
                                      default=0),
            "batch_requests_hist": hist, "restarts": model.restarts,
            "quarantined": len(model.quarantine),
            "workers": [worker_stats(w, "active") for w in model.workers.values()],
            "standby": [worker_stats(w, "standby") for w in model.standbys.values()]}


def worker_stats(worker, role: str) -> dict:
    return {"id": worker.id, "pid": worker.proc.pid, "role": role,
            "state": "ready" if worker.ready else "starting",
            "requests": worker.page[Field.REQUESTS], "batches": worker.page[Field.BATCHES]}


def worker_exit(sup, identity: bytes, message: dict) -> dict:
    """How did a worker end? Clients settle their outstanding requests by it (§3.6)."""
    worker_id = wire.field(message, "worker", str)
    sup.reap_workers()
    for model in sup.models.values():
        death = model.deaths.get(worker_id)
        if death is not None:
            return {"state": "dead", "cause": death.cause, "batch_size": death.batch_size,
                    "executing": [[e.inode, e.offset, e.attempt] for e in death.entries]}
        if any(w.id == worker_id for w in model.all_workers()):
            return {"state": "alive"}
    return {"state": "unknown"}


def bye(sup, identity: bytes, message: dict) -> dict:
    sup.forget_client(identity, unlink=False)  # the client unlinks its own regions
    return {}


OPERATIONS = {"hello": hello, "topology": topology, "metadata": metadata, "health": health,
              "stats": stats, "worker_exit": worker_exit, "bye": bye}
