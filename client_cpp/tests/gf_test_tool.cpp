// Test driver for the graphferry C++ client, run by tests/test_cpp_client.py.
// Each subcommand does one job and reports through files or stdout lines the
// pytest side checks; a failure exits non-zero with the reason on stderr.
//
//   codes                                   NAME VALUE per ErrorCode
//   decode  <in.bin> <outdir>               header.json + *.raw, or error.json
//   encode  <indir> <out.bin>               encode() from meta.txt + *.raw
//   rewrite <in.bin> <out.bin>              decode, then GraphWriter (local ids), write
//   writer-selftest                         under-capacity compaction == encode()
//   infer   <socket> <model> <outdir> <threads> <in.bin>...
//   crash   <socket> <model> <crash.bin> <good.bin>
//   kill-resend <socket> <model> <pid> <outdir> <threads> <in.bin>...
//   spin    <socket> <model> <in.bin> <spin_us>   one call; the thread's CPU time
//   connect <socket>                        a Client (timeout 60 s): "connected", or
//                                           "error CODE message" and exit 3
#include <graphferry/graphferry.hpp>

#include <signal.h>
#include <sys/types.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace gf = graphferry;

// Compile-time contracts of the RAII owners (STYLE.md: move-only, noexcept).
static_assert(!std::is_copy_constructible_v<gf::detail::Socket>);
static_assert(!std::is_copy_assignable_v<gf::detail::Socket>);
static_assert(!std::is_copy_constructible_v<gf::detail::SharedMemory>);
static_assert(!std::is_copy_assignable_v<gf::detail::SharedMemory>);
static_assert(!std::is_copy_constructible_v<gf::detail::Context>);
static_assert(!std::is_copy_constructible_v<gf::detail::Lease>);
static_assert(!std::is_copy_constructible_v<gf::Client>);
static_assert(!std::is_copy_constructible_v<gf::Tensor>);
static_assert(!std::is_copy_constructible_v<gf::GraphWriter>);
static_assert(std::is_nothrow_destructible_v<gf::Client>);
static_assert(std::is_nothrow_destructible_v<gf::detail::SharedMemory>);
static_assert(std::is_nothrow_move_constructible_v<gf::detail::Socket>);
static_assert(std::is_nothrow_move_constructible_v<gf::Client>);

