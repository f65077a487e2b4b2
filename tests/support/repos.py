"""Model repositories made for one test from tests/models and the demo models."""

import shutil
from pathlib import Path

from graphferry.server.repository import DEMO_ROOT

TEST_MODELS = Path(__file__).resolve().parents[1] / "models"


def make_repo(root: Path, models: dict) -> Path:
    """``models``: name -> top-level config lines to add (e.g. ``{"crashy": "standby = 1"}``)."""
    repo = root / "models"
    for name, extra in models.items():
        source = TEST_MODELS / name if (TEST_MODELS / name).is_dir() else DEMO_ROOT / name
        shutil.copytree(source, repo / name)
        config = repo / name / "config.toml"
        config.write_text(extra + "\n" + config.read_text())
    return repo
