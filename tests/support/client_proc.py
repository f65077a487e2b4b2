"""A separate client process for tests: ``python client_proc.py SOCKET SEED COUNT``.

Sends COUNT requests of varied graphs to gcn and sage, checks each against
the in-process model, prints one JSON line with the counts.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import graphferry  # noqa: E402
from support import reference  # noqa: E402


def main() -> None:
    socket, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    wrong = errors = 0
    with graphferry.Client(socket=socket, arena_size=8 << 20, name=f"proc-{seed}") as client:
        for i in range(count):
            name = ("gcn", "sage")[i % 2]
            g = reference.graph(20 + (seed * 37 + i * 13) % 300, seed=seed * 1000 + i)
            try:
                out = client.infer(name, g)
            except graphferry.Error as exc:
                errors += 1
                print(repr(exc), file=sys.stderr)
                continue
            wrong += not torch.allclose(out, reference.run(name, g), atol=1e-5)
    print(json.dumps({"count": count, "wrong": wrong, "errors": errors}))


if __name__ == "__main__":
    main()
