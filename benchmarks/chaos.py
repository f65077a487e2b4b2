#!/usr/bin/env python
"""graphferry chaos harness: kill workers while clients send requests, count every outcome.

One run starts its own ``graphferry serve`` on a temporary socket directory
(``/tmp/gfc-*``) with the ``crashy`` test model (tests/models/crashy:
``exec_timeout_s = 1.5``, ``quarantine_s = 60``) configured with
``instances`` and ``standby`` from the flags. Then:

- P client processes × T threads (one ``Client`` per process, shared by its
  threads) send good graphs continuously, one graph or a list of 2-4, and
  check every output against the model's answer computed in the client
  process (the crashy model is ``Linear(32, 8)`` seeded 0 over the mean of
  the node features), within atol 1e-5;
- a chaos loop, every ``--kill-every`` seconds, does one of: SIGKILL an
  active worker, SIGSEGV an active worker, send a fresh poison input that
  makes the model call ``os.abort()`` (marker 667), send a fresh poison input
  that loops forever (marker 668: the supervisor kills the worker after
  ``exec_timeout_s``). Poison inputs have random features besides the marker,
  so each is new; now and then an earlier poison (still inside its
  quarantine) is sent again and must come back ``POISONED``;
- a death watcher (a pidfd per worker process) timestamps every worker
  death, and a monitor polls ``stats`` to see when the model is back at full
  capacity.

Counted: requests sent, correct, typed errors by code name, wrong outputs
(must be 0), hangs (a request that took longer than its deadline + 1 s to
come back, or never came back; must be 0), untyped exceptions, leaked
``/dev/shm/graphferry-*`` segments after the run (new ones whose owner pid is
one of this run's processes or dead; must be 0), worker restarts (from
``stats``), and recovery time per worker death: death → first success of a
request sent after it, and death → the model back at ``instances`` ready
workers.

    .venv/bin/python benchmarks/chaos.py [--duration S] [--clients P] [--threads T]
        [--kill-every S] [--instances N] [--standby N] [--timeout S] [--json OUT]
    .venv/bin/python benchmarks/chaos.py --recovery-trials 10 --standby 1   # kill → next success, alone

The second form measures recovery alone: one active worker, no load,
SIGKILL it and time the first successful request after the kill, N times.

Bounded: every loop stops at the deadline; only processes this run started
are signalled, by pid; the temporary directory is removed. Exit status 0 when
there were no wrong outputs, no hangs, no leaks, no untyped exceptions, the
service was healthy at the end, and some requests succeeded while some kills
happened. The summary is printed; ``--json`` writes it.
"""

import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import alive, descendants, loadavg, segments, signal_pids, wait_gone  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CRASHY = REPO / "tests" / "models" / "crashy"
MODEL = "crashy"
FEATURES, WIDTH = 32, 8
ABORT, LOOP = 667, 668
ATOL = 1e-5
ACTIONS = ("sigkill", "sigsegv", "abort", "loop")
RESEND_PROBABILITY = 0.5  # after a poison, also re-send an earlier one (expect POISONED)
RESEND_WITHIN_S = 40.0  # only poisons younger than this (crashy's quarantine_s is 60)
POISON_TIMEOUT_S = 30.0  # a loop poison takes two hang kills (1.5 s + 1 s grace each)
MONITOR_EVERY_S = 0.05


# -- graphs -------------------------------------------------------------------
def make_graph(rng: np.random.Generator, nodes: int, marker: float | None = None):
    import torch
    from torch_geometric.data import Data

    x = rng.standard_normal((nodes, FEATURES), dtype=np.float32)
    if marker is not None:
        x[0, 0] = marker
    edges = rng.integers(0, nodes, size=(2, 3 * nodes), dtype=np.int64)
    return Data(x=torch.from_numpy(x), edge_index=torch.from_numpy(edges))


