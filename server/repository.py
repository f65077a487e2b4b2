"""The model repository: ``<root>/<name>/config.toml`` and ``<root>/<name>/<version>/model.py``.

The latest version directory of each model is served. A model whose config or
layout is broken is reported as failed, with the reason, and the others are
still served.
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import ConfigError, ModelConfig, config_from_dict, load_config

DEMO_ROOT = Path(__file__).parent / "demo"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: int
    config: ModelConfig
    model_file: Path

    def to_json(self) -> dict:
        """What the supervisor hands a worker it spawns (so both see one config)."""
        return {"name": self.name, "version": self.version, "config": asdict(self.config),
                "model_file": str(self.model_file)}

    @classmethod
    def from_json(cls, raw: dict) -> "ModelEntry":
        return cls(raw["name"], raw["version"],
                   config_from_dict(raw["config"], raw["model_file"]), Path(raw["model_file"]))


@dataclass(frozen=True)
class Repository:
    root: Path
    entries: tuple[ModelEntry, ...]
    failures: dict  # model name -> why it cannot be served


def scan(root: Path) -> Repository:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"model repository {root} is not a directory. "
                          "Hint: pass --models DIR or leave it out for the demo models")
    entries, failures = [], {}
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            entries.append(_entry(model_dir))
        except ConfigError as exc:
            failures[model_dir.name] = exc.message
    return Repository(root, tuple(entries), failures)


def _entry(model_dir: Path) -> ModelEntry:
    if not _NAME.match(model_dir.name):
        raise ConfigError(f"{model_dir}: model names take letters, digits, '_', '.', '-'")
    config = load_config(model_dir / "config.toml")
    versions = [int(p.name) for p in model_dir.iterdir()
                if p.is_dir() and p.name.isdigit() and (p / "model.py").is_file()]
    if not versions:
        raise ConfigError(f"{model_dir}: no version directory with a model.py "
                          f"(expected {model_dir}/1/model.py)")
    latest = max(versions)
    return ModelEntry(model_dir.name, latest, config, model_dir / str(latest) / "model.py")
