#!/usr/bin/env python
"""graphferry latency and throughput against the in-process call and the transport floor.

One run measures, on the same workload (demo model ``gcn``; a graph of 100
nodes, 400 edges, 32 float32 features; graph-level output of width 8):

1. the model called in-process (loaded as the worker loads it, same torch
   thread setting, forward under ``torch.inference_mode()``);
2. the transport floor: a raw pyzmq DEALER (this process) / ROUTER (a
   second process, echoing) round trip of a ~100-byte msgpack message over
   ``ipc://``;
3. the model server: a raw pyzmq ROUTER in a second process that runs the
   same model on a Batch built once and answers with its output, so one
   round trip plus the model out of process with nothing else: the lower
   bound for any design that runs the model in another process;
4. graphferry: a real ``graphferry serve`` process and ``Client.infer``
   (and, with ``--client-spin-us N``, a second Client with ``spin_us=N``, and
   a second model server with both of its ends spinning N µs).

Concurrency 1 is measured in interleaved rounds (in-process, floor,
graphferry, repeated) so that load from other jobs on the machine hits the
three alike. Concurrency 8 and 32 come from several client processes, each
with one Client shared by several threads, for a fixed duration. The large
case (10,000 nodes, 50,000 edges) is compared at concurrency 1.

    .venv/bin/python benchmarks/latency.py [--quick] [--json OUT]

See benchmarks/README.md for what each column means.
"""

import argparse
import datetime
import json
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _workload as wl  # noqa: E402
from _procs import cpu_seconds  # noqa: E402

OVERHEAD_TARGET = 2.0       # (graphferry p50 - in-process p50) / floor p50, at c=1
IDLE_GAP_S = 0.001         # "in-process after 1 ms idle": about one round trip of idling
THROUGHPUT_TARGET = 2000.0  # graphs/s at c=32


# -- numbers -------------------------------------------------------------------
def summary(name: str, lat_ns, concurrency: int = 1, duration_s: float | None = None,
            **extra) -> dict:
    a = np.asarray(lat_ns, dtype=np.float64) / 1000.0  # µs
    if duration_s is None:  # sequential: throughput is samples over the time they took
        duration_s = a.sum() / 1e6
    return {"case": name, "concurrency": concurrency, "samples": int(a.size),
            "p50_us": float(statistics.median(a)) if a.size else float("nan"),
            "p99_us": float(np.percentile(a, 99)) if a.size else float("nan"),
            "mean_us": float(a.mean()) if a.size else float("nan"),
            "throughput_gps": a.size / duration_s if duration_s else float("nan"),
            **extra}


def timed(fn, n: int, out: list) -> None:
    """Time ``fn`` n times; a function that returns ns timed itself (idle gaps)."""
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        own = fn()
        out.append(own if own is not None else clock() - t0)


