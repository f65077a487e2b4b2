"""idle_spin_us: after answering a batch a worker polls without sleeping, then sleeps."""

import time

import torch

from support import procs, reference
from support.reference import graph
from support.repos import make_repo
from support.server import Server

SPIN_S = 0.3


def cpu_over(pid: int, seconds: float) -> float:
    before = procs.cpu_seconds([pid])
    time.sleep(seconds)
    return procs.cpu_seconds([pid]) - before


def test_worker_spins_after_a_batch_then_sleeps(tmp_path):
    repo = make_repo(tmp_path, {"gcn": f"idle_spin_us = {int(SPIN_S * 1e6)}"})
    server = Server(models=repo).start()
    try:
        with server.client() as client:
            pid = client.stats()["models"][0]["workers"][0]["pid"]
            g = graph(10, 20, seed=3)
            assert torch.allclose(client.infer("gcn", g), reference.run("gcn", g), atol=1e-5)
            time.sleep(SPIN_S + 0.2)
            assert cpu_over(pid, 0.5) < 0.1  # idle: asleep in poll
            client.infer("gcn", g)
            assert cpu_over(pid, SPIN_S) > SPIN_S / 3  # awake, polling
            time.sleep(0.2)
            assert cpu_over(pid, 0.5) < 0.1  # and asleep again
    finally:
        server.stop()
