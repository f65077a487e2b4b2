// Runs the demo GCN on one random graph:  consumer [socket]
#include <graphferry/graphferry.hpp>

#include <cstdio>
#include <random>

int main(int argc, char** argv) {
  try {
    graphferry::Client client = argc > 1 ? graphferry::Client(argv[1]) : graphferry::Client();
    const std::size_t nodes = 100, edges = 400;
    auto writer = client.writer("gcn", {1, nodes, edges});
    auto g = writer.add_graph(nodes, edges);  // spans straight into shared memory
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> feature(-1.0f, 1.0f);
    std::uniform_int_distribution<std::int64_t> node(0, nodes - 1);
    for (float& v : g.x) v = feature(rng);
    for (std::size_t e = 0; e < edges; ++e) {
      g.src[e] = node(rng);
      g.dst[e] = node(rng);
    }
    auto out = client.infer("gcn", std::move(writer));
    if (!out) {
      std::fprintf(stderr, "timed out: %s\n", out.error_message().c_str());
      return 1;
    }
    std::printf("output %lld x %lld, first %f\n", static_cast<long long>(out->shape()[0]),
                static_cast<long long>(out->shape()[1]), out->data()[0]);
    return 0;
  } catch (const graphferry::Error& e) {
    std::fprintf(stderr, "graphferry error %d: %s\n", static_cast<int>(e.code()), e.what());
    return 2;
  }
}
