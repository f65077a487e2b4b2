"""Spinning: a worker after a batch (idle_spin_us) and a client while it waits
(Client(spin_us=...)) poll without sleeping for a while, then sleep."""

import time

import pytest
import torch

from conftest import hold_server, release_server
from support import crashy, procs, reference
from support.reference import graph
from support.repos import make_repo
from support.server import Server

SPIN_S = 0.3


def cpu_over(pid: int, seconds: float) -> float:
    before = procs.cpu_seconds([pid])
    time.sleep(seconds)
    return procs.cpu_seconds([pid]) - before


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("spin"),
                     {"gcn": f"idle_spin_us = {int(SPIN_S * 1e6)}", "crashy": ""})
    server = hold_server(Server(models=repo).start())
    yield server
    release_server(server)


def test_worker_spins_after_a_batch_then_sleeps(server):
    with server.client() as client:
        pid = next(m for m in client.stats()["models"] if m["name"] == "gcn")["workers"][0]["pid"]
        g = graph(10, 20, seed=3)
        assert torch.allclose(client.infer("gcn", g), reference.run("gcn", g), atol=1e-5)
        time.sleep(SPIN_S + 0.2)
        assert cpu_over(pid, 0.5) < 0.1  # idle: asleep in poll
        client.infer("gcn", g)
        assert cpu_over(pid, SPIN_S) > SPIN_S / 3  # awake, polling
        time.sleep(0.2)
        assert cpu_over(pid, 0.5) < 0.1  # and asleep again


def test_client_spins_while_waiting_then_sleeps(server):
    """A call that waits 0.3 s (crashy's slow marker) spends about spin_us on the
    CPU and sleeps the rest; without spin_us it hardly uses the CPU."""
    slow, quick = crashy.graph(21, crashy.SLOW), crashy.graph(22)
    cpu = {}
    for spin_us in (0, 100_000):
        with server.client(spin_us=spin_us) as client:
            assert torch.allclose(client.infer("crashy", quick), crashy.expected(quick),
                                  atol=1e-5)  # connected: the timed call only waits
            before = time.thread_time()
            out = client.infer("crashy", slow)
            cpu[spin_us] = time.thread_time() - before
            assert torch.allclose(out, crashy.expected(slow), atol=1e-5)
    assert cpu[0] < 0.03, cpu  # asleep in poll
    assert 0.03 < cpu[100_000] < 0.25, cpu  # ~0.1 s awake, then asleep for the rest


@pytest.mark.parametrize("spin_us", [-1, 1_000_001])
def test_client_refuses_a_spin_out_of_range(server, spin_us):
    with pytest.raises(ValueError, match="spin_us"):
        server.client(spin_us=spin_us)