namespace {

[[noreturn]] void die(const std::string& why) {
  std::cerr << "gf_test_tool: " << why << "\n";
  std::exit(2);
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot read " + path);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // 64-aligned copy: decode views int64 sections in place.
  std::vector<std::byte> out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

// std::vector's buffer is only 16-aligned; decode wants 8, GraphWriter 8.
struct Aligned {
  explicit Aligned(std::size_t n) : buf(n / 8 + 8, 0) {}
  std::byte* data() { return reinterpret_cast<std::byte*>(buf.data()); }
  std::vector<std::uint64_t> buf;
};

void write_file(const std::string& path, const void* data, std::size_t size) {
  std::ofstream f(path, std::ios::binary);
  if (!f) die("cannot write " + path);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

int cmd_connect(const std::string& socket) {
  gf::Options options;
  options.timeout = std::chrono::seconds(60);
  try {
    gf::Client client(socket, options);
  } catch (const gf::Error& e) {
    std::printf("error %s %s\n", gf::to_string(e.code()), e.what());
    return 3;
  }
  std::printf("connected\n");
  return 0;
}

int cmd_codes() {
  for (const auto& e : gf::kErrorCodes) std::printf("%s %d\n", e.name, static_cast<int>(e.code));
  return 0;
}

int cmd_decode(const std::string& in, const std::string& outdir) {
  auto bytes = read_file(in);
  Aligned buf(bytes.size());
  if (!bytes.empty()) std::memcpy(buf.data(), bytes.data(), bytes.size());
  try {
    auto v = gf::decode(buf.data(), bytes.size(), 0, bytes.size());
    const auto& h = v.header;
    std::ostringstream j;
    j << "{\"num_graphs\": " << h.num_graphs << ", \"num_nodes\": " << h.num_nodes
      << ", \"num_edges\": " << h.num_edges << ", \"num_node_features\": " << h.num_node_features
      << ", \"num_edge_features\": " << h.num_edge_features
      << ", \"x_dtype\": " << static_cast<int>(h.x_dtype)
      << ", \"edge_attr_dtype\": " << static_cast<int>(h.edge_attr_dtype)
      << ", \"total_length\": " << h.total_length << ", \"ptr_offset\": " << h.ptr_offset
      << ", \"edge_index_offset\": " << h.edge_index_offset << ", \"x_offset\": " << h.x_offset
      << ", \"edge_attr_offset\": " << h.edge_attr_offset << "}\n";
    std::string s = j.str();
    write_file(outdir + "/header.json", s.data(), s.size());
    write_file(outdir + "/ptr.raw", v.ptr, (h.num_graphs + 1) * 8);
    write_file(outdir + "/edge_index.raw", v.src, h.num_edges * 16);  // rows are adjacent
    write_file(outdir + "/x.raw", v.x, h.num_nodes * h.num_node_features * gf::itemsize(h.x_dtype));
    if (v.edge_attr)
      write_file(outdir + "/edge_attr.raw", v.edge_attr,
                 h.num_edges * h.num_edge_features * gf::itemsize(h.edge_attr_dtype));
  } catch (const gf::Error& e) {
    std::string s = "{\"code\": " + std::to_string(static_cast<int>(e.code())) + ", \"name\": \"" +
                    gf::to_string(e.code()) + "\"}\n";
    write_file(outdir + "/error.json", s.data(), s.size());
  }
  return 0;
}

// meta.txt: "graphs nodes edges F x_dtype D edge_attr_dtype"
int cmd_encode(const std::string& indir, const std::string& out) {
  std::ifstream meta(indir + "/meta.txt");
  std::uint64_t g, n, e;
  unsigned f, d, xd, ed;
  if (!(meta >> g >> n >> e >> f >> xd >> d >> ed)) die("bad meta.txt");
  auto ptr = read_file(indir + "/ptr.raw");
  auto ei = read_file(indir + "/edge_index.raw");
  auto x = read_file(indir + "/x.raw");
  std::vector<std::int64_t> ptr64(ptr.size() / 8), ei64(ei.size() / 8);
  if (!ptr.empty()) std::memcpy(ptr64.data(), ptr.data(), ptr.size());
  if (!ei.empty()) std::memcpy(ei64.data(), ei.data(), ei.size());
  if (ptr64.size() != g + 1 || ei64.size() != 2 * e) die("array sizes disagree with meta.txt");
  gf::PackedArrays a;
  a.ptr = {ptr64.data(), ptr64.size()};
  a.src = {ei64.data(), e};
  a.dst = {ei64.data() + e, e};
  a.x = {x.data(), x.size()};
  a.num_node_features = f;
  a.x_dtype = static_cast<gf::DType>(xd);
  std::vector<std::byte> ea;
  if (ed) {
    ea = read_file(indir + "/edge_attr.raw");
    a.edge_attr = {ea.data(), ea.size()};
    a.num_edge_features = d;
    a.edge_attr_dtype = static_cast<gf::DType>(ed);
  }
  (void)n;
  const auto h = gf::header_for(a);
  std::vector<std::byte> buf(h.total_length);
  const std::size_t len = gf::encode(a, {buf.data(), buf.size()});
  write_file(out, buf.data(), len);
  return 0;
}

// Re-lays a decoded packed graph through GraphWriter (local ids, span fill)
// and writes the bytes; exit 3 when its edges are not grouped by graph, the
// one case GraphWriter cannot reproduce byte for byte.
int cmd_rewrite(const std::string& in, const std::string& out) {
  auto bytes = read_file(in);
  Aligned src(bytes.size());
  std::memcpy(src.data(), bytes.data(), bytes.size());
  auto v = gf::decode(src.data(), bytes.size(), 0, bytes.size());
  const auto& h = v.header;
  // Edges of graph k must form the k-th contiguous run.
  std::vector<std::size_t> edge_start(h.num_graphs + 1, 0);
  {
    std::size_t e = 0;
    for (std::size_t k = 0; k < h.num_graphs; ++k) {
      edge_start[k] = e;
      while (e < h.num_edges && v.src[e] >= v.ptr[k] && v.src[e] < v.ptr[k + 1]) ++e;
    }
    edge_start[h.num_graphs] = e;
    if (e != h.num_edges) return 3;
  }
  gf::InputSpec spec{h.num_node_features, h.x_dtype, h.num_edge_features, h.edge_attr_dtype};
  // Capacity above the need, to exercise the compaction in finish().
  gf::Capacity cap{h.num_graphs + 2, h.num_nodes + 7, h.num_edges + 5};
  Aligned buf(gf::GraphWriter::bytes_needed(cap, spec));
  std::memset(buf.data(), 0xAB, gf::GraphWriter::bytes_needed(cap, spec));  // padding must be rewritten
  gf::GraphWriter w({buf.data(), gf::GraphWriter::bytes_needed(cap, spec)}, cap, spec);
  const std::size_t xrow = h.num_node_features * gf::itemsize(h.x_dtype);
  const std::size_t erow = h.num_edge_features * gf::itemsize(h.edge_attr_dtype);
  for (std::size_t k = 0; k < h.num_graphs; ++k) {
    const std::size_t n0 = static_cast<std::size_t>(v.ptr[k]);
    const std::size_t nk = static_cast<std::size_t>(v.ptr[k + 1] - v.ptr[k]);
    const std::size_t e0 = edge_start[k], ek = edge_start[k + 1] - edge_start[k];
    auto g = w.add_graph(nk, ek);
    if (nk * xrow != 0) std::memcpy(g.x_bytes.data(), v.x + n0 * xrow, nk * xrow);
    for (std::size_t e = 0; e < ek; ++e) {
      g.src[e] = v.src[e0 + e] - static_cast<std::int64_t>(n0);
      g.dst[e] = v.dst[e0 + e] - static_cast<std::int64_t>(n0);
    }
    if (erow && ek) std::memcpy(g.edge_attr_bytes.data(), v.edge_attr + e0 * erow, ek * erow);
  }
  const std::size_t len = w.finish();
  write_file(out, buf.data(), len);
  return 0;
}

// GraphWriter over capacity == encode() of the same arrays; bad ids throw.
int cmd_writer_selftest() {
  gf::InputSpec spec{3, gf::DType::float32, 2, gf::DType::float32};
  gf::Capacity cap{4, 50, 60};
  const std::size_t need = gf::GraphWriter::bytes_needed(cap, spec);
  Aligned buf(need);
  std::memset(buf.data(), 0x5A, need);
  gf::GraphWriter w({buf.data(), need}, cap, spec);
  std::vector<std::int64_t> ptr{0}, src, dst;
  std::vector<float> xs, eas;
  const std::size_t sizes[][2] = {{5, 7}, {1, 0}, {9, 12}};
  for (const auto& s : sizes) {
    std::vector<float> x(s[0] * 3), ea(s[1] * 2);
    std::vector<std::int64_t> a(s[1]), b(s[1]);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.5f + ptr.size();
    for (std::size_t i = 0; i < ea.size(); ++i) ea[i] = -static_cast<float>(i);
    for (std::size_t e = 0; e < s[1]; ++e) {
      a[e] = static_cast<std::int64_t>(e % s[0]);
      b[e] = static_cast<std::int64_t>((e * 3 + 1) % s[0]);
    }
    if (ptr.size() % 2)
      w.add_graph(x, a, b, ea);  // existing arrays
    else {
      auto g = w.add_graph(s[0], s[1]);  // spans
      std::copy(x.begin(), x.end(), g.x.begin());
      std::copy(a.begin(), a.end(), g.src.begin());
      std::copy(b.begin(), b.end(), g.dst.begin());
      std::copy(ea.begin(), ea.end(), g.edge_attr.begin());
    }
    for (auto v : a) src.push_back(v + ptr.back());
    for (auto v : b) dst.push_back(v + ptr.back());
    xs.insert(xs.end(), x.begin(), x.end());
    eas.insert(eas.end(), ea.begin(), ea.end());
    ptr.push_back(ptr.back() + static_cast<std::int64_t>(s[0]));
  }
  const std::size_t len = w.finish();
  gf::PackedArrays a;
  a.ptr = {ptr.data(), ptr.size()};
  a.src = {src.data(), src.size()};
  a.dst = {dst.data(), dst.size()};
  a.x = {reinterpret_cast<const std::byte*>(xs.data()), xs.size() * 4};
  a.num_node_features = 3;
  a.edge_attr = {reinterpret_cast<const std::byte*>(eas.data()), eas.size() * 4};
  a.num_edge_features = 2;
  a.edge_attr_dtype = gf::DType::float32;
  std::vector<std::byte> ref(gf::header_for(a).total_length);
  if (gf::encode(a, {ref.data(), ref.size()}) != len || std::memcmp(ref.data(), buf.data(), len) != 0)
    die("GraphWriter bytes differ from encode()");
  gf::decode(buf.data(), len, 0, len);  // and they pass every §5 check

  // Out-of-range local id is caught at finish().
  Aligned b2(need);
  gf::GraphWriter bad({b2.data(), need}, cap, spec);
  auto g = bad.add_graph(2, 1);
  g.src[0] = 0;
  g.dst[0] = 2;
  try {
    bad.finish();
    die("out-of-range id was accepted");
  } catch (const gf::Error& e) {
    if (e.code() != gf::ErrorCode::EDGE_OUT_OF_RANGE) die("wrong code for bad id");
  }
  // Over capacity: LIMIT_EXCEEDED; no graphs: EMPTY_REQUEST.
  Aligned b3(need);
  gf::GraphWriter full({b3.data(), need}, cap, spec);
  try {
    full.add_graph(51, 0);
    die("over-capacity graph was accepted");
  } catch (const gf::Error& e) {
    if (e.code() != gf::ErrorCode::LIMIT_EXCEEDED) die("wrong code for capacity");
  }
  try {
    full.finish();
    die("empty writer finished");
  } catch (const gf::Error& e) {
    if (e.code() != gf::ErrorCode::EMPTY_REQUEST) die("wrong code for empty");
  }
  // Result: a timeout is a value-less Result, value() throws DEADLINE_EXCEEDED.
  auto r = gf::Result<int>::timeout("late");
  if (r || r.error() != gf::ErrorCode::DEADLINE_EXCEEDED) die("Result timeout state");
  try {
    (void)r.value();
    die("value() of a timeout did not throw");
  } catch (const gf::Error& e) {
    if (e.code() != gf::ErrorCode::DEADLINE_EXCEEDED) die("wrong code from Result");
  }
  std::puts("OK");
  return 0;
}

// --- live ---------------------------------------------------------------

struct Input {
  std::vector<std::uint64_t> storage;  // 8-aligned bytes of the packed graph
  gf::PackedView v;
};

Input load_input(const std::string& path) {
  auto bytes = read_file(path);
  Input in;
  in.storage.assign(bytes.size() / 8 + 1, 0);
  std::memcpy(in.storage.data(), bytes.data(), bytes.size());
  in.v = gf::decode(reinterpret_cast<const std::byte*>(in.storage.data()), bytes.size(), 0, bytes.size());
  return in;
}

// Splits a decoded batch into graphs (edges are grouped per graph in the
// inputs the tests make) and writes them through the client's writer;
// `fill` alternates between the span API and the array-copy API.
gf::GraphWriter make_writer(gf::Client& c, const std::string& model, const Input& in, bool fill) {
  const auto& h = in.v.header;
  auto w = c.writer(model, {h.num_graphs, h.num_nodes, h.num_edges});
  const float* x = reinterpret_cast<const float*>(in.v.x);
  const std::size_t f = h.num_node_features;
  std::size_t e = 0;
  for (std::size_t k = 0; k < h.num_graphs; ++k) {
    const std::int64_t n0 = in.v.ptr[k], n1 = in.v.ptr[k + 1];
    std::size_t e1 = e;
    while (e1 < h.num_edges && in.v.src[e1] < n1) ++e1;
    std::vector<std::int64_t> src, dst;
    for (std::size_t i = e; i < e1; ++i) {
      src.push_back(in.v.src[i] - n0);
      dst.push_back(in.v.dst[i] - n0);
    }
    const std::size_t nodes = static_cast<std::size_t>(n1 - n0);
    if (fill) {
      auto g = w.add_graph(nodes, src.size());
      std::copy(x + n0 * f, x + n1 * f, g.x.begin());
      std::copy(src.begin(), src.end(), g.src.begin());
      std::copy(dst.begin(), dst.end(), g.dst.begin());
    } else {
      w.add_graph(gf::Span<const float>(x + n0 * f, nodes * f), src, dst);
    }
    e = e1;
  }
  return w;
}

void save_output(const std::string& stem, const gf::Tensor& t) {
  write_file(stem + ".f32", t.data(), t.nbytes());
  std::string shape = std::to_string(t.shape()[0]) + " " + std::to_string(t.shape()[1]) + " " +
                      (t.is_view() ? "view" : "inline") + "\n";
  write_file(stem + ".shape", shape.data(), shape.size());
}

// Each thread owns a Client (the documented threading rule) and runs every input.
int cmd_infer(const std::string& socket, const std::string& model, const std::string& outdir,
              int threads, const std::vector<std::string>& inputs) {
  std::vector<Input> ins;
  for (const auto& p : inputs) ins.push_back(load_input(p));
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        gf::Client c(socket);
        for (int round = 0; round < 2; ++round)  // the second round reuses freed slots
          for (std::size_t i = 0; i < ins.size(); ++i) {
            auto out = c.infer(model, make_writer(c, model, ins[i], (i + t + round) % 2 == 0));
            if (!out) throw std::runtime_error("timeout: " + out.error_message());
            if (round == 1) save_output(outdir + "/t" + std::to_string(t) + "_" + std::to_string(i), *out);
          }
        if (c.arena_used_bytes() != 0) throw std::runtime_error("arena slots leaked");
      } catch (const std::exception& e) {
        std::cerr << "thread " << t << ": " << e.what() << "\n";
        ++failures;
      }
    });
  for (auto& th : pool) th.join();
  return failures ? 1 : 0;
}

