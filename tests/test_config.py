"""Model repository and config.toml: defaults, and errors that name file and key."""

import pytest

from graphferry.server.config import ConfigError, ModelConfig, load_config
from graphferry.server.repository import DEMO_ROOT, scan


def write(tmp_path, text: str, name: str = "m"):
    model_dir = tmp_path / name
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "model.py").write_text("class Model: pass\n")
    (model_dir / "config.toml").write_text(text)
    return model_dir / "config.toml"


def test_missing_keys_take_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config == ModelConfig()
    assert config.instances == 1 and config.device == "auto" and config.cpu_threads == 1
    assert config.output.level == "graph" and config.batching.max_queue_delay_us == 0
    assert config.idle_spin_us == 0


def test_values_are_read(tmp_path):
    config = load_config(write(tmp_path, 'instances = 2\ndevice = "cuda:1"\n'
                                         'exec_timeout_s = 2\nstandby = 1\n'
                                         'idle_spin_us = 500\n'
                                         '[output]\nlevel = "node"\nwidth = 4\n'
                                         '[batching]\nmax_graphs = 9\n'
                                         'preferred_batch_nodes = 500\n'))
    assert config.exec_timeout_s == 2.0 and config.standby == 1
    assert config.idle_spin_us == 500
    assert config.batching.preferred_batch_nodes == 500
    assert config.instances == 2 and config.device == "cuda:1"
    assert config.output.level == "node" and config.output.width == 4
    assert config.batching.max_graphs == 9


@pytest.mark.parametrize("text, key", [
    ("instancez = 2", "instancez"),  # unknown keys ...
    ("[output]\nwidht = 3", "output.widht"),
    ("[outputs]\nwidth = 3", "outputs"),
    ('instances = "2"', "instances"),  # ... and wrong types
    ("[output]\nwidth = 2.5", "output.width"),
    ("[batching]\nmax_nodes = true", "batching.max_nodes"),
    ("output = 3", "output"),
])
def test_unknown_keys_and_wrong_types_name_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in info.value.message and f"'{key}'" in info.value.message


@pytest.mark.parametrize("text, key", [
    ("instances = 0", "instances"),
    ('device = "tpu"', "device"),
    ('[output]\nlevel = "edge"', "output.level"),
    ('[input]\ndtype = "float64"', "input.dtype"),
    ("[batching]\nmax_queue_delay_us = -1", "batching.max_queue_delay_us"),
    ("idle_spin_us = -1", "idle_spin_us"),
    ("idle_spin_us = 2000000", "idle_spin_us"),
])
def test_bad_values_are_errors(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert f"'{key}'" in info.value.message


def test_broken_model_does_not_hide_the_others(tmp_path):
    write(tmp_path, "", name="good")
    write(tmp_path, "nonsense = 1", name="bad")
    (tmp_path / "empty").mkdir()
    repository = scan(tmp_path)
    assert [e.name for e in repository.entries] == ["good"]
    assert set(repository.failures) == {"bad", "empty"}
    assert "nonsense" in repository.failures["bad"]


def test_latest_version_is_served(tmp_path):
    path = write(tmp_path, "")
    for version in ("2", "10"):
        (path.parent / version).mkdir()
        (path.parent / version / "model.py").write_text("class Model: pass\n")
    (entry,) = scan(tmp_path).entries
    assert entry.version == 10 and entry.model_file == path.parent / "10" / "model.py"


def test_demo_repository_has_gcn_and_sage():
    entries = {e.name: e for e in scan(DEMO_ROOT).entries}
    assert set(entries) == {"gcn", "sage"}
    assert entries["gcn"].config.output.level == "graph" and entries["gcn"].config.output.width == 8
    assert entries["sage"].config.output.level == "node"
