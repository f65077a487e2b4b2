"""The dependency direction holds: the supervisor and the client never need torch."""

import subprocess
import sys
import textwrap

import graphferry
from support import procs
from support.server import Server

BLOCK_TORCH = textwrap.dedent("""
    import sys
    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torch_geometric"):
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, BlockTorch())
""")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_client_and_supervisor_import_without_torch():
    result = run_python("""
        import graphferry, graphferry.shm, graphferry.protocol.wire
        from graphferry import Client
        import graphferry.server.supervisor, graphferry.server.cli, graphferry.server.frontend
        assert "torch" not in sys.modules
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_shm_imports_neither_torch_nor_zmq():
    result = run_python("""
        import graphferry.shm
        assert "zmq" not in sys.modules and "torch" not in sys.modules, sorted(sys.modules)
    """)
    assert result.returncode == 0, result.stderr


def test_supervisor_serves_with_torch_unimportable():
    """The real service, its supervisor process unable to import torch, serves requests."""
    server = Server()
    socket = server.socket
    server.proc = subprocess.Popen(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(f"""
            from graphferry.server.cli import main
            sys.exit(main(["serve", "--socket", {str(socket)!r}]))
        """)], stdout=open(server.log_path, "wb"), stderr=subprocess.STDOUT)
    server.log = open(server.log_path, "ab")
    try:
        server.wait_ready()
        with server.client(arena_size=1 << 20) as client:
            out = client.infer("gcn", {"x": __import__("numpy").ones((3, 32), "float32"),
                                       "edge_index": [[0, 1], [1, 2]]})
            assert tuple(out.shape) == (1, 8)
        assert procs.alive(server.proc.pid)
    finally:
        log = server.output()
        server.stop()
    assert "blocked in this test" not in log, log  # nothing in the supervisor tried torch
