"""A model's ``config.toml``: parsed once, frozen, checked key by key.

Missing keys take the defaults below (documented in docs/models.md); unknown
keys and wrong types are errors naming the file and the key, so a typo never
silently falls back to a default.
"""

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from graphferry.protocol.codes import ErrorCode
from graphferry.protocol.errors import Error

INPUT_DTYPES = ("float32", "float16", "bfloat16", "int64", "int32")
OUTPUT_DTYPES = ("float32",)
LEVELS = ("graph", "node")


class ConfigError(Error):
    default_code = ErrorCode.INTERNAL


@dataclass(frozen=True)
class InputSpec:
    features: int = 32
    dtype: str = "float32"
    edge_features: int = 0
    edge_dtype: str = "float32"


@dataclass(frozen=True)
class OutputSpec:
    level: str = "graph"
    width: int = 1
    dtype: str = "float32"


@dataclass(frozen=True)
class BatchingSpec:
    max_graphs: int = 1024
    max_nodes: int = 500_000
    max_edges: int = 2_000_000
    max_queue_delay_us: int = 0
    # stop gathering once a batch holds this many nodes (0: only the limits
    # above stop it): bounds how long a batch's first requests wait
    preferred_batch_nodes: int = 0


@dataclass(frozen=True)
class ModelConfig:
    instances: int = 1
    device: str = "auto"
    # torch intra-op threads of each CPU worker; 0 keeps torch's default (one
    # per core). One suits small graphs: on few cores, threads of several
    # workers and clients spin against each other.
    cpu_threads: int = 1
    # a model call running longer than this is a hang: the worker is killed
    exec_timeout_s: float = 30.0
    # warm spare workers, loaded but unpublished, promoted when a worker dies
    standby: int = 0
    # re-send requests outstanding at a worker that died, once each, alone
    retry_on_crash: bool = True
    # how long an input that killed a worker while running alone is refused
    quarantine_s: float = 600.0
    # after answering a batch, poll the socket without sleeping for this long:
    # a request that follows soon finds a running CPU (CPU for latency)
    idle_spin_us: int = 0
    input: InputSpec = InputSpec()
    output: OutputSpec = OutputSpec()
    batching: BatchingSpec = BatchingSpec()


_TABLES = {"input": InputSpec, "output": OutputSpec, "batching": BatchingSpec}


def load_config(path: Path) -> ModelConfig:
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return config_from_dict(raw, path)


def config_from_dict(raw: dict, path) -> ModelConfig:
    config = _build(ModelConfig, raw, path, prefix="")
    _check(config, path)
    return config


def _build(cls, raw: dict, path: Path, prefix: str):
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{path}: unknown key '{name}'. Hint: known keys here are "
                              f"{', '.join(prefix + k for k in known)}")
        if key in _TABLES and not prefix:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{name}' must be a table ([{name}])")
            values[key] = _build(_TABLES[key], value, path, prefix=f"{key}.")
            continue
        expected = type(known[key].default)
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"{path}: key '{name}' must be a {expected.__name__}, "
                              f"got {value!r}")
        values[key] = value
    return cls(**values)


def _check(config: ModelConfig, path: Path) -> None:
    def need(ok: bool, key: str, what: str):
        if not ok:
            raise ConfigError(f"{path}: key '{key}' {what}")

    need(config.instances >= 1, "instances", "must be at least 1")
    need(config.cpu_threads >= 0, "cpu_threads", "must be >= 0 (0 = torch's default)")
    need(config.exec_timeout_s > 0, "exec_timeout_s", "must be > 0")
    need(config.standby >= 0, "standby", "must be >= 0")
    need(config.quarantine_s >= 0, "quarantine_s", "must be >= 0")
    need(0 <= config.idle_spin_us <= 1_000_000, "idle_spin_us", "must be in [0, 1000000]")
    need(config.device in ("auto", "cpu") or _is_cuda(config.device), "device",
         "must be 'auto', 'cpu' or 'cuda:N'")
    need(config.input.features >= 0, "input.features", "must be >= 0")
    need(config.input.dtype in INPUT_DTYPES, "input.dtype", f"must be one of {INPUT_DTYPES}")
    need(config.input.edge_features >= 0, "input.edge_features", "must be >= 0")
    need(config.input.edge_dtype in INPUT_DTYPES, "input.edge_dtype",
         f"must be one of {INPUT_DTYPES}")
    need(config.output.level in LEVELS, "output.level", f"must be one of {LEVELS}")
    need(config.output.width >= 1, "output.width", "must be >= 1")
    need(config.output.dtype in OUTPUT_DTYPES, "output.dtype", f"must be one of {OUTPUT_DTYPES}")
    for key in ("max_graphs", "max_nodes", "max_edges"):
        need(getattr(config.batching, key) >= 1, f"batching.{key}", "must be >= 1")
    need(config.batching.max_queue_delay_us >= 0, "batching.max_queue_delay_us", "must be >= 0")
    need(config.batching.preferred_batch_nodes >= 0, "batching.preferred_batch_nodes",
         "must be >= 0")


def _is_cuda(device: str) -> bool:
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()
