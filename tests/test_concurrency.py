"""Many callers at once: threads sharing one client, and several client processes."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import torch

from support import reference
from support.reference import graph

CLIENT_PROC = Path(__file__).parent / "support" / "client_proc.py"


def test_eight_threads_share_one_client(client):
    results, failures = {}, []

    def work(t: int):
        try:
            for i in range(40):
                name = ("gcn", "sage")[(t + i) % 2]
                g = graph(10 + (t * 31 + i * 7) % 200, seed=t * 100 + i)
                results[(t, i)] = (name, g, client.infer(name, g))
        except Exception as exc:  # noqa: BLE001 - report any failure from the thread
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]
    assert len(results) == 8 * 40
    for name, g, out in results.values():
        assert torch.allclose(out, reference.run(name, g), atol=1e-5)


def test_four_client_processes_at_once(server):
    procs = [subprocess.Popen([sys.executable, str(CLIENT_PROC), str(server.socket), str(seed),
                               "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in range(4)]
    try:
        outcomes = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outcomes):
        assert p.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result == {"count": 60, "wrong": 0, "errors": 0}, err


def test_concurrency_forms_batches_of_several_requests(client):
    # Run after the tests above in this module; run a burst of its own too.
    threads = [threading.Thread(target=lambda: [client.infer("gcn", graph(50, seed=i))
                                                for i in range(30)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stats = {m["name"]: m for m in client.stats()["models"]}
    assert stats["gcn"]["max_batch_requests"] > 1
    assert sum(n for bound, n in stats["gcn"]["batch_requests_hist"].items() if bound != "1") > 0
    assert stats["gcn"]["requests"] > stats["gcn"]["batches"]
