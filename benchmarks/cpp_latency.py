"""C++ client latency next to its transport floor; prints a small table.

    .venv/bin/python benchmarks/cpp_latency.py [--socket PATH] [--iters N] [--spin-us N]

Builds client_cpp with -DGRAPHFERRY_BUILD_BENCHMARKS=ON (Release) into
client_cpp/build/bench, then measures:

- echo: a C++ DEALER <-> Python ROUTER round trip over ipc:// with a frame the
  size of an `infer` request (the C++ -> Python transport floor);
- model server: the same round trip to a Python ROUTER that answers with the
  gcn's output on a Batch built once (benchmarks/_workload.py, as in
  latency.py): one raw round trip plus the model in another process and
  nothing else, the lower bound for any out-of-process design;
- client: graphferry::Client.infer on the small-graph workload (GCN, one
  graph of 100 nodes / 400 edges / 32 float32 features) at 1 and 8 threads,
  one Client per thread (and, with --spin-us N, at 1 thread with
  Options::spin = N µs).

Without --socket it starts `graphferry serve` with the demo models in a
temporary directory and stops it afterwards (only the process it started).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "client_cpp" / "build" / "bench"
ECHO = """
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    s.send_multipart(s.recv_multipart())
"""


def build() -> Path:
    subprocess.run(["cmake", "-S", REPO / "client_cpp", "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release",
                    "-DGRAPHFERRY_BUILD_BENCHMARKS=ON"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD, "--target", "cpp_latency"], check=True,
                   stdout=subprocess.DEVNULL)
    return BUILD / "cpp_latency"


def parse(line: str) -> dict:
    kind, *fields = line.split()
    return {"kind": kind, **{k: float(v) for k, v in (f.split("=") for f in fields)}}


def run(exe: Path, *args) -> dict:
    out = subprocess.run([str(exe), *map(str, args)], check=True, capture_output=True, text=True)
    return parse(out.stdout.strip().splitlines()[-1])


def wait_ready(socket: str, timeout: float = 180) -> None:
    sys.path.insert(0, str(REPO))
    import graphferry
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with graphferry.Client(socket=socket, timeout=2.0, arena_size=1 << 16) as c:
                if c.health()["status"] == "ready":
                    return
        except graphferry.Error:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server at {socket} not ready within {timeout} s")


def _percentiles(us: list) -> dict:
    us = sorted(us)
    return {"p50_us": us[len(us) // 2], "p99_us": us[int(0.99 * (len(us) - 1))], "calls": len(us)}


def _small_graph():
    import numpy as np
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (100, 32)).astype(np.float32)
    edge_index = rng.integers(0, 100, (2, 400)).astype(np.int64)
    return x, edge_index


def in_process(iters: int, models: Path) -> dict:
    """The served gcn's forward on the same graph, in this process (no transport)."""
    import torch
    from torch_geometric.data import Batch, Data
    from graphferry.server.model_loader import load_model
    from graphferry.server.repository import scan
    entry = next(e for e in scan(models).entries if e.name == "gcn")
    model = load_model(entry, torch.device("cpu"))
    x, edge_index = _small_graph()
    batch = Batch.from_data_list([Data(x=torch.from_numpy(x), edge_index=torch.from_numpy(edge_index))])
    us = []
    with torch.inference_mode():
        for i in range(iters + 200):
            t0 = time.perf_counter()
            model.forward(batch)
            if i >= 200:
                us.append((time.perf_counter() - t0) * 1e6)
    return _percentiles(us)


def python_client(socket: str, iters: int) -> dict:
    import graphferry
    x, edge_index = _small_graph()
    graph = {"x": x, "edge_index": edge_index}
    us = []
    with graphferry.Client(socket=socket) as c:
        for i in range(iters + 200):
            t0 = time.perf_counter()
            c.infer("gcn", graph)
            if i >= 200:
                us.append((time.perf_counter() - t0) * 1e6)
    return _percentiles(us)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", help="a running service (default: start one)")
    ap.add_argument("--iters", type=int, default=5000)
    ap.add_argument("--spin-us", type=int, default=0, metavar="N",
                    help="also measure the C++ client with Options::spin = N µs (1 thread)")
    ap.add_argument("--models", type=Path, default=REPO / "server" / "demo",
                    help="model repository to serve and load gcn from (default: the demo's)")
    args = ap.parse_args()
    exe = build()
    tmp = Path(tempfile.mkdtemp(prefix="gfb-", dir="/tmp"))
    procs = []
    try:
        endpoint = f"ipc://{tmp}/echo.sock"
        echo = subprocess.Popen([sys.executable, "-c", ECHO, endpoint], stdout=subprocess.PIPE,
                                text=True)
        procs.append(echo)
        echo.stdout.readline()
        rows = [("C++ -> Python zmq ipc echo (floor)", run(exe, "echo", endpoint, args.iters, 200))]
        model_endpoint = f"ipc://{tmp}/model.sock"
        model = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "_workload.py"),
                                  "model", model_endpoint, str(args.models)],
                                 stdout=subprocess.PIPE, text=True)
        procs.append(model)
        model.stdout.readline()
        rows.append(("C++ -> Python model server (gcn, no graphferry)",
                     run(exe, "echo", model_endpoint, args.iters, 200)))
        socket = args.socket
        if socket is None:
            socket = str(tmp / "run" / "graphferry.sock")
            server = subprocess.Popen([sys.executable, "-m", "graphferry.server.cli", "serve",
                                       "--socket", socket, "--models", str(args.models)],
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            procs.append(server)
            wait_ready(socket)
        for threads in (1, 8):
            rows.append((f"C++ client, gcn small graph, {threads} thread(s)",
                         run(exe, "client", socket, "gcn", threads, args.iters // threads)))
        if args.spin_us:
            rows.append((f"C++ client, spin {args.spin_us} µs, 1 thread",
                         run(exe, "client", socket, "gcn", 1, args.iters, args.spin_us)))
        try:
            rows.append(("Python client, gcn small graph, 1 thread", python_client(socket, args.iters)))
        except Exception as e:  # noqa: BLE001 - a benchmark row, not a test
            print(f"python client row skipped: {e!r}", file=sys.stderr)
        try:
            r = in_process(args.iters, args.models)
            if r:
                rows.append(("in-process gcn forward (no transport)", r))
        except Exception as e:  # noqa: BLE001
            print(f"in-process row skipped: {e!r}", file=sys.stderr)
        print(f"{'measurement':48} {'p50 µs':>9} {'p99 µs':>9} {'calls':>7}")
        for name, r in rows:
            print(f"{name:48} {r['p50_us']:9.1f} {r['p99_us']:9.1f} {int(r['calls']):7d}")
        print(f"(cpus: {os.cpu_count()})")
        p50 = {name: r["p50_us"] for name, r in rows}
        floor, inproc = p50[rows[0][0]], p50.get("in-process gcn forward (no transport)")
        if inproc:
            for name in (n for n in p50 if n.startswith(("C++ client", "C++ -> Python model"))
                         and "8 thread" not in n):  # c=1 rows: the target's measure
                print(f"overhead ÷ floor, {name}: {(p50[name] - inproc) / floor:.2f}")
    finally:
        for p in reversed(procs):  # only what this script started
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
