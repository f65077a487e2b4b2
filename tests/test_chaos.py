"""A bounded chaos run: workers killed every ~2 s while clients send requests.

benchmarks/chaos.py's ``run`` with a 30 s window: two client processes × two
threads send good graphs and check every answer, while the harness SIGKILLs
and SIGSEGVs workers and sends poison inputs (``os.abort()``, an endless
loop). Asserted: no wrong output, no request back later than its deadline + 1
s, no leaked segment, no untyped exception, the service ready at the end;
some requests were correct and some workers died. Typed errors
(MODEL_UNAVAILABLE while every worker is restarting, …) are allowed and
printed (pytest -s). The 10-minute run is in docs/reliability.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import chaos  # noqa: E402


def test_bounded_chaos_run():
    summary = chaos.run(duration=30.0, clients=2, threads=2, kill_every=2.0, instances=2,
                        standby=1, timeout=10.0, seed=3, end_wait_full_s=0)
    print()
    chaos.print_summary(summary)
    requests = summary["requests"]
    assert requests["wrong"] == 0, summary
    assert requests["hangs"] == 0, summary
    assert not requests["untyped_exceptions"], summary
    assert summary["leaked_segments"] == [], summary
    assert not summary["client_processes_missing"], summary
    assert summary["health_at_end"] == "ready", summary
    assert requests["correct"] > 0, summary
    assert sum(summary["chaos"]["actions"].values()) > 0 and summary["worker_deaths"] > 0, summary
    # Each fresh poison input killed a worker and came back WORKER_CRASHED; a re-sent one POISONED.
    assert not summary["chaos"]["poison_unexpected"], summary["chaos"]
