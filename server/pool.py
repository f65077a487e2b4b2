"""One served model version's workers: active slots, warm standbys, restarts,
hangs, deaths and the quarantine of inputs that killed a worker.

The supervisor calls ``reap`` → ``watch`` → ``manage`` on every tick; each
returns whether the published topology changed.
"""

import logging
import time
from dataclasses import dataclass, field

from .lifecycle import EXIT_BOOT_FAILURE
from .repository import ModelEntry
from .restart_policy import RestartPolicy
from .status_page import BatchEntry, Field, Fingerprint
from .worker_process import WorkerProcess

log = logging.getLogger("graphferry.supervisor")
HANG_KILL_GRACE_S = 1.0  # SIGTERM first; SIGKILL if it is still there after this
DEATH_MEMORY_S = 120.0  # how long the supervisor can tell clients how a worker died


@dataclass(frozen=True)
class Death:
    """What a dead worker was doing, for settling its clients' requests (§3.6)."""
    worker_id: str
    cause: str
    batch_size: int
    entries: tuple  # BatchEntry of the batch it was executing; empty if idle
    when: float


@dataclass
class ModelPool:
    entry: ModelEntry
    workers: dict = field(default_factory=dict)  # slot -> WorkerProcess (active slots)
    standbys: dict = field(default_factory=dict)  # slot -> WorkerProcess (warm spares)
    failed: str = ""  # why the model cannot be served; "" while it can
    restarts: int = 0
    crashes: dict = field(default_factory=dict)  # slot -> consecutive crashes
    restart_at: dict = field(default_factory=dict)  # slot -> monotonic time
    retired: dict = field(default_factory=dict)  # counters of workers that are gone
    quarantine: list = field(default_factory=list)  # [Fingerprint]
    deaths: dict = field(default_factory=dict)  # worker id -> Death
    hung: dict = field(default_factory=dict)  # worker id -> SIGKILL deadline

    @property
    def config(self):
        return self.entry.config

    def ready_workers(self) -> list:
        return [w for w in self.workers.values() if w.ready]

    def all_workers(self) -> list:
        return [*self.workers.values(), *self.standbys.values()]

    # -- reap ---------------------------------------------------------------
    def reap(self, policy: RestartPolicy, fingerprint) -> bool:
        """Collect exited workers; promote standbys; quarantine a solo killer."""
        changed = False
        for slots in (self.workers, self.standbys):
            for slot, worker in list(slots.items()):
                code = worker.exit_code()
                if code is None:
                    continue
                del slots[slot]
                changed |= worker.ready and slots is self.workers
                self.record_death(worker, code, fingerprint)
                if code == EXIT_BOOT_FAILURE:
                    self.failed = f"worker {worker.id} {worker.describe_exit(code)}"
                    log.error("model %s v%d failed: %s; not restarting it (see the worker's "
                              "log above)", self.entry.name, self.entry.version, self.failed)
                    continue
                log.warning("worker %s (pid %d) %s", worker.id, worker.proc.pid,
                            worker.describe_exit(code))
                self.schedule_restart(slot, worker, policy)
                if slots is self.workers:
                    changed |= self.promote(slot)
        return changed

    def record_death(self, worker: WorkerProcess, code: int, fingerprint) -> None:
        size, entries = worker.page.executing()
        death = Death(worker.id, worker.describe_exit(code), size, tuple(entries),
                      time.monotonic())
        for key in (Field.REQUESTS, Field.GRAPHS, Field.ERRORS, Field.BATCHES):
            self.retired[key] = self.retired.get(key, 0) + worker.page[key]
        self.hung.pop(worker.id, None)
        worker.release()
        self.deaths = {k: d for k, d in self.deaths.items()
                       if death.when - d.when < DEATH_MEMORY_S}
        self.deaths[worker.id] = death
        if size == 1 and entries and (entries[0].attempt > 0 or not self.config.retry_on_crash):
            self.add_to_quarantine(entries[0], worker.id, fingerprint)

    def add_to_quarantine(self, entry: BatchEntry, worker_id: str, fingerprint) -> None:
        found = fingerprint(entry, self.config.quarantine_s)
        if found is None:
            log.warning("worker %s died running one request alone, but its input could "
                        "not be read back to quarantine it", worker_id)
            return
        now = time.monotonic_ns()
        self.quarantine = [f for f in self.quarantine if f.expires_ns > now] + [found]
        log.error("quarantined an input of %s (%d graphs, %d nodes, %d edges) for %.0f s: "
                  "it killed worker %s while running alone", self.entry.name, found.graphs,
                  found.nodes, found.edges, self.config.quarantine_s, worker_id)
        for worker in self.all_workers():
            worker.page.write_quarantine(self.quarantine)

    def schedule_restart(self, slot: int, worker: WorkerProcess, policy: RestartPolicy) -> None:
        now = time.monotonic()
        stable = now - worker.started >= policy.stable_after_s
        crashes = 1 if stable else self.crashes.get(slot, 0) + 1
        self.crashes[slot] = crashes
        self.restart_at[slot] = now + policy.delay(crashes)
        self.restarts += 1

    def promote(self, slot: int) -> bool:
        """Move a ready standby into active ``slot``; True if one was there."""
        for spare_slot, spare in list(self.standbys.items()):
            if spare.ready:
                del self.standbys[spare_slot]
                self.workers[slot] = spare
                # the replacement spare inherits the backoff: no crash loop through spares
                self.restart_at[spare_slot] = self.restart_at.pop(slot, time.monotonic())
                self.crashes[spare_slot] = self.crashes.get(slot, 0)
                log.info("promoted standby %s into slot %d", spare.id, slot)
                return True
        return False

    # -- watch --------------------------------------------------------------
    def watch(self) -> bool:
        """Readiness from status pages; kill workers whose model call hangs."""
        changed = False
        now_ns = time.monotonic_ns()
        limit_ns = int(self.config.exec_timeout_s * 1e9)
        for worker in self.all_workers():
            if worker.poll_ready():
                changed |= worker in self.workers.values()
            busy = worker.page[Field.BUSY_SINCE_NS]
            if busy and now_ns - busy > limit_ns:
                self.kill_hung(worker, (now_ns - busy) / 1e9)
        return changed

    def kill_hung(self, worker: WorkerProcess, busy_s: float) -> None:
        deadline = self.hung.get(worker.id)
        if deadline is None:
            log.error("worker %s has been inside one model call for %.1f s (exec_timeout_s "
                      "= %g): killing it as hung", worker.id, busy_s, self.config.exec_timeout_s)
            worker.terminate()
            self.hung[worker.id] = time.monotonic() + HANG_KILL_GRACE_S
        elif time.monotonic() >= deadline:
            worker.kill()

    # -- manage -------------------------------------------------------------
    def manage(self, spawn) -> None:
        """Hold the active slots and the standbys at their counts."""
        if self.failed:
            return
        now = time.monotonic()
        config = self.config
        for slot in range(config.instances):
            if slot not in self.workers and self.restart_at.get(slot, 0) <= now:
                self.workers[slot] = spawn(self, slot)
        for slot in range(config.instances, config.instances + config.standby):
            if slot not in self.standbys and self.restart_at.get(slot, 0) <= now:
                self.standbys[slot] = spawn(self, slot)
