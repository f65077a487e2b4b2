"""The C++ client (client_cpp/), built with CMake and driven from here.

Offline: the golden vectors decoded and encoded by C++ (identical bytes),
GraphWriter's in-place layout, the ErrorCode table against Python's, the
installed CMake package and pkg-config file (the example consumer builds with
-Wall -Wextra -Werror). Live, against a real server: varied graphs equal the
Python client's outputs, one Client per thread in 8 threads, a crashing input
surfaces as WORKER_CRASHED, then as POISONED without a worker restart, and the
next call succeeds (both builds), calls held by a worker killed from outside
are re-sent and answered. The tool is built twice: plain
and under -fsanitize=address,undefined; the sanitized one runs the offline
suite and a live run, and any sanitizer report fails the test.

Nothing is skipped: a missing cmake, compiler or Debian package fails with
the command that installs it (`make test` installs them).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import hold_server, release_server
from graphferry.protocol.codes import ErrorCode
from graphferry.shm import bfloat16_from_float32, code_of, numpy_dtype, pack
from support import crashy, procs
from support.repos import make_repo
from support.server import TEST_MODELS, Server

REPO = Path(__file__).resolve().parent.parent
CPP = REPO / "client_cpp"
BUILD = CPP / "build"  # git-ignored
VECTORS = REPO / "shm" / "vectors"
VALID = sorted((VECTORS / "valid").glob("*.json"))
INVALID = sorted((VECTORS / "invalid").glob("*.json"))
INSTALL_HINT = ("Hint: apt-get install -y cmake g++ pkg-config libzmq3-dev cppzmq-dev "
                "libmsgpack-cxx-dev (what `make test` does)")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def _run(args, timeout=600, env=None, check=True, **kw):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout[-5000:]}\nstderr:\n{proc.stderr[-5000:]}")
    return proc


def _build(name: str, *cmake_args) -> Path:
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; the C++ client tests need it. {INSTALL_HINT}")
    build = BUILD / name
    conf = subprocess.run(["cmake", "-S", CPP, "-B", build, "-DGRAPHFERRY_BUILD_TESTS=ON",
                           "-DGRAPHFERRY_BUILD_BENCHMARKS=ON", *cmake_args],
                          capture_output=True, text=True)
    if conf.returncode != 0:
        pytest.fail(f"configuring client_cpp failed:\n{conf.stdout[-3000:]}{conf.stderr[-3000:]}\n"
                    f"{INSTALL_HINT}")
    _run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2)])
    return build


@pytest.fixture(scope="session")
def tool():
    return _build("pytest-release", "-DCMAKE_BUILD_TYPE=RelWithDebInfo") / "gf_test_tool"


@pytest.fixture(scope="session")
def asan_tool():
    return _build("pytest-asan", "-DCMAKE_BUILD_TYPE=Debug",
                  "-DGRAPHFERRY_SANITIZE=ON") / "gf_test_tool"


@pytest.fixture(params=["release", "asan"])
def any_tool(request):
    return request.getfixturevalue("tool" if request.param == "release" else "asan_tool")


def _run_tool(tool: Path, *args, timeout=300, check=True):
    env = SAN_ENV if "asan" in str(tool) else None
    proc = _run([tool, *args], timeout=timeout, env=env, check=check)
    reports = [m for m in SANITIZER_MARKS if m in proc.stderr]
    assert not reports, f"sanitizer report from {tool.name} {args[0]}:\n{proc.stderr[-8000:]}"
    return proc


# -- offline --------------------------------------------------------------

def test_error_codes_match_python(any_tool):
    out = _run_tool(any_tool, "codes").stdout.split("\n")
    cpp = {name: int(value) for name, value in (line.split() for line in out if line)}
    assert cpp == {c.name: int(c) for c in ErrorCode}


def test_client_without_a_service_fails_at_once(any_tool, tmp_path):
    """Regression: a Client whose socket had nothing behind it waited out its
    whole timeout before saying so (the tool's is 60 s)."""
    missing, stale = tmp_path / "missing.sock", tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # the file stays, nothing listens: a stopped service's
    for path, why in ((missing, "there is no socket there"), (stale, "nothing listens")):
        started = time.monotonic()
        out = _run_tool(any_tool, "connect", path, check=False)
        assert out.returncode == 3 and out.stdout.startswith("error SERVICE_UNAVAILABLE"), out
        assert why in out.stdout
        assert time.monotonic() - started < 30, "it waited for its timeout"


def test_vector_sets_exist():
    assert len(VALID) >= 7 and len(INVALID) >= 16, "shm/vectors is incomplete"


def _listed(values, dtype_name: str, shape) -> np.ndarray:
    """A .json vector array as the bytes the format holds (FORMAT.md §7)."""
    if dtype_name == "bfloat16":
        return bfloat16_from_float32(np.array(values, dtype=np.float32).reshape(shape))
    return np.array(values, dtype=numpy_dtype(code_of(dtype_name))).reshape(shape)


def _expected_arrays(doc):
    h = doc["header"]
    arrays = {
        "ptr": np.array(doc["ptr"], dtype="<i8"),
        "edge_index": np.array(doc["edge_index"], dtype="<i8").reshape(2, h["num_edges"]),
        "x": _listed(doc["x"], h["x_dtype"], (h["num_nodes"], h["num_node_features"])),
    }
    if "edge_attr" in doc:
        arrays["edge_attr"] = _listed(doc["edge_attr"], h["edge_attr_dtype"],
                                      (h["num_edges"], h["num_edge_features"]))
    return arrays


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector_decodes_in_cpp(any_tool, path, tmp_path):
    doc = json.loads(path.read_text())
    _run_tool(any_tool, "decode", path.with_suffix(".bin"), tmp_path)
    assert not (tmp_path / "error.json").exists(), (tmp_path / "error.json").read_text()
    got = json.loads((tmp_path / "header.json").read_text())
    want = dict(doc["header"])
    ea = want["edge_attr_dtype"]
    want["x_dtype"] = code_of(want["x_dtype"])
    want["edge_attr_dtype"] = 0 if ea == "none" else code_of(ea)
    assert got == want
    for name, array in _expected_arrays(doc).items():
        raw = (tmp_path / f"{name}.raw").read_bytes()
        assert raw == np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes(), name
    assert (tmp_path / "edge_attr.raw").exists() == ("edge_attr" in doc)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector_encodes_in_cpp(any_tool, path, tmp_path):
    doc = json.loads(path.read_text())
    h = doc["header"]
    arrays = _expected_arrays(doc)
    ea = h["edge_attr_dtype"]
    (tmp_path / "meta.txt").write_text(" ".join(str(v) for v in (
        h["num_graphs"], h["num_nodes"], h["num_edges"], h["num_node_features"],
        code_of(h["x_dtype"]), h["num_edge_features"], 0 if ea == "none" else code_of(ea))))
    for name, array in arrays.items():
        (tmp_path / f"{name}.raw").write_bytes(np.ascontiguousarray(array).tobytes())
    _run_tool(any_tool, "encode", tmp_path, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == path.with_suffix(".bin").read_bytes()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_vector_through_graph_writer(any_tool, path, tmp_path):
    """GraphWriter (local ids, spans, over-capacity compaction) gives the same bytes."""
    proc = _run_tool(any_tool, "rewrite", path.with_suffix(".bin"), tmp_path / "out.bin",
                     check=False)
    if proc.returncode == 3:
        # Edges not grouped per graph: GraphWriter's per-graph API cannot keep
        # that order. Only the deliberately interleaved vectors may do this.
        doc = json.loads(path.read_text())
        src = np.array(doc["edge_index"][0])
        owner = np.searchsorted(np.array(doc["ptr"]), src, side="right") - 1
        assert np.any(np.diff(owner) < 0), "rewrite refused a grouped vector"
        return
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == path.with_suffix(".bin").read_bytes()


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_vector_fails_in_cpp_with_its_code(any_tool, path, tmp_path):
    doc = json.loads(path.read_text())
    _run_tool(any_tool, "decode", path.with_suffix(".bin"), tmp_path)
    assert (tmp_path / "error.json").exists(), f"C++ accepted {path.name} ({doc['why']})"
    got = json.loads((tmp_path / "error.json").read_text())
    assert got["name"] == doc["code"], doc["why"]
    assert got["code"] == int(ErrorCode[doc["code"]])


def test_graph_writer_selftest(any_tool):
    assert _run_tool(any_tool, "writer-selftest").stdout.strip() == "OK"


def test_installed_package_builds_consumer_with_werror(tmp_path):
    """cmake --install, then the example consumer via find_package only; and pkg-config."""
    build = _build("pytest-release", "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    prefix = tmp_path / "prefix"
    _run(["cmake", "--install", build, "--prefix", prefix])
    assert (prefix / "include" / "graphferry" / "graphferry.hpp").exists()
    consumer = tmp_path / "consumer"
    _run(["cmake", "-S", CPP / "examples" / "consumer", "-B", consumer,
          f"-DCMAKE_PREFIX_PATH={prefix}"])
    _run(["cmake", "--build", consumer])
    assert (consumer / "consumer").exists()
    if shutil.which("pkg-config") is None:
        pytest.fail(f"pkg-config is not installed. {INSTALL_HINT}")
    flags = _run(["pkg-config", "--cflags", "--libs", "graphferry"],
                 env={"PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}).stdout.split()
    assert f"-I{prefix}/include" in [os.path.normpath(f) if f.startswith("-I/") else f
                                     for f in flags] or any(
        f.startswith("-I") and Path(f[2:]).resolve() == (prefix / "include").resolve()
        for f in flags)
    assert "-lzmq" in flags
    exe = tmp_path / "pc_consumer"
    _run(["c++", "-std=c++17", "-Wall", "-Wextra", "-Werror",
          CPP / "examples" / "consumer" / "main.cpp", "-o", exe, *flags])


# -- live -------------------------------------------------------------------

def _graphs(rng, sizes, features=32):
    """A packed batch (Python's encoder) and the dict the Python client takes."""
    xs, edges, ptr = [], [], [0]
    for n, e in sizes:
        xs.append(rng.standard_normal((n, features)).astype(np.float32))
        edges.append(rng.integers(0, n, size=(2, e)) + ptr[-1])
        ptr.append(ptr[-1] + n)
    arrays = {"x": np.concatenate(xs), "edge_index": np.concatenate(edges, axis=1).astype(np.int64),
              "ptr": np.array(ptr, dtype=np.int64)}
    return arrays, pack(**arrays)


SIZES = [[(1, 0)], [(100, 400)], [(7, 12), (30, 90), (2, 1)], [(500, 2500)],
         [(3, 4)] * 40, [(2000, 9000)], [(60, 200), (0, 0), (15, 40)]]


def _write_inputs(tmp_path, rng, sizes_list):
    paths, refs = [], []
    for i, sizes in enumerate(sizes_list):
        arrays, data = _graphs(rng, sizes)
        p = tmp_path / f"in{i}.bin"
        p.write_bytes(data)
        paths.append(p)
        refs.append(arrays)
    return paths, refs


def _read_output(stem: Path):
    rows, width, kind = stem.with_suffix(".shape").read_text().split()
    out = np.fromfile(stem.with_suffix(".f32"), dtype="<f4").reshape(int(rows), int(width))
    return out, kind


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_outputs_match_python_client(server, client, tool, tmp_path, model):
    """Varied sizes (1 node .. 2000 nodes, 1 .. 40 graphs), 8 threads, one Client each."""
    paths, refs = _write_inputs(tmp_path, np.random.default_rng(4), SIZES)
    _run_tool(tool, "infer", server.socket, model, tmp_path, 8, *paths)
    kinds = set()
    for i, arrays in enumerate(refs):
        want = client.infer(model, arrays).numpy()
        for t in range(8):
            got, kind = _read_output(tmp_path / f"t{t}_{i}")
            kinds.add(kind)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0,
                                       err_msg=f"{model} input {i} thread {t}")
    if model == "sage":  # node-level, 2000 x 16 x 4 bytes: over the inline limit
        assert "view" in kinds, "no output came back through an output slot"


def test_live_under_sanitizers(server, client, asan_tool, tmp_path):
    paths, refs = _write_inputs(tmp_path, np.random.default_rng(5), SIZES[:4] + SIZES[5:6])
    _run_tool(asan_tool, "infer", server.socket, "sage", tmp_path, 2, *paths)
    for i, arrays in enumerate(refs):
        got, _ = _read_output(tmp_path / f"t1_{i}")
        np.testing.assert_allclose(got, client.infer("sage", arrays).numpy(), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def crash_server(tmp_path_factory):
    if not (TEST_MODELS / "crashy").exists():
        pytest.fail(f"tests/models/crashy is missing: the crash test needs the test model "
                    f"repository (crashy exits when x[0,0] == 666)")
    # crashy alone: the repository's other models fail on purpose, which would
    # keep the service "degraded" instead of "ready".
    models = tmp_path_factory.mktemp("models")
    (models / "crashy").symlink_to(TEST_MODELS / "crashy", target_is_directory=True)
    srv = Server(models=models).start()
    hold_server(srv)
    yield srv
    release_server(srv)


@pytest.mark.parametrize("seed", [6, 8], ids=["release", "asan"])
def test_crashing_input_is_crashed_then_poisoned_and_next_call_succeeds(crash_server, tool,
                                                                        asan_tool, tmp_path, seed):
    """protocol.md §5.3, §5.4: killed twice (batch, then alone) → WORKER_CRASHED; the same
    input again → POISONED without a worker restart; a good call then succeeds.

    Each build gets its own poison (the seed), so the other's quarantine does not meet it.
    """
    binary = tool if seed == 6 else asan_tool
    rng = np.random.default_rng(seed)
    meta = crash_server.client(timeout=30).metadata("crashy")
    features = meta["input"]["features"]
    bad, _ = _graphs(rng, [(10, 20)], features)
    bad["x"][0, 0] = 666.0
    good, good_bytes = _graphs(rng, [(10, 20)], features)
    (tmp_path / "bad.bin").write_bytes(pack(**bad))
    (tmp_path / "good.bin").write_bytes(good_bytes)
    out = _run_tool(binary, "crash", crash_server.socket, "crashy", tmp_path / "bad.bin",
                    tmp_path / "good.bin", timeout=400).stdout
    assert "crash-input: WORKER_CRASHED" in out, out
    assert "quarantined" in out, out  # it died running alone (attempt 1)
    assert f"again: POISONED {int(ErrorCode.POISONED)}" in out, out
    before, after = (int(v.split("=")[1]) for v in out.split("restarts: ")[1].split()[:2])
    assert after == before, f"a quarantined input reached a model:\n{out}"
    assert "next: ok" in out, out
    assert "resends=1 " in out, out  # the crashing call was re-sent alone exactly once
    with crash_server.client(timeout=60) as py:
        want = py.infer("crashy", good).numpy()
    got = np.fromfile(tmp_path / "good.bin.cpp.f32", dtype="<f4").reshape(want.shape)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_spin_option_spins_then_sleeps(crash_server, tool, tmp_path):
    """Options::spin: a call that waits 0.3 s (crashy's slow marker) spends about the
    spin time on the CPU and sleeps the rest; without spin it hardly uses the CPU."""
    slow = crashy.graph(11, crashy.SLOW)
    arrays = {"x": slow.x.numpy(), "edge_index": slow.edge_index.numpy(),
              "ptr": np.array([0, slow.num_nodes], dtype=np.int64)}
    path = tmp_path / "slow.bin"
    path.write_bytes(pack(**arrays))
    cpu = {}
    for spin_us in (0, 100_000):
        out = _run_tool(tool, "spin", crash_server.socket, "crashy", path, spin_us).stdout
        cpu[spin_us] = float(out.split("cpu_s=")[1].split()[0])
        want = crashy.expected(slow).numpy()
        got = np.fromfile(tmp_path / "slow.bin.spin.f32", dtype="<f4").reshape(want.shape)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert cpu[0] < 0.03, cpu  # asleep in zmq_poll
    assert 0.03 < cpu[100_000] < 0.25, cpu  # ~0.1 s awake, then asleep for the rest


def test_crashing_input_with_retry_off_is_crashed_at_once(tmp_path, tool):
    """`retry_on_crash = false` (§3.2 `retry`): WORKER_CRASHED without a re-send; the
    supervisor quarantines the input it ran alone, so it is POISONED next."""
    srv = Server(models=make_repo(tmp_path, {"crashy": "retry_on_crash = false"})).start()
    hold_server(srv)
    try:
        rng = np.random.default_rng(9)
        bad, _ = _graphs(rng, [(10, 20)])
        bad["x"][0, 0] = 666.0
        good, good_bytes = _graphs(rng, [(10, 20)])
        (tmp_path / "bad.bin").write_bytes(pack(**bad))
        (tmp_path / "good.bin").write_bytes(good_bytes)
        out = _run_tool(tool, "crash", srv.socket, "crashy", tmp_path / "bad.bin",
                        tmp_path / "good.bin", timeout=400).stdout
        assert "crash-input: WORKER_CRASHED" in out and "retry_on_crash is off" in out, out
        assert f"again: POISONED {int(ErrorCode.POISONED)}" in out, out
        before, after = (int(v.split("=")[1]) for v in out.split("restarts: ")[1].split()[:2])
        assert after == before, out
        assert "next: ok" in out and "resends=0 " in out, out
    finally:
        release_server(srv)


def test_calls_at_a_killed_worker_are_resent(tmp_path, tool):
    """SIGSTOP the gcn worker, put 4 calls on it, SIGKILL it: all are re-sent and answered."""
    srv = Server().start()
    hold_server(srv)
    try:
        with srv.client(timeout=60) as py:
            pid = next(w["pid"] for m in py.stats()["models"] if m["name"] == "gcn"
                       for w in m["workers"])
            paths, refs = _write_inputs(tmp_path, np.random.default_rng(7), SIZES[1:5])
            # References first: this Python client is not part of the test.
            want = [py.infer("gcn", arrays).numpy() for arrays in refs]
        out = _run_tool(tool, "kill-resend", srv.socket, "gcn", pid, tmp_path, 4, *paths,
                        timeout=400).stdout
        resends = int(out.split("resends=")[1].split()[0])
        assert resends == 4, out
        assert "late: used=0" in out, out
        for t in range(4):
            got, _ = _read_output(tmp_path / f"t{t}")
            np.testing.assert_allclose(got, want[t % len(want)], atol=1e-5, rtol=0)
    finally:
        release_server(srv)
