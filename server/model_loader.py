"""Loading a user's ``model.py`` (worker only: it imports torch).

The model API is small on purpose: ``class Model`` with ``load(self, device)``
and ``forward(self, batch)``; batching graphs is the server's job.
"""

import importlib.util
import sys

import torch

from .repository import ModelEntry


def configure_threads(cpu_threads: int) -> None:
    if cpu_threads:
        torch.set_num_threads(cpu_threads)


def resolve_device(configured: str, instance: int) -> torch.device:
    if configured == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", instance % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(configured)


def load_model(entry: ModelEntry, device: torch.device):
    module_name = f"graphferry_model_{entry.name}_{entry.version}"
    spec = importlib.util.spec_from_file_location(module_name, entry.model_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, "Model"):
        raise TypeError(f"{entry.model_file} defines no class Model")
    model = module.Model()
    model.load(device)
    return model
