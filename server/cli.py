"""``graphferry``: the command line. Logging is configured here and only here."""

import argparse
import json
import logging
import sys
from pathlib import Path

from graphferry.protocol.paths import default_socket


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="graphferry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service (supervisor and workers)")
    serve.add_argument("--models", type=Path, default=None,
                       help="model repository (default: the bundled demo models)")
    serve.add_argument("--socket", type=Path, default=None,
                       help="control socket path (default: $GRAPHFERRY_SOCKET, else "
                            "$XDG_RUNTIME_DIR/graphferry/graphferry.sock, else "
                            "/tmp/graphferry-$UID/graphferry.sock)")
    serve.add_argument("--log-level", default="INFO",
                       choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    status = commands.add_parser("status", help="print a running service's health and stats")
    status.add_argument("--socket", type=Path, default=None)
    gc = commands.add_parser("gc", help="remove /dev/shm/graphferry-* segments whose "
                                        "creating process is gone")
    gc.add_argument("--dry-run", action="store_true", help="only list them")
    args = parser.parse_args(argv)
    return {"serve": run_serve, "status": run_status, "gc": run_gc}[args.command](args)


def run_serve(args) -> int:
    from .config import ConfigError
    from .repository import DEMO_ROOT, scan
    from .supervisor import ServeConfig, Supervisor

    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s supervisor %(levelname)s %(message)s")
    try:
        repository = scan(args.models or DEMO_ROOT)
        config = ServeConfig(repository, (args.socket or default_socket()).absolute(),
                             log_level=args.log_level)
        Supervisor(config).run()
    except (ConfigError, RuntimeError, PermissionError, ValueError) as exc:
        logging.getLogger("graphferry.supervisor").error("%s", exc)
        return 1
    return 0


def run_status(args) -> int:
    from graphferry import Client, Error

    try:
        with Client(socket=args.socket, timeout=5.0) as client:
            print(json.dumps({"health": client.health(), "stats": client.stats()}, indent=2))
    except Error as exc:
        print(f"graphferry: {exc}", file=sys.stderr)
        return 1
    return 0


def run_gc(args) -> int:
    from .cleanup import collect

    removed = collect(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for name in removed:
        print(f"{verb} /dev/shm/{name}")
    print(f"{len(removed)} stale segment(s) {verb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