def reference_model():
    """The crashy model's net, built as its ``load`` builds it (tests/support/crashy.expected)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(FEATURES, WIDTH)


def expected(lin, g):
    import torch

    with torch.inference_mode():
        return lin(g.x.mean(dim=0, keepdim=True))


def percentiles(values) -> dict:
    a = np.asarray(values, dtype=np.float64)
    if not a.size:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"n": int(a.size), "p50_ms": float(np.percentile(a, 50) * 1000),
            "p99_ms": float(np.percentile(a, 99) * 1000), "max_ms": float(a.max() * 1000)}


# -- the service --------------------------------------------------------------
class Service:
    """``graphferry serve`` with the crashy model in a fresh /tmp/gfc-* directory."""

    def __init__(self, instances: int, standby: int, log_level: str = "WARNING"):
        self.log_level = log_level
        self.dir = Path(tempfile.mkdtemp(prefix="gfc-", dir="/tmp"))
        self.socket = self.dir / "run" / "graphferry.sock"
        self.instances, self.standby = instances, standby
        model = self.dir / "models" / MODEL
        shutil.copytree(CRASHY, model, ignore=shutil.ignore_patterns("__pycache__"))
        config = model / "config.toml"
        config.write_text(f"instances = {instances}\nstandby = {standby}\n" + config.read_text())
        self.models = self.dir / "models"
        self.log_path = self.dir / "server.log"
        self.proc = None
        self.pids = set()  # every process of this service we have seen

    def start(self, timeout: float | None = 180.0) -> "Service":
        """Launch; wait (``timeout``) for full strength unless ``timeout`` is None."""
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "graphferry.server.cli", "serve", "--socket", str(self.socket),
             "--models", str(self.models), "--log-level", self.log_level],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pids.add(self.proc.pid)
        if timeout is not None:
            self.wait_full(timeout)
        return self

    def client(self, **kwargs):
        import graphferry

        return graphferry.Client(socket=self.socket, **kwargs)

    def model_stats(self, client) -> dict:
        return next(m for m in client.stats()["models"] if m["name"] == MODEL)

    def full(self, model: dict) -> bool:
        ready = [w for w in model["workers"] if w["state"] == "ready"]
        spares = [w for w in model["standby"] if w["state"] == "ready"]
        return len(ready) == self.instances and len(spares) == self.standby

    def wait_full(self, timeout: float, full: bool = True) -> float:
        """Wait until health is "ready" and, if ``full``, every slot and standby is ready.

        Returns how long it waited."""
        import graphferry

        started = time.monotonic()
        deadline = started + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with self.client(timeout=2.0, arena_size=1 << 16) as client:
                    last = self.model_stats(client)
                    if ((not full or self.full(last))
                            and client.health()["status"] == "ready"):
                        return time.monotonic() - started
            except graphferry.Error:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"service not {'at full strength' if full else 'ready'} after "
                           f"{timeout} s ({last}):\n{self.output()}")

    def workers(self) -> list[int]:
        found = descendants(self.proc.pid)
        self.pids.update(found)
        return found

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        tree = [self.proc.pid] + self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                signal_pids(tree, signal.SIGKILL)
                self.proc.wait()
        left = wait_gone(tree, 10)
        signal_pids(left, signal.SIGKILL)  # only processes of this service
        wait_gone(left, 5)
        self.log.close()
        self.proc = None

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# -- a client process -----------------------------------------------------------
def client_main(args) -> int:
    """One load process: T threads share one Client and send good graphs until told to stop."""
    import graphferry
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    lin = reference_model()
    pool = []
    for _ in range(128):
        g = make_graph(rng, int(rng.integers(4, 48)))
        pool.append((g, expected(lin, g)))
    deadline = time.monotonic() + 300.0
    while True:  # started alongside the service: wait for it to answer
        try:
            client = graphferry.Client(socket=args.socket, timeout=args.timeout,
                                       arena_size=8 << 20, name=f"chaos-{args.seed}")
            break
        except graphferry.ServiceUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    print("ready", flush=True)
    line = sys.stdin.readline().split()
    until = float(line[1]) if len(line) == 2 and line[0] == "go" else 0.0
    parent = os.getppid()
    results = []

    def loop(index: int) -> None:
        r = {"sent": 0, "correct": 0, "wrong": 0, "hangs": 0, "errors": {}, "exceptions": {},
             "t_send": [], "t_done": [], "latency": [], "max_latency_s": 0.0, "in_flight": 0,
             "samples": []}
        results.append(r)
        local = random.Random(args.seed * 1000 + index)
        while time.monotonic() < until and os.getppid() == parent:
            count = 1 if local.random() < 0.8 else local.randint(2, 4)
            picked = [pool[local.randrange(len(pool))] for _ in range(count)]
            payload = picked[0][0] if count == 1 else [g for g, _ in picked]
            r["sent"] += 1
            r["in_flight"] = 1
            t0 = time.monotonic()
            try:
                out = client.infer(MODEL, payload)
                t1 = time.monotonic()
                outs = [out] if count == 1 else out
                good = len(outs) == count and all(
                    tuple(o.shape) == (1, WIDTH) and torch.allclose(o, want, atol=ATOL, rtol=0)
                    for o, (_, want) in zip(outs, picked))
                if good:
                    r["correct"] += 1
                    r["t_send"].append(t0)
                    r["t_done"].append(t1)
                    r["latency"].append(t1 - t0)
                else:
                    r["wrong"] += 1
                    if len(r["samples"]) < 5:
                        r["samples"].append(f"wrong output at +{t1 - until:.1f} s from the end")
            except graphferry.Error as exc:
                t1 = time.monotonic()
                name = exc.code.name
                r["errors"][name] = r["errors"].get(name, 0) + 1
            except Exception as exc:  # noqa: BLE001 - counted: must not happen
                t1 = time.monotonic()
                name = type(exc).__name__
                r["exceptions"][name] = r["exceptions"].get(name, 0) + 1
                if len(r["samples"]) < 5:
                    r["samples"].append(f"{name}: {exc}")
            r["in_flight"] = 0
            r["max_latency_s"] = max(r["max_latency_s"], t1 - t0)
            if t1 - t0 > args.timeout + 1.0:
                r["hangs"] += 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, until + args.timeout + 1.5 - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    merged = {"pid": os.getpid(), "sent": 0, "correct": 0, "wrong": 0, "hangs": 0,
              "errors": {}, "exceptions": {}, "max_latency_s": 0.0, "samples": []}
    t_send, t_done, latency = [], [], []
    for r in list(results):
        for key in ("sent", "correct", "wrong", "hangs"):
            merged[key] += r[key]
        if stuck:
            merged["hangs"] += r["in_flight"]  # still inside infer past its deadline + 1 s
        for key in ("errors", "exceptions"):
            for name, n in r[key].items():
                merged[key][name] = merged[key].get(name, 0) + n
        merged["max_latency_s"] = max(merged["max_latency_s"], r["max_latency_s"])
        merged["samples"] += r["samples"]
        t_send += r["t_send"]
        t_done += r["t_done"]
        latency += r["latency"]
    np.save(f"{args.out}.npy", np.array([t_send, t_done, latency], dtype=np.float64))
    Path(args.out).write_text(json.dumps(merged))
    if stuck:
        os._exit(3)  # a thread is stuck inside infer: the supervisor reclaims our arena
    client.close()
    return 0


# -- watchers in the harness process ------------------------------------------
class DeathWatcher(threading.Thread):
    """Timestamps every exit of the service's worker processes (one pidfd each)."""

    def __init__(self, service: Service):
        super().__init__(daemon=True)
        self.service = service
        self.deaths = []  # (monotonic, pid)
        self.stopping = threading.Event()

    def run(self) -> None:
        poller = select.poll()
        fds = {}
        seen = set()
        while not self.stopping.is_set():
            for pid in self.service.workers():
                if pid in seen:
                    continue
                seen.add(pid)
                try:
                    fd = os.pidfd_open(pid)
                except ProcessLookupError:
                    self.deaths.append((time.monotonic(), pid))
                    continue
                fds[fd] = pid
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(50):
                now = time.monotonic()
                self.deaths.append((now, fds.pop(fd)))
                poller.unregister(fd)
                os.close(fd)
        for fd in fds:
            os.close(fd)


