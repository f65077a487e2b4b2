// C++ client round-trip latency, and the C++ -> Python ZeroMQ ipc floor.
//
//   cpp_latency client <socket> <model> <threads> <iterations> [spin_us]
//       small-graph workload (one graph, 100 nodes, 400 edges, 32 float32
//       features), one graphferry::Client per thread (the header's rule),
//       with Options::spin = spin_us (default 0);
//       prints one line: "client threads=N p50_us=.. p99_us=.. calls=.."
//   cpp_latency echo <endpoint> <iterations> <bytes>
//       DEALER round trips to a Python ROUTER that echoes each frame
//       (benchmarks/cpp_latency.py starts it): the transport floor.
//
// Built by client_cpp/CMakeLists.txt with -DGRAPHFERRY_BUILD_BENCHMARKS=ON;
// benchmarks/cpp_latency.py builds it, starts what it needs and prints a table.
#include <graphferry/graphferry.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace gf = graphferry;
using Clock = std::chrono::steady_clock;

namespace {

void report(const char* what, int threads, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * (us.size() - 1))]; };
  std::printf("%s threads=%d p50_us=%.1f p99_us=%.1f calls=%zu\n", what, threads, pct(0.50),
              pct(0.99), us.size());
}

int bench_client(const std::string& socket, const std::string& model, int threads, int iters,
                 long spin_us) {
  constexpr std::size_t kNodes = 100, kEdges = 400, kFeatures = 32;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> feature(-1.f, 1.f);
  std::uniform_int_distribution<std::int64_t> node(0, kNodes - 1);
  std::vector<float> x(kNodes * kFeatures);
  std::vector<std::int64_t> src(kEdges), dst(kEdges);
  for (auto& v : x) v = feature(rng);
  for (std::size_t e = 0; e < kEdges; ++e) {
    src[e] = node(rng);
    dst[e] = node(rng);
  }
  std::vector<std::vector<double>> per_thread(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      gf::Options options;
      options.spin = std::chrono::microseconds(spin_us);
      gf::Client client(socket, options);
      auto call = [&] {
        auto w = client.writer(model, {1, kNodes, kEdges});
        w.add_graph(x, src, dst);  // the one copy into shared memory
        return client.infer(model, std::move(w)).value();
      };
      for (int i = 0; i < 200; ++i) call();  // warm up
      auto& us = per_thread[t];
      us.reserve(iters);
      for (int i = 0; i < iters; ++i) {
        const auto t0 = Clock::now();
        auto out = call();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (out.size() == 0) std::abort();
      }
    });
  for (auto& th : pool) th.join();
  std::vector<double> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  report("client", threads, all);
  return 0;
}

int bench_echo(const std::string& endpoint, int iters, std::size_t bytes) {
  auto ctx = gf::detail::Context::shared();
  gf::detail::Socket s(ctx->get(), ZMQ_DEALER);
  s.connect(endpoint);
  std::string payload(bytes, 'x');
  std::vector<char> buf(bytes + 64);
  std::vector<double> us;
  us.reserve(iters);
  for (int i = 0; i < iters + 200; ++i) {
    const auto t0 = Clock::now();
    if (zmq_send(s.get(), payload.data(), payload.size(), 0) < 0) return 1;
    if (zmq_recv(s.get(), buf.data(), buf.size(), 0) < 0) return 1;
    if (i >= 200) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  report("echo", 1, us);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if ((a.size() == 5 || a.size() == 6) && a[0] == "client")
      return bench_client(a[1], a[2], std::stoi(a[3]), std::stoi(a[4]),
                          a.size() == 6 ? std::stol(a[5]) : 0);
    if (a.size() == 4 && a[0] == "echo") return bench_echo(a[1], std::stoi(a[2]), std::stoul(a[3]));
  } catch (const gf::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "usage: cpp_latency client <socket> <model> <threads> <iters> [spin_us] | "
                       "echo <endpoint> <iters> <bytes>\n");
  return 2;
}