std::int64_t restarts_of(gf::Client& c, const std::string& model) {
  for (const auto& m : c.stats().models)
    if (m.name == model) return m.restarts;
  die("stats lists no model " + model);
}

// §5.3, §5.4: a poison input kills its worker, is re-sent alone (attempt 1),
// kills that one too and fails WORKER_CRASHED; the supervisor quarantines it,
// so the same input again is POISONED without reaching a model (no restart);
// a good call then succeeds. No waiting in between: the client settles only
// after worker_exit, which the supervisor answers after its reap and the
// quarantine (§5.4), so reusing the slot at once is safe.
int cmd_crash(const std::string& socket, const std::string& model, const std::string& crash_bin,
              const std::string& good_bin) {
  auto crash = load_input(crash_bin);
  auto good = load_input(good_bin);
  gf::Client c(socket, gf::Options{std::chrono::milliseconds(120000), 8u << 20, "crash-test"});
  const std::int64_t initial = restarts_of(c, model);
  try {
    auto r = c.infer(model, make_writer(c, model, crash, true));
    std::printf("crash-input: no error (%s)\n", r ? "value" : "timeout");
    return 1;
  } catch (const gf::Error& e) {
    std::printf("crash-input: %s\nmessage: %s\n", gf::to_string(e.code()), e.message().c_str());
    std::fflush(stdout);
  }
  const std::int64_t before = restarts_of(c, model);
  if (before == initial) die("the supervisor had not reaped the crashed worker when we settled");
  try {
    auto r = c.infer(model, make_writer(c, model, crash, false));
    std::printf("again: no error (%s)\n", r ? "value" : "timeout");
  } catch (const gf::Error& e) {
    std::printf("again: %s %d\n", gf::to_string(e.code()), static_cast<int>(e.code()));
  }
  std::printf("restarts: before=%lld after=%lld\n", static_cast<long long>(before),
              static_cast<long long>(restarts_of(c, model)));
  auto out = c.infer(model, make_writer(c, model, good, false));
  if (!out) {
    std::printf("next: timeout\n");
    return 1;
  }
  save_output(good_bin + ".cpp", *out);
  std::printf("next: ok %lld %lld\n", static_cast<long long>(out->shape()[0]),
              static_cast<long long>(out->shape()[1]));
  const auto& k = c.counters();
  std::printf("counters: requests=%llu resends=%llu disconnects=%llu\n",
              static_cast<unsigned long long>(k.requests), static_cast<unsigned long long>(k.resends),
              static_cast<unsigned long long>(k.worker_disconnects));
  out->release();
  if (c.arena_used_bytes() != 0) die("arena slots leaked after the crash test");
  return 0;
}