class Monitor(threading.Thread):
    """Polls ``stats``: which active workers are ready, when (for capacity recovery)."""

    def __init__(self, service: Service):
        super().__init__(daemon=True)
        self.service = service
        self.samples = []  # (monotonic, frozenset of ready active pids)
        self.failures = 0  # stats calls that raised
        self.stopping = threading.Event()
        self.latest = None

    def run(self) -> None:
        import graphferry

        with self.service.client(timeout=5.0, arena_size=1 << 16, name="chaos-monitor") as client:
            while not self.stopping.is_set():
                try:
                    model = self.service.model_stats(client)
                except graphferry.Error:
                    self.failures += 1
                    time.sleep(MONITOR_EVERY_S)
                    continue
                self.latest = model
                ready = frozenset(w["pid"] for w in model["workers"] if w["state"] == "ready")
                self.samples.append((time.monotonic(), ready))
                self.stopping.wait(MONITOR_EVERY_S)


# -- the chaos loop -------------------------------------------------------------
class Chaos:
    def __init__(self, service: Service, kill_every: float, seed: int, say=None):
        self.service = service
        self.say = say or (lambda *a, **k: None)
        self.t0 = time.monotonic()
        self.kill_every = kill_every
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.events = []  # (monotonic, action)
        self.actions = {a: 0 for a in ACTIONS}
        self.skipped = 0  # signal actions with no ready worker to hit
        self.skip_reasons = {}
        self.poison_outcomes = {}  # "abort"/"loop"/"resend" -> {code name: n}
        self.unexpected = []  # poison outcomes other than the expected code
        self.poison_hangs = 0
        self.poison_latency = {}  # kind -> [s]
        self.poisons = []  # (sent monotonic, Data) of poisons answered WORKER_CRASHED
        self.sigkilled, self.segved = set(), set()  # pids we signalled

    def run(self, client, until: float) -> None:
        """Every ``kill_every`` s the next action of a shuffled round of the four.

        A poison is sent from a thread (a loop poison takes two hang kills, many
        seconds), so the cadence holds; while one is in flight, a poison turn
        becomes a signal instead.
        """
        next_at = time.monotonic() + self.kill_every / 2
        turns = []
        while True:
            now = time.monotonic()
            if now >= until:
                break
            if now < next_at:
                time.sleep(min(next_at - now, until - now))
                continue
            if not turns:
                turns = list(ACTIONS)
                self.rng.shuffle(turns)
            action = turns.pop()
            if action in ("abort", "loop") and (self.poison_busy() or until - now < 5.0):
                action = self.rng.choice(("sigkill", "sigsegv"))
            self.act(client, action)
            next_at = max(next_at + self.kill_every, time.monotonic() + 0.2)
        if self.poison_thread is not None:
            self.poison_thread.join(2 * POISON_TIMEOUT_S + 5)

    poison_thread = None

    def poison_busy(self) -> bool:
        return self.poison_thread is not None and self.poison_thread.is_alive()

    def act(self, client, action: str) -> None:
        if action in ("sigkill", "sigsegv"):
            pid = self.target(client)
            if pid is None:
                self.skipped += 1
                return
            self.events.append((time.monotonic(), action))
            (self.sigkilled if action == "sigkill" else self.segved).add(pid)
            os.kill(pid, signal.SIGKILL if action == "sigkill" else signal.SIGSEGV)
            self.actions[action] += 1
            self.say(f"  +{time.monotonic() - self.t0:6.1f} s  {action} worker pid {pid}",
                     flush=True)
            return
        marker = ABORT if action == "abort" else LOOP
        g = make_graph(self.np_rng, int(self.np_rng.integers(4, 48)), marker=marker)
        self.events.append((time.monotonic(), action))
        self.actions[action] += 1
        resend = self.rng.random() < RESEND_PROBABILITY

        def poison():
            code = self.send_poison(client, action, g, "WORKER_CRASHED")
            if code == "WORKER_CRASHED":
                self.poisons.append((time.monotonic(), g))
            if resend:
                self.resend(client)

        self.poison_thread = threading.Thread(target=poison, daemon=True)
        self.poison_thread.start()

    def resend(self, client) -> None:
        now = time.monotonic()
        fresh = [g for t, g in self.poisons if now - t < RESEND_WITHIN_S]
        if fresh:
            self.send_poison(client, "resend", self.rng.choice(fresh), "POISONED")

    def send_poison(self, client, kind: str, g, want: str) -> str:
        import graphferry

        t0 = time.monotonic()
        try:
            client.infer(MODEL, g)
            code = "ANSWERED"  # a poison input must never come back with an output
        except graphferry.Error as exc:
            code = exc.code.name
        except Exception as exc:  # noqa: BLE001 - counted
            code = f"EXC:{type(exc).__name__}"
        elapsed = time.monotonic() - t0
        self.poison_latency.setdefault(kind, []).append(elapsed)
        self.say(f"  +{t0 - self.t0:6.1f} s  {kind} poison -> {code} after {elapsed:.2f} s",
                 flush=True)
        if elapsed > POISON_TIMEOUT_S + 1.0:
            self.poison_hangs += 1
        counts = self.poison_outcomes.setdefault(kind, {})
        counts[code] = counts.get(code, 0) + 1
        if code != want:
            self.unexpected.append({"kind": kind, "got": code, "want": want,
                                    "at_s": round(t0, 3), "elapsed_s": round(elapsed, 3)})
        return code

    def target(self, client) -> int | None:
        """A ready active worker of our service, checked to be our server's child."""
        import graphferry

        try:
            model = self.service.model_stats(client)
        except graphferry.Error:
            self.skip_reasons["stats failed"] = self.skip_reasons.get("stats failed", 0) + 1
            return None
        ready = [w["pid"] for w in model["workers"] if w["state"] == "ready"]
        ours = set(self.service.workers())
        if not ready:
            self.skip_reasons["no ready worker"] = self.skip_reasons.get("no ready worker", 0) + 1
        elif not set(ready) & ours:
            self.skip_reasons["not our child"] = self.skip_reasons.get("not our child", 0) + 1
        ready = [p for p in ready if p in ours]
        return self.rng.choice(ready) if ready else None