def own_cpu_seconds() -> float:
    """This process's CPU time, all its threads (zmq's I/O threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the benchmark ---------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="gf-bench-", dir="/tmp"))
        self.socket = self.dir / "run" / "graphferry.sock"
        self.server = None
        self.peers = []
        self.client = self.spin_client = None
        self.loaders = []
        self.arenas = set()
        self.notes = []
        self.shm_before = wl.shm_segments()

    # -- set-up ----------------------------------------------------------------
    def in_process_model(self):
        import torch

        from graphferry.server.allocator import keep_scratch_memory
        from graphferry.server.model_loader import configure_threads, load_model, resolve_device
        from graphferry.server.repository import DEMO_ROOT, scan

        # The worker's malloc settings too: without them every large-graph call
        # here page-faults its scratch memory and the worker looks faster.
        keep_scratch_memory()
        self.notes.append("malloc: the worker's settings (server/allocator.py), in-process too")
        root = Path(self.args.models) if self.args.models else DEMO_ROOT
        entry = next(e for e in scan(root).entries if e.name == wl.MODEL)
        self.notes.append(f"model repository: {root} ({wl.MODEL}: idle_spin_us="
                          f"{entry.config.idle_spin_us}, preferred_batch_nodes="
                          f"{entry.config.batching.preferred_batch_nodes})")
        threads = entry.config.cpu_threads
        if threads:
            configure_threads(threads)  # exactly what the worker does at boot
            self.notes.append(f"torch intra-op threads: {torch.get_num_threads()} "
                              f"(cpu_threads={threads} from {wl.MODEL}'s config, as the "
                              "worker sets it)")
        else:
            self.notes.append(f"torch intra-op threads: {torch.get_num_threads()} "
                              "(cpu_threads=0: torch's default, as in the worker)")
        self.device = resolve_device(entry.config.device, 0)
        self.model = load_model(entry, self.device)
        self.notes.append(f"in-process device: {self.device}")

    def start_peers(self):
        """The floor's echo and the model server, each in a process of its own."""
        from graphferry.server.repository import DEMO_ROOT

        root = str(self.args.models or DEMO_ROOT)
        self.floor_endpoint = f"ipc://{self.dir}/floor.sock"
        self.model_endpoint = f"ipc://{self.dir}/model.sock"
        self.spin_model_endpoint = f"ipc://{self.dir}/model-spin.sock"
        peers = [["echo", self.floor_endpoint], ["model", self.model_endpoint, root]]
        if self.args.client_spin_us:
            peers.append(["model", self.spin_model_endpoint, root,
                          str(self.args.client_spin_us)])
        for args in peers:
            self.peers.append(subprocess.Popen([sys.executable, str(HERE / "_workload.py"),
                                                *args], stdout=subprocess.PIPE,
                                               stdin=subprocess.DEVNULL))

    def start_server(self):
        self.log_path = self.dir / "server.log"
        self.log = open(self.log_path, "wb")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "graphferry.server.cli", "serve", "--socket", str(self.socket),
             *(["--models", self.args.models] if self.args.models else [])],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 180.0):
        import graphferry
        for peer in self.peers:
            if peer.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"benchmark peer {peer.args[2:]} did not start")
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited with {self.server.returncode}:\n"
                                   f"{self.server_log()}")
            try:
                with graphferry.Client(socket=self.socket, timeout=2.0,
                                       arena_size=1 << 16) as client:
                    last = client.health()
                    if last["status"] == "ready":
                        return
            except graphferry.Error:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout}s (last health {last}):\n"
                           f"{self.server_log()}")

    def server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def server_pids(self) -> list[int]:
        return [self.server.pid] + wl.descendants(self.server.pid)

    def model_stats(self) -> dict:
        stats = self.client.stats()
        return next(m for m in stats["models"] if m["name"] == wl.MODEL)

    # -- concurrency 1 -----------------------------------------------------------
    def sequential(self, nodes: int, edges: int, samples: int, warmup: int,
                   with_floor: bool, label: str) -> list[dict]:
        import torch
        from torch_geometric.data import Batch

        g = wl.graph(nodes, edges, seed=1)
        batch = Batch.from_data_list([g]).to(self.device)
        model, device = self.model, self.device

        def forward():
            with torch.inference_mode():
                model.forward(batch).cpu()

        def batch_and_forward():
            with torch.inference_mode():
                model.forward(Batch.from_data_list([g]).to(device)).cpu()

        def infer():
            self.client.infer(wl.MODEL, g)

        # same answer from the server as from the in-process call
        with torch.inference_mode():
            expected = model.forward(batch).cpu()
        got = self.client.infer(wl.MODEL, g)
        if not torch.allclose(got, expected, atol=1e-5):
            raise AssertionError(f"graphferry and in-process outputs differ ({label}): "
                                 f"max |diff| {(got - expected).abs().max().item()}")

        def idle_then_forward():
            # What a server pays that a hot loop does not: the call comes after
            # the CPU has idled (a round trip's worth); the sleep is not timed.
            time.sleep(IDLE_GAP_S)
            t0 = time.perf_counter_ns()
            forward()
            return time.perf_counter_ns() - t0

        cases = [("in-process", forward), ("in-process after 1 ms idle", idle_then_forward),
                 ("in-process + Batch.from_data_list", batch_and_forward),
                 ("graphferry", infer)]
        if with_floor and self.spin_client is not None:
            spin_client = self.spin_client

            def infer_spinning():
                spin_client.infer(wl.MODEL, g)

            cases.append((f"graphferry, client spin_us={self.args.client_spin_us}",
                          infer_spinning))
        if with_floor:
            sock, model_sock = dealer(self.floor_endpoint), dealer(self.model_endpoint)
            spin_sock = dealer(self.spin_model_endpoint) if self.args.client_spin_us else None
            model_socks = [model_sock] + ([spin_sock] if spin_sock is not None else [])
            message = {"v": 1, "op": "infer", "model": wl.MODEL, "version": 1,
                       "region": "graphferry-0123456789abcdef0123", "offset": 4096,
                       "length": 21440, "id": 1, "pad": "x" * 8}
            self.floor_bytes = len(msgpack.packb(message))

            def floor():
                message["id"] += 1
                sock.send(msgpack.packb(message))
                reply = msgpack.unpackb(sock.recv())
                assert reply["id"] == message["id"]

            def model_server():
                message["id"] += 1
                model_sock.send(msgpack.packb(message))
                model_sock.recv()

            for s in model_socks:  # the model servers compute what the worker does
                s.send(b"check")
                answer = np.frombuffer(s.recv(), dtype=np.float32)
                if not np.allclose(answer, expected.numpy().ravel(), atol=1e-5):
                    raise AssertionError("a model server's output differs from the "
                                         "in-process one")
            cases.insert(2, ("transport floor", floor))
            cases.insert(3, ("model server", model_server))
            if spin_sock is not None:
                spin_ns = self.args.client_spin_us * 1000

                def model_server_spinning():
                    message["id"] += 1
                    spin_sock.send(msgpack.packb(message))
                    wl.spin_wait(spin_sock, time.monotonic_ns() + spin_ns)
                    spin_sock.recv()

                cases.insert(4, (f"model server, both ends spin_us={self.args.client_spin_us}",
                                 model_server_spinning))

        lat = {name: [] for name, _ in cases}
        for _, fn in cases:
            for _ in range(warmup):
                fn()
        cpu = {name: [0.0, 0.0] for name, _ in cases}  # this process, the server's
        server = self.server_pids()
        rounds = max(1, min(self.args.rounds, samples))
        for r in range(rounds):
            n = samples // rounds + (1 if r < samples % rounds else 0)
            for name, fn in cases:
                c0, s0 = own_cpu_seconds(), cpu_seconds(server)
                timed(fn, n, lat[name])
                cpu[name][0] += own_cpu_seconds() - c0
                cpu[name][1] += cpu_seconds(server) - s0
        if with_floor:
            for s in [sock, *model_socks]:
                s.close(0)
        return [summary(f"{name} ({label})", lat[name], kind=name, workload=label,
                        client_cpu_us_per_request=cpu[name][0] / samples * 1e6,
                        server_cpu_us_per_request=cpu[name][1] / samples * 1e6)
                for name, _ in cases]

    # -- concurrency > 1 ------------------------------------------------------------
    def concurrent(self, processes: int, threads: int, duration: float, warmup: int) -> dict:
        ctx = multiprocessing.get_context("spawn")
        parties = processes * threads + 1
        ready = ctx.Barrier(parties, timeout=300)
        start_at = ctx.Value("d", 0.0)
        results = ctx.Queue()
        nodes, edges = wl.SMALL
        procs = [ctx.Process(target=wl.load_process,
                             args=(str(self.socket), threads, nodes, edges, 1, warmup,
                                   start_at, duration, ready, results), daemon=True)
                 for _ in range(processes)]
        self.loaders = procs
        for p in procs:
            p.start()
        ready.wait()  # everyone connected and warmed up
        before = self.model_stats()
        server = self.server_pids()
        loaders = [p.pid for p in procs]
        start_at.value = time.monotonic() + 0.05
        cpu0, ccpu0 = cpu_seconds(server), cpu_seconds(loaders)
        got = []
        while len(got) < len(procs):  # CPU is read as soon as the first process is done
            got.append(results.get(timeout=duration + 120))
            if len(got) == 1:
                cpu1, ccpu1 = cpu_seconds(server), cpu_seconds(loaders)
        after = self.model_stats()
        for p in procs:
            p.join(30)
        self.loaders = [p for p in procs if p.is_alive()]
        errors = [e for r in got for e in r["errors"]]
        if errors:
            raise RuntimeError(f"load processes failed: {errors[:3]}")
        self.arenas |= {r["arena"] for r in got}
        lat = [x for r in got for x in r["latencies"]]
        requests = after["requests"] - before["requests"]
        batches = after["batches"] - before["batches"]
        c = processes * threads
        return summary(f"graphferry (small, c={c})", lat, concurrency=c, duration_s=duration,
                       kind="graphferry", workload="small", layout=f"{processes}x{threads}",
                       requests_per_batch=requests / batches if batches else float("nan"),
                       max_batch_requests=after["max_batch_requests"],
                       server_cpu_s_per_s=(cpu1 - cpu0) / duration,
                       client_cpu_s_per_s=(ccpu1 - ccpu0) / duration,
                       server_cpu_us_per_request=(cpu1 - cpu0) / max(1, len(lat)) * 1e6,
                       client_cpu_us_per_request=(ccpu1 - ccpu0) / max(1, len(lat)) * 1e6)

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> dict:
        import graphferry

        a = self.args
        t_start = time.time()
        self.start_peers()
        self.start_server()  # boots while this process loads its own copy of the model
        self.in_process_model()
        self.wait_ready()
        self.client = graphferry.Client(socket=self.socket, timeout=60.0, name="bench-c1")
        self.arenas.add(self.client._arena.name)  # noqa: SLF001
        if a.client_spin_us:
            self.spin_client = graphferry.Client(socket=self.socket, timeout=60.0,
                                                 name="bench-c1-spin", spin_us=a.client_spin_us)
            self.arenas.add(self.spin_client._arena.name)  # noqa: SLF001

        rows = []
        print(f"# concurrency 1, small graph: {a.samples} samples each, {a.rounds} rounds",
              file=sys.stderr, flush=True)
        rows += self.sequential(*wl.SMALL, a.samples, a.warmup, True, "small")
        print(f"# concurrency 1, large graph: {a.large_samples} samples each",
              file=sys.stderr, flush=True)
        rows += self.sequential(*wl.LARGE, a.large_samples, max(3, a.warmup // 20), False,
                                "large")
        for c in a.concurrency:
            processes, threads = layout(c)
            print(f"# concurrency {c} = {processes} processes x {threads} threads, "
                  f"{a.duration:g} s", file=sys.stderr, flush=True)
            rows.append(self.concurrent(processes, threads, a.duration, a.warmup_concurrent))
        for client in (self.client, self.spin_client):
            if client is not None:
                client.close()
        self.client = self.spin_client = None

        def find(kind, workload, concurrency=1):
            return next(r for r in rows if r["kind"] == kind and r["workload"] == workload
                        and r["concurrency"] == concurrency)

        inproc, floor, gf = (find("in-process", "small"), find("transport floor", "small"),
                             find("graphferry", "small"))
        inproc_b = find("in-process + Batch.from_data_list", "small")
        inproc_idle = find("in-process after 1 ms idle", "small")
        model_server = find("model server", "small")
        overhead = gf["p50_us"] - inproc["p50_us"]
        targets = {
            "model_server_overhead_over_floor": (model_server["p50_us"] - inproc["p50_us"])
            / floor["p50_us"],
            "overhead_us": overhead,
            "floor_p50_us": floor["p50_us"],
            "overhead_over_floor": overhead / floor["p50_us"],
            "overhead_over_floor_vs_batching_call": (gf["p50_us"] - inproc_b["p50_us"])
            / floor["p50_us"],
            "overhead_over_floor_vs_idle_call": (gf["p50_us"] - inproc_idle["p50_us"])
            / floor["p50_us"],
            "overhead_target": OVERHEAD_TARGET,
        }
        spinning = [r for r in rows if r["kind"].startswith("model server, both ends")]
        if spinning:
            targets["spinning_model_server_overhead_over_floor"] = (
                spinning[0]["p50_us"] - inproc["p50_us"]) / floor["p50_us"]
        c32 = [r for r in rows if r["concurrency"] == 32]
        if c32:
            targets["throughput_c32_gps"] = c32[0]["throughput_gps"]
            targets["throughput_target"] = THROUGHPUT_TARGET
        return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "quick": a.quick, "machine": wl.machine(),
                "loadavg_start": self.loadavg_start, "notes": self.notes,
                "floor_message_bytes": getattr(self, "floor_bytes", None),
                "wall_s": time.time() - t_start, "rows": rows, "targets": targets}

    # -- clean-up: only what this run started ----------------------------------------------
    def cleanup(self) -> None:
        for client in (self.client, self.spin_client):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass
        for p in self.loaders:
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        for peer in self.peers:
            if peer.poll() is None:
                peer.terminate()
                try:
                    peer.wait(5)
                except subprocess.TimeoutExpired:
                    peer.kill()
                    peer.wait()
        if self.server is not None:
            tree = self.server_pids()
            if self.server.poll() is None:
                self.server.send_signal(signal.SIGTERM)
                try:
                    self.server.wait(15)
                except subprocess.TimeoutExpired:
                    self.server.kill()
                    self.server.wait()
            for pid in wl.wait_gone(tree[1:], 10):  # workers this server started
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.log.close()
            # status pages are named after the supervisor's pid: these are ours
            for name in wl.shm_segments():
                if name.startswith(f"graphferry-status-{self.server.pid}-"):
                    self._unlink(name, "status page")
        for name in self.arenas & wl.shm_segments():  # arenas of our own clients
            self._unlink(name, "client arena")
        left = wl.shm_segments() - self.shm_before
        if left:  # not provably ours (other jobs share /dev/shm): report only
            print(f"warning: new graphferry-* segments in /dev/shm after the run, not "
                  f"known to be this run's: {sorted(left)}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _unlink(name: str, what: str) -> None:
        print(f"warning: {what} {name} was left in /dev/shm; unlinking it", file=sys.stderr)
        try:
            os.unlink(f"/dev/shm/{name}")
        except FileNotFoundError:
            pass


def dealer(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def layout(c: int) -> tuple[int, int]:
    """Client processes x threads per process for concurrency ``c`` (32 -> 4 x 8)."""
    processes = {1: 1, 8: 2, 32: 4}.get(c) or max(1, min(4, c // 4))
    while c % processes:
        processes -= 1
    return processes, c // processes


# -- report ----------------------------------------------------------------------------
def fmt(x: float, digits: int = 0) -> str:
    return "—" if x != x else f"{x:,.{digits}f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Run {result['date']}: `{result['command']}`"
        + (" (--quick: few samples, indicative only)" if result["quick"] else ""),
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}, "
        f"torch {m['torch']}, PyG {m['torch_geometric']}, pyzmq {m['pyzmq']} "
        f"(libzmq {m['libzmq']}); load average at start "
        f"{' / '.join(f'{x:.2f}' for x in result['loadavg_start'])}.",
    ]
    if max(result["loadavg_start"][0], m["loadavg"][0]) > 0.5:
        lines.append("**The machine was shared with other jobs during this run (load average "
                     "> 0.5): numbers are noisy.**")
    lines += [f"{n}." for n in result["notes"]]
    lines += ["",
              "| case | workload | concurrency | samples | p50 µs | p99 µs | graphs/s | "
              "requests/batch |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        conc = str(r["concurrency"]) + (f" ({r['layout']})" if "layout" in r else "")
        lines.append(f"| {r['kind']} | {r['workload']} | {conc} | {r['samples']:,} | "
                     f"{fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {fmt(r['throughput_gps'])} | "
                     f"{fmt(r.get('requests_per_batch', float('nan')), 1)} |")
    t = result["targets"]
    ok = "meets" if t["overhead_over_floor"] <= t["overhead_target"] else "MISSES"
    lines += ["",
              f"- Overhead at concurrency 1: graphferry p50 − in-process p50 = "
              f"{fmt(t['overhead_us'])} µs = **{t['overhead_over_floor']:.2f} × the transport "
              f"floor's p50** ({fmt(t['floor_p50_us'])} µs); target ≤ {t['overhead_target']:g}: "
              f"{ok}. (Against the in-process call after 1 ms idle: "
              f"{t['overhead_over_floor_vs_idle_call']:.2f} ×; against the in-process call "
              f"that also builds its Batch: {t['overhead_over_floor_vs_batching_call']:.2f} ×.) "
              f"The model server (one raw pyzmq round trip plus the model in another "
              f"process, nothing else) comes to {t['model_server_overhead_over_floor']:.2f} ×"
              + (f"; with both of its ends spinning, "
                 f"{t['spinning_model_server_overhead_over_floor']:.2f} ×"
                 if "spinning_model_server_overhead_over_floor" in t else "") + "."]
    if "throughput_c32_gps" in t:
        ok = "meets" if t["throughput_c32_gps"] >= t["throughput_target"] else "MISSES"
        lines.append(f"- Throughput at concurrency 32: **{fmt(t['throughput_c32_gps'])} "
                     f"graphs/s**; target ≥ {t['throughput_target']:,.0f}: {ok}.")
    for r in result["rows"]:
        if "server_cpu_s_per_s" in r:
            lines.append(f"- c={r['concurrency']}: largest batch {r['max_batch_requests']} "
                         f"requests (since start); CPU-s per s: server processes "
                         f"{r['server_cpu_s_per_s']:.2f}, client processes "
                         f"{r['client_cpu_s_per_s']:.2f} (of {result['machine']['nproc']}).")
    lines += ["", "CPU time per request (µs; client = the calling process(es) with their "
              "zmq I/O threads, server = supervisor + workers):", "",
              "| case | workload | concurrency | client CPU µs/req | server CPU µs/req |",
              "|---|---|---:|---:|---:|"]
    for r in result["rows"]:
        if r["kind"].startswith(("graphferry", "model server")) or r["kind"] in (
                "transport floor", "in-process"):
            lines.append(f"| {r['kind']} | {r['workload']} | {r['concurrency']} | "
                         f"{fmt(r['client_cpu_us_per_request'])} | "
                         f"{fmt(r['server_cpu_us_per_request']) if r['kind'].startswith('graphferry') else '—'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="few samples and short phases: checks the harness, not the numbers")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--samples", type=int, help="samples per case at c=1 (default 2000)")
    parser.add_argument("--large-samples", type=int, help="samples per large case (default 200)")
    parser.add_argument("--duration", type=float, help="seconds per concurrency phase (default 5)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="interleaved rounds at c=1 (default 10)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--client-spin-us", type=int, default=0, metavar="N",
                        help="also measure c=1 with a second Client(spin_us=N) and a "
                             "model server with both ends spinning N µs")
    parser.add_argument("--models", metavar="DIR",
                        help="serve this model repository (its gcn) instead of the demo's, "
                             "e.g. a copy with idle_spin_us set")
    a = parser.parse_args(argv)
    a.samples = a.samples or (300 if a.quick else 2000)
    a.large_samples = a.large_samples or (20 if a.quick else 200)
    a.duration = a.duration or (2.0 if a.quick else 5.0)
    a.warmup = 50 if a.quick else 300
    a.warmup_concurrent = 5 if a.quick else 20

    # SIGTERM (e.g. from a CI timeout) runs the clean-up too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(a)
    bench.loadavg_start = os.getloadavg()
    try:
        result = bench.run()
    except BaseException as exc:
        if bench.server is not None:
            print(f"server log (tail):\n{bench.server_log()}", file=sys.stderr)
        if "UNKNOWN_REGION" in str(exc):
            print("hint: this run's client arena vanished from /dev/shm while the run was "
                  "using it: another process (e.g. a test suite's leak probe or `graphferry "
                  "gc` running at the same time) unlinked it. Run the benchmark alone.",
                  file=sys.stderr)
        raise
    finally:
        bench.cleanup()
    text = markdown(result)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