// Stops the worker, puts `threads` calls (plus one that times out) on it,
// kills it, and checks every call is re-sent and answered.
int cmd_kill_resend(const std::string& socket, const std::string& model, pid_t pid,
                    const std::string& outdir, int threads, const std::vector<std::string>& inputs) {
  std::vector<Input> ins;
  for (const auto& p : inputs) ins.push_back(load_input(p));
  std::vector<std::unique_ptr<gf::Client>> clients;
  for (int t = 0; t < threads; ++t)
    clients.push_back(std::make_unique<gf::Client>(socket, gf::Options{std::chrono::milliseconds(120000), 4u << 20, "kill-test"}));
  // Warm: every client has connected to the worker before it stops.
  for (int t = 0; t < threads; ++t) (void)clients[t]->infer(model, make_writer(*clients[t], model, ins[0], true)).value();

  // A timed-out call keeps its slot reserved while the worker lives (§5.3).
  gf::Client late(socket, gf::Options{std::chrono::milliseconds(300), 4u << 20, "late"});
  (void)late.infer(model, make_writer(late, model, ins[0], true)).value();
  if (::kill(pid, SIGSTOP) != 0) die("cannot SIGSTOP the worker");
  auto r = late.infer(model, make_writer(late, model, ins[0], true));
  if (r || r.error() != gf::ErrorCode::DEADLINE_EXCEEDED) die("expected a timeout Result");
  if (late.arena_used_bytes() == 0) die("a timed-out request's slot was freed while its worker lives");

  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        const auto& in = ins[static_cast<std::size_t>(t) % ins.size()];
        auto out = clients[t]->infer(model, make_writer(*clients[t], model, in, t % 2 == 0));
        if (!out) throw std::runtime_error("timeout");
        save_output(outdir + "/t" + std::to_string(t), *out);
      } catch (const std::exception& e) {
        std::cerr << "thread " << t << ": " << e.what() << "\n";
        ++failures;
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all sent, none answered
  ::kill(pid, SIGKILL);
  for (auto& th : pool) th.join();
  std::uint64_t resends = 0;
  for (auto& c : clients) resends += c->counters().resends;
  std::printf("resends=%llu failures=%d\n", static_cast<unsigned long long>(resends), failures.load());
  // The late client learns of the death on its next call and frees the slot.
  auto again = late.infer(model, make_writer(late, model, ins[0], true), {0, std::chrono::milliseconds(120000)});
  if (!again) die("late client's next call timed out");
  again->release();
  std::printf("late: used=%zu disconnects=%llu\n", late.arena_used_bytes(),
              static_cast<unsigned long long>(late.counters().worker_disconnects));
  return failures ? 1 : 0;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Options::spin: one warm call on `in`, then one timed by the calling
// thread's CPU time (the pytest side passes a slow input: the wait is long).
int cmd_spin(const std::string& socket, const std::string& model, const std::string& in_path,
             long spin_us) {
  auto in = load_input(in_path);
  gf::Options options;
  options.name = "spin-test";
  options.spin = std::chrono::microseconds(spin_us);
  gf::Client c(socket, options);
  auto warm = c.infer(model, make_writer(c, model, in, false));  // connected to the worker
  if (!warm) die("spin: the warm-up call timed out");
  warm->release();
  const double before = thread_cpu_seconds();
  auto out = c.infer(model, make_writer(c, model, in, false));
  const double cpu = thread_cpu_seconds() - before;
  if (!out) die("spin: the call timed out");
  save_output(in_path + ".spin", *out);
  std::printf("cpu_s=%.6f\n", cpu);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 1 && a[0] == "codes") return cmd_codes();
    if (a.size() == 2 && a[0] == "connect") return cmd_connect(a[1]);
    if (a.size() == 3 && a[0] == "decode") return cmd_decode(a[1], a[2]);
    if (a.size() == 3 && a[0] == "encode") return cmd_encode(a[1], a[2]);
    if (a.size() == 3 && a[0] == "rewrite") return cmd_rewrite(a[1], a[2]);
    if (a.size() == 1 && a[0] == "writer-selftest") return cmd_writer_selftest();
    if (a.size() >= 6 && a[0] == "infer")
      return cmd_infer(a[1], a[2], a[3], std::stoi(a[4]), {a.begin() + 5, a.end()});
    if (a.size() == 5 && a[0] == "crash") return cmd_crash(a[1], a[2], a[3], a[4]);
    if (a.size() == 5 && a[0] == "spin") return cmd_spin(a[1], a[2], a[3], std::stol(a[4]));
    if (a.size() >= 7 && a[0] == "kill-resend")
      return cmd_kill_resend(a[1], a[2], static_cast<pid_t>(std::stol(a[3])), a[4], std::stoi(a[5]),
                             {a.begin() + 6, a.end()});
  } catch (const gf::Error& e) {
    die(e.what());
  }
  die("usage: see the comment at the top of gf_test_tool.cpp");
}