# -- one run ------------------------------------------------------------------------
def start_clients(service: Service, args, run_dir: Path) -> list:
    clients = []
    for i in range(args.clients):
        out = run_dir / f"client-{i}.json"
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--client-worker",
             "--socket", str(service.socket), "--seed", str(1000 + i), "--threads",
             str(args.threads), "--timeout", str(args.timeout), "--out", str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        clients.append((proc, out))
    return clients


def wait_lines(clients, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc, _ in clients:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            raise RuntimeError(f"client process {proc.pid} did not start (exit "
                               f"{proc.poll()}, said {line!r})")


def run(duration: float = 60.0, clients: int = 2, threads: int = 2, kill_every: float = 2.0,
        instances: int = 2, standby: int = 1, timeout: float = 10.0, seed: int = 1,
        verbose: bool = True, log_level: str = "WARNING", keep_log: Path | None = None,
        end_wait_full_s: float = 120.0) -> dict:
    """One chaos run; returns the summary (see ``summarize``)."""
    args = argparse.Namespace(clients=clients, threads=threads, timeout=timeout)
    say = print if verbose else (lambda *a, **k: None)
    before = segments()
    load_start = loadavg()
    service = Service(instances, standby, log_level)
    procs, watcher, monitor, chaos_client = [], None, None, None
    own = {os.getpid()}
    outcome = {}
    try:
        say(f"starting graphferry serve in {service.dir} (instances {instances}, "
            f"standby {standby}); load average {load_start}", flush=True)
        t_launch = time.monotonic()
        service.start(timeout=None)  # boot the service, the clients and our imports together
        procs = start_clients(service, args, service.dir)
        own.update(p.pid for p, _ in procs)
        import torch_geometric  # noqa: F401 - for poison graphs; slow to import under load
        service.wait_full(300.0)
        wait_lines(procs, 300.0)
        say(f"service and clients up after {time.monotonic() - t_launch:.1f} s", flush=True)
        watcher = DeathWatcher(service)
        watcher.start()
        monitor = Monitor(service)
        monitor.start()
        chaos_client = service.client(timeout=POISON_TIMEOUT_S, arena_size=1 << 20,
                                      name="chaos")
        chaos = Chaos(service, kill_every, seed, say)
        started = chaos.t0 = time.monotonic()
        until = started + duration
        for proc, _ in procs:
            proc.stdin.write(f"go {until!r}\n")
            proc.stdin.flush()
        say(f"chaos for {duration:g} s: {clients} client processes x {threads} threads, "
            f"an action every {kill_every:g} s", flush=True)
        chaos.run(chaos_client, until)
        chaos_done = time.monotonic()
        results, missing = [], []
        for proc, out in procs:
            try:
                proc.wait(max(1.0, until + timeout + 15.0 - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()  # ours; its in-flight requests count as hangs below
                proc.wait()
            try:
                result = json.loads(out.read_text())
                result["arrays"] = np.load(f"{out}.npy")
                results.append(result)
            except (OSError, ValueError):
                missing.append(proc.pid)
        clients_done = time.monotonic()
        # The service after the chaos: healthy again, at full strength.
        full_after = None
        try:
            healthy_after = service.wait_full(60.0, full=False)
            with service.client(timeout=5.0, arena_size=1 << 16) as probe:
                health = probe.health()["status"]
                final = service.model_stats(probe)
            if end_wait_full_s:
                full_after = service.wait_full(end_wait_full_s)
                with service.client(timeout=5.0, arena_size=1 << 16) as probe:
                    final = service.model_stats(probe)
        except (TimeoutError, RuntimeError) as exc:
            healthy_after, health, final = None, f"not healthy: {exc}"[:300], monitor.latest
        monitor.stopping.set()
        watcher.stopping.set()
        monitor.join(10)
        watcher.join(10)
        chaos_client.close()
        chaos_client = None
        outcome = dict(service=service, chaos=chaos, results=results, missing=missing,
                       watcher=watcher, monitor=monitor, health=health, final=final,
                       healthy_after=healthy_after, full_after=full_after, started=started, until=until,
                       chaos_done=chaos_done, clients_done=clients_done)
        log_tail = service.output()
        outcome["log"] = service.log_path.read_text(errors="replace")
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if monitor is not None:
            monitor.stopping.set()
        if watcher is not None:
            watcher.stopping.set()
        if chaos_client is not None:
            chaos_client.close()
        service.workers()
        service.stop()
        own |= service.pids
        leaked = leaks(before, own)
        foreign = foreign_stale(before, own)
        if keep_log:
            shutil.copy(service.log_path, keep_log)
        service.remove()
    summary = summarize(outcome, dict(duration_s=duration, clients=clients, threads=threads,
                                      kill_every_s=kill_every, instances=instances,
                                      standby=standby, timeout_s=timeout, seed=seed),
                        leaked, load_start, loadavg())
    summary["foreign_stale_segments"] = foreign
    summary["server_log_tail"] = log_tail[-3000:] if not summary["pass"] else ""
    return summary


def leaks(before: set, own: set) -> list:
    """New graphferry-* segments whose owner is one of ours or dead; unlinked after counting."""
    from graphferry.shm.segment import owner_pid

    deadline = time.monotonic() + 5.0
    while True:
        found = sorted(s for s in segments() - before if owner_pid(s) in own)
        if not found or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    for name in found:  # ours: remove them, so that a failed run leaves nothing behind
        try:
            os.unlink(f"/dev/shm/{name}")
        except FileNotFoundError:
            pass
    return found


def foreign_stale(before: set, own: set) -> list:
    """New segments whose owner is dead but was not one of this run's processes.

    Reported, never removed: on a shared machine they belong to other jobs.
    """
    from graphferry.shm.segment import owner_pid

    return sorted(s for s in segments() - before
                  if owner_pid(s) is not None and owner_pid(s) not in own
                  and not alive(owner_pid(s)))


def availability(samples, start: float, end: float) -> dict:
    """Share of the chaos window with 0, 1, 2, … ready active workers (stats samples)."""
    share = {}
    inside = [(t, len(r)) for t, r in samples if start <= t <= end]
    for (t, n), (t_next, _) in zip(inside, inside[1:]):
        share[str(n)] = share.get(str(n), 0.0) + (t_next - t)
    total = sum(share.values()) or 1.0
    return {k: round(v / total, 3) for k, v in sorted(share.items())}


def death_causes(log: str, chaos: Chaos) -> dict:
    """pid -> what killed it: our SIGKILL or SIGSEGV, abort() (SIGABRT), or a hang kill."""
    hung = set(re.findall(r"worker (\S+) has been inside one model call", log))
    causes = {}
    for worker_id, pid, how in re.findall(r"worker (\S+) \(pid (\d+)\) (.+)", log):
        pid = int(pid)
        if pid in chaos.sigkilled:
            causes[pid] = "sigkill"
        elif pid in chaos.segved:
            causes[pid] = "sigsegv"
        elif worker_id in hung:
            causes[pid] = "loop (hang kill)"
        elif "SIGABRT" in how:
            causes[pid] = "abort"
        else:
            causes[pid] = how.strip()
    return causes


def summarize(o: dict, config: dict, leaked: list, load_start: str, load_end: str) -> dict:
    chaos, results = o["chaos"], o["results"]
    total = {"sent": 0, "correct": 0, "wrong": 0, "hangs": 0}
    errors, exceptions = {}, {}
    arrays = [r["arrays"] for r in results]
    for r in results:
        for key in total:
            total[key] += r[key]
        for name, n in r["errors"].items():
            errors[name] = errors.get(name, 0) + n
        for name, n in r["exceptions"].items():
            exceptions[name] = exceptions.get(name, 0) + n
    total["hangs"] += chaos.poison_hangs
    both = np.concatenate(arrays, axis=1) if arrays else np.zeros((3, 0))
    t_send, t_done, latency = both
    order = np.argsort(t_send)
    t_send, t_done = t_send[order], t_done[order]
    suffix_min = np.minimum.accumulate(t_done[::-1])[::-1] if t_done.size else t_done
    # Worker deaths during the chaos window, each with its cause.
    deaths = [(t, pid) for t, pid in o["watcher"].deaths if o["started"] <= t <= o["chaos_done"]]
    causes = death_causes(o["log"], chaos)
    recovery, capacity, by_action = [], [], {}
    samples = o["monitor"].samples
    sample_t = np.array([t for t, _ in samples])
    instances = config["instances"]
    for t, pid in deaths:
        i = int(np.searchsorted(t_send, t))
        if i < t_send.size:
            rec = float(suffix_min[i] - t)
            recovery.append(rec)
            by_action.setdefault(causes.get(pid, "other"), []).append(rec)
        j = int(np.searchsorted(sample_t, t))
        for at, ready in samples[j:]:
            if pid not in ready and len(ready) >= instances:
                capacity.append(at - t)
                break
    final = o["final"] or {}
    summary = {
        "config": config,
        "load_average": {"start": load_start, "end": load_end},
        "window_s": round(o["chaos_done"] - o["started"], 1),
        "requests": {**total, "errors": dict(sorted(errors.items())),
                     "untyped_exceptions": exceptions,
                     "error_total": sum(errors.values())},
        "latency_correct": percentiles(latency),
        "max_latency_s": max((r["max_latency_s"] for r in results), default=0.0),
        "client_processes_missing": o["missing"],
        "samples_of_failures": [x for r in results for x in r.get("samples", [])][:20],
        "ready_active_workers_time_share": availability(samples, o["started"], o["chaos_done"]),
        "chaos": {"actions": chaos.actions, "skipped_no_ready_worker": chaos.skipped,
                  "skip_reasons": chaos.skip_reasons,
                  "poison_outcomes": chaos.poison_outcomes,
                  "poison_unexpected": chaos.unexpected,
                  "poison_latency": {k: percentiles(v) for k, v in chaos.poison_latency.items()}},
        "worker_deaths": len(deaths),
        "worker_restarts": final.get("restarts"),
        "quarantined_at_end": final.get("quarantined"),
        "recovery_next_success": percentiles(recovery),
        "recovery_next_success_by_action": {k: percentiles(v) for k, v in by_action.items()},
        "recovery_full_capacity": percentiles(capacity),
        "monitor_stats_failures": o["monitor"].failures,
        "health_at_end": o["health"],
        "healthy_after_s": None if o["healthy_after"] is None else round(
            o["clients_done"] - o["chaos_done"] + o["healthy_after"], 2),
        "full_strength_after_s": None if o["full_after"] is None else round(
            o["clients_done"] - o["chaos_done"] + o["healthy_after"] + o["full_after"], 2),
        "leaked_segments": leaked,
    }
    kills = sum(chaos.actions.values())
    summary["checks"] = {
        "zero wrong outputs": total["wrong"] == 0,
        "zero hangs": total["hangs"] == 0,
        "zero leaked segments": not leaked,
        "zero untyped exceptions": not exceptions,
        "all client processes reported": not o["missing"],
        "healthy at end": o["health"] == "ready",
        "some correct": total["correct"] > 0,
        "some kills": kills > 0 and len(deaths) > 0,
    }
    summary["pass"] = all(summary["checks"].values())
    return summary


def ms(p: dict) -> str:
    if not p["n"]:
        return "n/a"
    return f"p50 {p['p50_ms']:.0f} ms · p99 {p['p99_ms']:.0f} ms · max {p['max_ms']:.0f} ms (n={p['n']})"


def print_summary(s: dict) -> None:
    c, r, ch = s["config"], s["requests"], s["chaos"]
    rows = [
        ("run", f"{c['duration_s']:g} s, {c['clients']} processes x {c['threads']} threads, "
                f"instances {c['instances']}, standby {c['standby']}, action every "
                f"{c['kill_every_s']:g} s, client timeout {c['timeout_s']:g} s"),
        ("load average", f"start {s['load_average']['start']} · end {s['load_average']['end']}"),
        ("requests sent", r["sent"]),
        ("correct", r["correct"]),
        ("typed errors", f"{r['error_total']} " + (
            "(" + ", ".join(f"{k} {v}" for k, v in r["errors"].items()) + ")"
            if r["errors"] else "")),
        ("wrong outputs", r["wrong"]),
        ("hangs (> deadline + 1 s)", r["hangs"]),
        ("untyped exceptions", r["untyped_exceptions"] or 0),
        ("latency (correct)", ms(s["latency_correct"])),
        ("max latency, any outcome", f"{s['max_latency_s'] * 1000:.0f} ms"),
        ("chaos actions", ", ".join(f"{k} {v}" for k, v in ch["actions"].items())
         + f" (skipped, no ready worker: {ch['skipped_no_ready_worker']})"),
        ("poison outcomes", "; ".join(f"{k}: " + ", ".join(f"{c} {n}" for c, n in v.items())
                                      for k, v in ch["poison_outcomes"].items()) or "none"),
        ("unexpected poison outcomes", len(ch["poison_unexpected"])),
        ("time with N ready workers", ", ".join(f"{k}: {v:.0%}" for k, v in
                                                s["ready_active_workers_time_share"].items())),
        ("worker deaths seen", s["worker_deaths"]),
        ("worker restarts (stats)", s["worker_restarts"]),
        ("recovery: death -> next success", ms(s["recovery_next_success"])),
        *[(f"  {k}", ms(v)) for k, v in sorted(s["recovery_next_success_by_action"].items())],
        ("recovery: death -> full capacity", ms(s["recovery_full_capacity"])),
        ("leaked segments", f"{len(s['leaked_segments'])} {' '.join(s['leaked_segments'])}"),
        ("health at end", f"{s['health_at_end']} ({s['healthy_after_s']} s after the chaos "
                          f"stopped; full strength after {s['full_strength_after_s']} s)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for sample in s["samples_of_failures"]:
        print(f"  failure: {sample}")
    for name, ok in s["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if s.get("server_log_tail"):
        print("--- server log (tail) ---\n" + s["server_log_tail"])


# -- recovery alone: kill the only active worker, time the next success ---------
def measure_recovery(standby: int, trials: int, verbose: bool = True) -> dict:
    """instances = 1; SIGKILL the active worker ``trials`` times; kill → first success."""
    import graphferry

    say = print if verbose else (lambda *a, **k: None)
    before = segments()
    load_start = loadavg()
    service = Service(1, standby)
    times, errors = [], {}
    try:
        service.start()
        lin = reference_model()
        rng = np.random.default_rng(7)
        with service.client(timeout=60.0, arena_size=1 << 20, name="recovery") as client:
            for trial in range(trials):
                service.wait_full(120.0)
                g = make_graph(rng, 16)
                want = expected(lin, g)
                client.infer(MODEL, g)  # the channel to the active worker is up
                pid = next(w["pid"] for w in service.model_stats(client)["workers"]
                           if w["state"] == "ready")
                assert pid in service.workers()
                os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
                while True:
                    try:
                        out = client.infer(MODEL, g)
                    except graphferry.Error as exc:
                        errors[exc.code.name] = errors.get(exc.code.name, 0) + 1
                        continue
                    import torch
                    assert torch.allclose(out, want, atol=ATOL, rtol=0)
                    times.append(time.monotonic() - killed)
                    break
                say(f"standby {standby}, trial {trial + 1}: next success "
                    f"{times[-1] * 1000:.0f} ms after SIGKILL", flush=True)
    finally:
        service.stop()
        leaked = leaks(before, service.pids | {os.getpid()})
        service.remove()
    return {"standby": standby, "trials": trials, "kill_to_next_success": percentiles(times),
            "errors": errors, "leaked_segments": leaked,
            "load_average": {"start": load_start, "end": loadavg()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per client process")
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--standby", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout (deadline)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recovery-trials", type=int, default=0,
                        help="instead of a chaos run: kill the only worker N times, time "
                             "kill -> next success (with --standby)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--server-log", type=Path, default=None,
                        help="copy the server's log here (level --log-level)")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING"))
    # internal: one load process
    parser.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_worker:
        return client_main(args)
    if args.recovery_trials:
        result = measure_recovery(args.standby, args.recovery_trials)
        print(json.dumps(result, indent=2))
        ok = not result["leaked_segments"]
    else:
        result = run(args.duration, args.clients, args.threads, args.kill_every, args.instances,
                     args.standby, args.timeout, args.seed, log_level=args.log_level,
                     keep_log=args.server_log)
        print_summary(result)
        ok = result["pass"]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
