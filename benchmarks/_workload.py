"""Helpers for benchmarks/latency.py: the workload, the echo peer, load processes.

Kept apart from latency.py so that the 'spawn' children of multiprocessing
import only this small module (plus graphferry and torch), not the driver.
"""

import os
import sys
import threading
import time
from pathlib import Path

from _procs import alive, children, descendants, wait_gone  # noqa: F401 (used by latency.py)
from _procs import segments as shm_segments  # noqa: F401

SMALL = (100, 400)        # nodes, edges: the small-graph workload
LARGE = (10_000, 50_000)  # the large case
FEATURES = 32
MODEL = "gcn"


def graph(num_nodes: int, num_edges: int, features: int = FEATURES, seed: int = 0):
    """A random PyG graph, the same recipe as tests/support/reference.graph."""
    import torch
    from torch_geometric.data import Data

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, features, generator=generator)
    edge_index = torch.randint(0, max(num_nodes, 1), (2, num_edges), generator=generator)
    return Data(x=x, edge_index=edge_index)


# -- machine -------------------------------------------------------------------
def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import platform

    import torch
    import torch_geometric
    import zmq
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version(),
            "kernel": platform.release(), "loadavg": os.getloadavg()}


# -- the peers at concurrency 1: the transport floor's and the model server -----
def peer_main(endpoint: str, models_root: str | None = None, spin_us: int = 0) -> None:
    """ROUTER that answers every message: with the message itself (the floor's
    second process) or, given ``models_root``, with the output of its gcn run
    on the benchmark's small graph, batched once up front (the model server:
    one raw pyzmq round trip plus the model in another process, nothing else).
    ``spin_us``: after each answer, poll for the next message without sleeping
    for that long, yielding the CPU between polls (a worker's idle_spin_us)."""
    import zmq

    answer = None
    if models_root is not None:
        answer = model_answer(models_root)
    context = zmq.Context(io_threads=1)
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(endpoint)
    print("ready", flush=True)
    spin_ns, spin_until = spin_us * 1000, 0
    try:
        while True:
            spin_wait(socket, spin_until)
            frames = socket.recv_multipart()
            if answer is not None:
                frames[-1] = answer()
            socket.send_multipart(frames)
            spin_until = time.monotonic_ns() + spin_ns
    except KeyboardInterrupt:
        pass
    finally:
        socket.close(0)
        context.term()


def spin_wait(socket, until_ns: int) -> None:
    """Until ``until_ns`` (time.monotonic_ns), poll ``socket`` for input without
    sleeping, yielding the CPU between polls; the caller's recv then blocks."""
    import zmq

    while time.monotonic_ns() < until_ns and not socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        os.sched_yield()


def model_answer(models_root: str):
    """The gcn of ``models_root``, loaded as a worker loads it, on a prebuilt Batch."""
    import torch
    from torch_geometric.data import Batch

    from graphferry.server.allocator import keep_scratch_memory
    from graphferry.server.model_loader import configure_threads, load_model, resolve_device
    from graphferry.server.repository import scan

    keep_scratch_memory()
    entry = next(e for e in scan(Path(models_root)).entries if e.name == MODEL)
    if entry.config.cpu_threads:
        configure_threads(entry.config.cpu_threads)
    device = resolve_device(entry.config.device, 0)
    model = load_model(entry, device)
    batch = Batch.from_data_list([graph(*SMALL, seed=1)]).to(device)

    def answer() -> bytes:
        with torch.inference_mode():
            return model.forward(batch).cpu().numpy().tobytes()
    return answer


# -- a load process for graphferry at concurrency > 1 --------------------------
def load_process(socket_path: str, threads: int, nodes: int, edges: int, seed: int,
                 warmup: int, start_at, duration: float, ready, results) -> None:
    """One client process: ``threads`` threads share one Client and call infer in a loop.

    Every process waits on ``ready`` (a Barrier) after warming up; the parent
    then sets ``start_at`` (time.monotonic, system-wide on Linux). Requests
    that complete inside [start, start + duration] are counted; their
    latencies (ns) go back through ``results`` with the client's arena name,
    so the parent can check it was unlinked.
    """
    import torch

    import graphferry

    torch.set_num_threads(1)
    g = graph(nodes, edges, seed=seed)
    client = graphferry.Client(socket=socket_path, timeout=60.0, name=f"bench-{os.getpid()}")
    arena = client._arena.name  # noqa: SLF001 (benchmark bookkeeping only)
    per_thread = [None] * threads
    errors = []

    def run(index: int) -> None:
        try:
            for _ in range(warmup):
                client.infer(MODEL, g)
            ready.wait()
            while start_at.value == 0.0:
                time.sleep(0.0005)
            start = start_at.value
            end = start + duration
            while time.monotonic() < start:
                time.sleep(0.0002)
            lat = []
            clock = time.perf_counter_ns
            while True:
                t0 = clock()
                client.infer(MODEL, g)
                t1 = clock()
                if time.monotonic() > end:
                    break
                lat.append(t1 - t0)
            per_thread[index] = lat
        except BaseException as exc:  # report, don't hang the barrier
            errors.append(f"{type(exc).__name__}: {exc}")
            try:
                ready.abort()
            except Exception:
                pass

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    client.close()
    latencies = [x for lat in per_thread if lat for x in lat]
    results.put({"pid": os.getpid(), "arena": arena, "latencies": latencies,
                 "errors": errors})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "echo":
        peer_main(sys.argv[2])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "model":
        peer_main(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else 0)
    else:
        sys.exit("usage: _workload.py echo ENDPOINT | model ENDPOINT MODELS_ROOT [SPIN_US]")
