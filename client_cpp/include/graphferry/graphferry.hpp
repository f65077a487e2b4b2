// graphferry C++ client: one C++17 header over libzmq (C API) and msgpack-cxx.
//
// Specs this header mirrors, section by section:
//   docs/protocol.md  — messages, error codes (§6), client state machine (§5.3)
//   shm/FORMAT.md     — the packed-graph layout written into shared memory
//
// Quick start:
//
//   graphferry::Client client;                       // §7 default socket
//   auto w = client.writer("gcn", {1, 100, 400});    // capacity: graphs, nodes, edges
//   auto g = w.add_graph(100, 400);                  // spans into the arena
//   fill(g.x, g.src, g.dst);                         // node ids local to the graph
//   graphferry::Result<graphferry::Tensor> out = client.infer("gcn", std::move(w));
//   if (!out) { /* timed out (DEADLINE_EXCEEDED); other failures throw */ }
//   const float* y = out->data();                    // shape out->shape()
//
// Thread safety: ONE CLIENT PER THREAD. A Client owns ZeroMQ sockets, which
// are not thread-safe, and runs the request state machine on the calling
// thread (no I/O thread hop on the hot path: each hop costs tens of µs). Using
// one Client from two threads at once throws graphferry::Error (INVALID_INPUT)
// instead of corrupting state. A Client may move between threads. Tensors
// that view the arena and GraphWriters may be released on any thread.
//
// Errors: every real failure throws graphferry::Error carrying a stable
// ErrorCode (protocol.md §6). A timeout is an expected outcome and comes back
// in Result<T> instead (Result::error() == DEADLINE_EXCEEDED).
//
// Worker deaths (protocol.md §5.3, §5.4; the same state machine as the Python
// client's Client._exchange/_settle): a worker holding a request exits (its
// socket disconnects; or 1 s without a reply, and the supervisor's
// worker_exit (§3.6) says it is not alive). worker_exit is
// asked first, always (its answer follows the supervisor's reap, and with it
// the quarantine of a killer's input); the request then fails WORKER_CRASHED
// when the model's `retry` is off; otherwise the answer tells whether it was
// in the model call the worker was executing: if so at
// attempt 1 (alone) it fails WORKER_CRASHED and the supervisor quarantines
// the input (POISONED when sent again); at attempt 0 it is re-sent with
// attempt 1, to run alone; if it was only queued it is re-sent as it was. The
// 4th death for one request is WORKER_CRASHED; a supervisor silent for 0.5 s
// is SERVICE_UNAVAILABLE. A timed-out request's slots stay reserved until its
// reply or its worker's death (a live worker may still write them).
#pragma once

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST 1
#endif

#include <msgpack.hpp>
#include <zmq.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "graphferry: packed graphs are little-endian (FORMAT.md §2); big-endian hosts are not supported"
#endif

namespace graphferry {

// ---------------------------------------------------------------------------
// Error codes (protocol.md §6; mirrors protocol/codes.py, checked by
// tests/test_cpp_client.py::test_error_codes_match_python)
// ---------------------------------------------------------------------------

enum class ErrorCode : int {
  // 1xx: the request or its input
  INVALID_INPUT = 100,
  MALFORMED_MESSAGE = 101,
  UNSUPPORTED_PROTOCOL = 102,
  UNKNOWN_OP = 103,
  UNKNOWN_REGION = 104,
  OUT_OF_BOUNDS = 105,
  BAD_FORMAT = 106,
  WRONG_DTYPE = 107,
  WRONG_SHAPE = 108,
  EDGE_OUT_OF_RANGE = 109,
  BAD_PTR = 110,
  EMPTY_REQUEST = 111,
  LIMIT_EXCEEDED = 112,
  OUTPUT_TOO_SMALL = 113,
  // 2xx: the model
  UNKNOWN_MODEL = 200,
  UNKNOWN_VERSION = 201,
  MODEL_UNAVAILABLE = 202,
  MODEL_ERROR = 203,
  BAD_MODEL_OUTPUT = 204,
  // 3xx: the worker
  WORKER_CRASHED = 300,
  POISONED = 301,
  // 4xx: capacity and time
  OVERLOADED = 400,
  DEADLINE_EXCEEDED = 401,
  // 5xx: the service
  SERVICE_UNAVAILABLE = 500,
  INTERNAL = 501,
};

struct ErrorCodeEntry {
  ErrorCode code;
  const char* name;
};

// Every code, in table order (protocol.md §6).
inline constexpr ErrorCodeEntry kErrorCodes[] = {
    {ErrorCode::INVALID_INPUT, "INVALID_INPUT"},
    {ErrorCode::MALFORMED_MESSAGE, "MALFORMED_MESSAGE"},
    {ErrorCode::UNSUPPORTED_PROTOCOL, "UNSUPPORTED_PROTOCOL"},
    {ErrorCode::UNKNOWN_OP, "UNKNOWN_OP"},
    {ErrorCode::UNKNOWN_REGION, "UNKNOWN_REGION"},
    {ErrorCode::OUT_OF_BOUNDS, "OUT_OF_BOUNDS"},
    {ErrorCode::BAD_FORMAT, "BAD_FORMAT"},
    {ErrorCode::WRONG_DTYPE, "WRONG_DTYPE"},
    {ErrorCode::WRONG_SHAPE, "WRONG_SHAPE"},
    {ErrorCode::EDGE_OUT_OF_RANGE, "EDGE_OUT_OF_RANGE"},
    {ErrorCode::BAD_PTR, "BAD_PTR"},
    {ErrorCode::EMPTY_REQUEST, "EMPTY_REQUEST"},
    {ErrorCode::LIMIT_EXCEEDED, "LIMIT_EXCEEDED"},
    {ErrorCode::OUTPUT_TOO_SMALL, "OUTPUT_TOO_SMALL"},
    {ErrorCode::UNKNOWN_MODEL, "UNKNOWN_MODEL"},
    {ErrorCode::UNKNOWN_VERSION, "UNKNOWN_VERSION"},
    {ErrorCode::MODEL_UNAVAILABLE, "MODEL_UNAVAILABLE"},
    {ErrorCode::MODEL_ERROR, "MODEL_ERROR"},
    {ErrorCode::BAD_MODEL_OUTPUT, "BAD_MODEL_OUTPUT"},
    {ErrorCode::WORKER_CRASHED, "WORKER_CRASHED"},
    {ErrorCode::POISONED, "POISONED"},
    {ErrorCode::OVERLOADED, "OVERLOADED"},
    {ErrorCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
    {ErrorCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"},
    {ErrorCode::INTERNAL, "INTERNAL"},
};

inline const char* to_string(ErrorCode code) noexcept {
  for (const auto& e : kErrorCodes)
    if (e.code == code) return e.name;
  return "UNKNOWN_CODE";
}

// Unknown numbers from the wire become INTERNAL, as in Python's error_for.
inline ErrorCode error_code_from_int(std::int64_t value) noexcept {
  for (const auto& e : kErrorCodes)
    if (static_cast<std::int64_t>(e.code) == value) return e.code;
  return ErrorCode::INTERNAL;
}

// The one exception type. what() reads "NAME (code): message".
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(std::string(to_string(code)) + " (" +
                           std::to_string(static_cast<int>(code)) + "): " + message),
        code_(code),
        message_(message) {}
  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  ErrorCode code_;
  std::string message_;
};

// Expected-like outcome: a value, or a timeout (DEADLINE_EXCEEDED) with a
// message. Real failures never land here; they throw Error.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  static Result timeout(std::string message) {
    Result r;
    r.message_ = std::move(message);
    return r;
  }
  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  ErrorCode error() const noexcept {
    return has_value() ? ErrorCode::INTERNAL : ErrorCode::DEADLINE_EXCEEDED;
  }
  const std::string& error_message() const noexcept { return message_; }
  // Throws Error(DEADLINE_EXCEEDED) when there is no value.
  T& value() & {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }
  T* operator->() {
    check();
    return &*value_;
  }
  T& operator*() & { return value(); }

 private:
  Result() = default;
  void check() const {
    if (!value_) throw Error(ErrorCode::DEADLINE_EXCEEDED, message_);
  }
  std::optional<T> value_;
  std::string message_;
};

// A pointer + size view (std::span is C++20).
template <class T>
struct Span {
  T* ptr = nullptr;
  std::size_t len = 0;
  Span() = default;
  Span(T* p, std::size_t n) : ptr(p), len(n) {}
  template <class C, class = decltype(std::declval<C&>().data())>
  Span(C& c) : ptr(c.data()), len(c.size()) {}  // NOLINT: implicit from containers
  T* data() const noexcept { return ptr; }
  std::size_t size() const noexcept { return len; }
  bool empty() const noexcept { return len == 0; }
  T* begin() const noexcept { return ptr; }
  T* end() const noexcept { return ptr + len; }
  T& operator[](std::size_t i) const noexcept { return ptr[i]; }
};

// ---------------------------------------------------------------------------
// Packed graph format v1 (shm/FORMAT.md)
// ---------------------------------------------------------------------------

namespace format {
inline constexpr char kMagic[4] = {'G', 'F', 'P', 'G'};  // §2
inline constexpr std::uint16_t kVersion = 1;             // §2
inline constexpr std::size_t kHeaderSize = 128;          // §2: fixed in v1
inline constexpr std::size_t kAlign = 64;                // §1, §3: graph and section starts
inline constexpr std::uint32_t kFlagHasEdgeAttr = 1u << 0;  // §2 flags bit 0
inline constexpr std::uint32_t kKnownFlags = kFlagHasEdgeAttr;  // §5: others are BAD_FORMAT
inline constexpr std::size_t kPtrItemSize = 8;         // §3 int64
inline constexpr std::size_t kEdgeIndexItemSize = 8;   // §3 int64
inline constexpr std::uint64_t kMaxCount = 1ull << 48;  // §5 step 3: N, E below this

// §2: byte offsets of header fields.
namespace off {
inline constexpr std::size_t magic = 0, version = 4, header_size = 6, flags = 8, reserved0 = 12,
                             num_graphs = 16, num_nodes = 24, num_edges = 32,
                             num_node_features = 40, num_edge_features = 44, x_dtype = 48,
                             edge_attr_dtype = 49, reserved1 = 50, total_length = 56,
                             ptr_offset = 64, edge_index_offset = 72, x_offset = 80,
                             edge_attr_offset = 88, reserved2 = 96;
}  // namespace off
}  // namespace format

// §4 element type codes.
enum class DType : std::uint8_t {
  none = 0,
  float32 = 1,
  float16 = 2,
  bfloat16 = 3,
  int64 = 4,
  int32 = 5,
};

inline bool dtype_known(std::uint8_t code) noexcept { return code >= 1 && code <= 5; }

inline std::size_t itemsize(DType t) noexcept {
  switch (t) {
    case DType::float32: return 4;
    case DType::float16: return 2;
    case DType::bfloat16: return 2;
    case DType::int64: return 8;
    case DType::int32: return 4;
    default: return 0;
  }
}

inline const char* to_string(DType t) noexcept {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
    case DType::int64: return "int64";
    case DType::int32: return "int32";
    default: return "none";
  }
}

// "" -> none; unknown names throw WRONG_DTYPE.
inline DType dtype_from_string(std::string_view name) {
  if (name.empty() || name == "none") return DType::none;
  for (DType t : {DType::float32, DType::float16, DType::bfloat16, DType::int64, DType::int32})
    if (name == to_string(t)) return t;
  throw Error(ErrorCode::WRONG_DTYPE, "unknown dtype name '" + std::string(name) + "'");
}

// The decoded header (§2); edge_attr_offset 0 means no edge_attr.
struct PackedHeader {
  std::uint64_t num_graphs = 0, num_nodes = 0, num_edges = 0;
  std::uint32_t num_node_features = 0, num_edge_features = 0;
  DType x_dtype = DType::float32, edge_attr_dtype = DType::none;
  std::uint64_t total_length = 0;
  std::uint64_t ptr_offset = 0, edge_index_offset = 0, x_offset = 0, edge_attr_offset = 0;
  bool has_edge_attr() const noexcept { return edge_attr_offset != 0; }
};

// Views of a decoded packed graph; they point into the bytes given to decode.
struct PackedView {
  PackedHeader header;
  const std::int64_t* ptr = nullptr;        // [G+1]
  const std::int64_t* src = nullptr;        // edge_index row 0, [E]
  const std::int64_t* dst = nullptr;        // edge_index row 1, [E]
  const std::byte* x = nullptr;             // [N][F] of header.x_dtype
  const std::byte* edge_attr = nullptr;     // [E][D] of header.edge_attr_dtype, or null
};

// Arrays to encode, global node ids (as PyG's Batch has them).
struct PackedArrays {
  Span<const std::int64_t> ptr;         // [G+1]
  Span<const std::int64_t> src, dst;    // [E] each
  Span<const std::byte> x;              // [N*F] elements of x_dtype, as bytes
  std::uint32_t num_node_features = 0;
  DType x_dtype = DType::float32;
  Span<const std::byte> edge_attr;      // [E*D] or empty
  std::uint32_t num_edge_features = 0;
  DType edge_attr_dtype = DType::none;
};

namespace detail {

template <class T>
inline T load_le(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian host, checked above
  return v;
}
template <class T>
inline void store_le(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

constexpr std::uint64_t align_up(std::uint64_t n) noexcept {  // FORMAT.md §6
  return (n + format::kAlign - 1) / format::kAlign * format::kAlign;
}

inline Error fail(ErrorCode code, std::string message) { return Error(code, std::move(message)); }

// a*b and a+b on hostile u64 counts; nullopt on overflow.
inline std::optional<std::uint64_t> mul(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<std::uint64_t> add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

struct SectionSizes {
  std::uint64_t ptr, edge_index, x, edge_attr;
};

// §3 section sizes; nullopt when a hostile count overflows 64 bits.
inline std::optional<SectionSizes> section_sizes(const PackedHeader& h) noexcept {
  auto g1 = add(h.num_graphs, 1);
  if (!g1) return std::nullopt;
  auto p = mul(*g1, format::kPtrItemSize);
  auto e2 = mul(h.num_edges, 2 * format::kEdgeIndexItemSize);
  auto nf = mul(h.num_nodes, h.num_node_features);
  auto x = nf ? mul(*nf, itemsize(h.x_dtype)) : std::nullopt;
  std::optional<std::uint64_t> ea = 0;
  if (h.edge_attr_dtype != DType::none) {
    auto ed = mul(h.num_edges, h.num_edge_features);
    ea = ed ? mul(*ed, itemsize(h.edge_attr_dtype)) : std::nullopt;
  }
  if (!p || !e2 || !x || !ea) return std::nullopt;
  return SectionSizes{*p, *e2, *x, *ea};
}

}  // namespace detail

// The canonical layout (FORMAT.md §6) for these counts: sections in order,
// each at the next multiple of 64, total rounded up to 64.
inline PackedHeader canonical_header(std::uint64_t graphs, std::uint64_t nodes,
                                     std::uint64_t edges, std::uint32_t node_features,
                                     DType x_dtype, std::uint32_t edge_features = 0,
                                     DType edge_attr_dtype = DType::none) {
  PackedHeader h;
  h.num_graphs = graphs;
  h.num_nodes = nodes;
  h.num_edges = edges;
  h.num_node_features = node_features;
  h.num_edge_features = edge_attr_dtype == DType::none ? 0 : edge_features;
  h.x_dtype = x_dtype;
  h.edge_attr_dtype = edge_attr_dtype;
  auto sizes = detail::section_sizes(h);
  if (!sizes) throw Error(ErrorCode::LIMIT_EXCEEDED, "packed graph counts overflow 64 bits");
  std::uint64_t end = format::kHeaderSize;
  h.ptr_offset = detail::align_up(end);
  end = h.ptr_offset + sizes->ptr;
  h.edge_index_offset = detail::align_up(end);
  end = h.edge_index_offset + sizes->edge_index;
  h.x_offset = detail::align_up(end);
  end = h.x_offset + sizes->x;
  if (edge_attr_dtype != DType::none) {
    h.edge_attr_offset = detail::align_up(end);
    end = h.edge_attr_offset + sizes->edge_attr;
  }
  h.total_length = detail::align_up(end);
  return h;
}

// Writes the §2 header at p; reserved bytes become zero.
inline void write_header(std::byte* p, const PackedHeader& h) noexcept {
  using namespace format;
  using detail::store_le;
  std::memset(p, 0, kHeaderSize);
  std::memcpy(p + off::magic, kMagic, 4);
  store_le<std::uint16_t>(p + off::version, kVersion);
  store_le<std::uint16_t>(p + off::header_size, static_cast<std::uint16_t>(kHeaderSize));
  store_le<std::uint32_t>(p + off::flags, h.has_edge_attr() ? kFlagHasEdgeAttr : 0u);
  store_le<std::uint64_t>(p + off::num_graphs, h.num_graphs);
  store_le<std::uint64_t>(p + off::num_nodes, h.num_nodes);
  store_le<std::uint64_t>(p + off::num_edges, h.num_edges);
  store_le<std::uint32_t>(p + off::num_node_features, h.num_node_features);
  store_le<std::uint32_t>(p + off::num_edge_features, h.num_edge_features);
  store_le<std::uint8_t>(p + off::x_dtype, static_cast<std::uint8_t>(h.x_dtype));
  store_le<std::uint8_t>(p + off::edge_attr_dtype, static_cast<std::uint8_t>(h.edge_attr_dtype));
  store_le<std::uint64_t>(p + off::total_length, h.total_length);
  store_le<std::uint64_t>(p + off::ptr_offset, h.ptr_offset);
  store_le<std::uint64_t>(p + off::edge_index_offset, h.edge_index_offset);
  store_le<std::uint64_t>(p + off::x_offset, h.x_offset);
  store_le<std::uint64_t>(p + off::edge_attr_offset, h.edge_attr_offset);
}

// Reads and structurally checks a header (FORMAT.md §5 steps 1-7, in the
// same order and with the same codes as shm/header.py). `offset` is the
// packed graph's position in its region (alignment is checked against it).
inline PackedHeader parse_header(const std::byte* region, std::size_t region_size,
                                 std::size_t offset, std::size_t length) {
  using namespace format;
  using detail::fail;
  using detail::load_le;
  if (offset > region_size)
    throw fail(ErrorCode::OUT_OF_BOUNDS, "offset " + std::to_string(offset) +
                                             " lies outside the " + std::to_string(region_size) +
                                             "-byte region");
  if (length > region_size - offset)
    throw fail(ErrorCode::OUT_OF_BOUNDS, std::to_string(length) + " bytes at offset " +
                                             std::to_string(offset) + " run past the end of the " +
                                             std::to_string(region_size) + "-byte region");
  if (offset % kAlign)
    throw fail(ErrorCode::BAD_FORMAT, "packed graph at offset " + std::to_string(offset) +
                                          " is not 64-byte aligned");
  if (length < kHeaderSize)
    throw fail(ErrorCode::OUT_OF_BOUNDS, "only " + std::to_string(length) +
                                             " bytes available, a packed graph header needs 128");
  const std::byte* p = region + offset;
  // §5 step 2: identity.
  if (std::memcmp(p + off::magic, kMagic, 4) != 0)
    throw fail(ErrorCode::BAD_FORMAT, "magic is not GFPG: this is not a packed graph");
  if (load_le<std::uint16_t>(p + off::version) != kVersion)
    throw fail(ErrorCode::BAD_FORMAT,
               "packed graph format version " +
                   std::to_string(load_le<std::uint16_t>(p + off::version)) +
                   "; this reader knows version 1");
  if (load_le<std::uint16_t>(p + off::header_size) != kHeaderSize)
    throw fail(ErrorCode::BAD_FORMAT, "header_size is not 128");
  const std::uint32_t flags = load_le<std::uint32_t>(p + off::flags);
  if (flags & ~kKnownFlags) throw fail(ErrorCode::BAD_FORMAT, "unknown flag bits");
  bool reserved_zero = load_le<std::uint32_t>(p + off::reserved0) == 0;
  for (std::size_t i = 0; i < 6; ++i) reserved_zero &= p[off::reserved1 + i] == std::byte{0};
  for (std::size_t i = 0; i < 32; ++i) reserved_zero &= p[off::reserved2 + i] == std::byte{0};
  if (!reserved_zero) throw fail(ErrorCode::BAD_FORMAT, "reserved header bytes must be zero");

  // §5 steps 3-5: counts, dtypes, edge_attr consistency.
  PackedHeader h;
  h.num_graphs = load_le<std::uint64_t>(p + off::num_graphs);
  h.num_nodes = load_le<std::uint64_t>(p + off::num_nodes);
  h.num_edges = load_le<std::uint64_t>(p + off::num_edges);
  h.num_node_features = load_le<std::uint32_t>(p + off::num_node_features);
  h.num_edge_features = load_le<std::uint32_t>(p + off::num_edge_features);
  const auto x_code = load_le<std::uint8_t>(p + off::x_dtype);
  const auto ea_code = load_le<std::uint8_t>(p + off::edge_attr_dtype);
  h.total_length = load_le<std::uint64_t>(p + off::total_length);
  h.ptr_offset = load_le<std::uint64_t>(p + off::ptr_offset);
  h.edge_index_offset = load_le<std::uint64_t>(p + off::edge_index_offset);
  h.x_offset = load_le<std::uint64_t>(p + off::x_offset);
  h.edge_attr_offset = load_le<std::uint64_t>(p + off::edge_attr_offset);
  if (h.num_graphs == 0)
    throw fail(ErrorCode::EMPTY_REQUEST, "the request holds no graphs. Hint: send at least one graph");
  // §5 step 3: x may be empty, so nothing else bounds N; 2^48 keeps every
  // byte count inside a signed 64-bit integer.
  if (h.num_nodes >= format::kMaxCount || h.num_edges >= format::kMaxCount)
    throw fail(ErrorCode::BAD_FORMAT, "num_nodes " + std::to_string(h.num_nodes) + " or num_edges " +
                                          std::to_string(h.num_edges) + " is not below 2^48");
  if (!dtype_known(x_code))
    throw fail(ErrorCode::WRONG_DTYPE, "x dtype code " + std::to_string(x_code) +
                                           " is not a known code (FORMAT.md §4)");
  const bool has_flag = flags & kFlagHasEdgeAttr;
  if (!dtype_known(ea_code) && (has_flag || ea_code != 0))
    throw fail(ErrorCode::WRONG_DTYPE, "edge_attr dtype code " + std::to_string(ea_code) +
                                           " is not a known code (FORMAT.md §4)");
  if (has_flag && (h.num_edge_features == 0 || h.edge_attr_offset == 0))
    throw fail(ErrorCode::WRONG_SHAPE,
               "header flags edge_attr but gives it no features or no offset");
  if (!has_flag && (h.num_edge_features || ea_code || h.edge_attr_offset))
    throw fail(ErrorCode::WRONG_SHAPE,
               "header has edge_attr features, dtype or offset but its HAS_EDGE_ATTR flag is clear");
  h.x_dtype = static_cast<DType>(x_code);
  h.edge_attr_dtype = static_cast<DType>(ea_code);

  // §5 steps 6-7: total_length, then sections aligned, ordered, inside.
  if (h.total_length % kAlign || h.total_length < kHeaderSize)
    throw fail(ErrorCode::BAD_FORMAT, "total_length " + std::to_string(h.total_length) +
                                          " is not a multiple of 64 of at least 128");
  if (h.total_length > length)
    throw fail(ErrorCode::OUT_OF_BOUNDS, "packed graph says it is " +
                                             std::to_string(h.total_length) + " bytes, only " +
                                             std::to_string(length) + " are available");
  auto sizes = detail::section_sizes(h);
  const char* names[] = {"ptr", "edge_index", "x", "edge_attr"};
  const std::uint64_t starts[] = {h.ptr_offset, h.edge_index_offset, h.x_offset,
                                  h.edge_attr_offset};
  const std::uint64_t lens[] = {sizes ? sizes->ptr : 0, sizes ? sizes->edge_index : 0,
                                sizes ? sizes->x : 0, sizes ? sizes->edge_attr : 0};
  std::uint64_t end = kHeaderSize;
  for (int i = 0; i < 4; ++i) {
    if (i == 3 && !h.has_edge_attr()) break;
    if (starts[i] % kAlign)
      throw fail(ErrorCode::BAD_FORMAT, std::string(names[i]) + " section at " +
                                            std::to_string(starts[i]) + " is not 64-aligned");
    if (starts[i] < end)
      throw fail(ErrorCode::BAD_FORMAT,
                 std::string(names[i]) + " section at " + std::to_string(starts[i]) +
                     " overlaps the header or the section before it (which ends at " +
                     std::to_string(end) + ")");
    auto e = detail::add(starts[i], lens[i]);
    if (!sizes || !e || *e > h.total_length)
      throw fail(ErrorCode::BAD_FORMAT, std::string(names[i]) + " section ends past total_length " +
                                            std::to_string(h.total_length));
    end = *e;
  }
  return h;
}

// §5 steps 8-9 on views: ptr shape and order, edge ids in range and inside
// their graph (same codes and order as shm/topology.py).
inline void check_topology(const PackedView& v) {
  const auto& h = v.header;
  using detail::fail;
  if (v.ptr[0] != 0) throw fail(ErrorCode::BAD_PTR, "ptr[0] is " + std::to_string(v.ptr[0]) + ", it must be 0");
  for (std::uint64_t g = 0; g < h.num_graphs; ++g)
    if (v.ptr[g + 1] < v.ptr[g])
      throw fail(ErrorCode::BAD_PTR, "ptr decreases from ptr[" + std::to_string(g) + "] = " +
                                         std::to_string(v.ptr[g]) + " to ptr[" +
                                         std::to_string(g + 1) + "] = " +
                                         std::to_string(v.ptr[g + 1]));
  if (v.ptr[h.num_graphs] < 0 || static_cast<std::uint64_t>(v.ptr[h.num_graphs]) != h.num_nodes)
    throw fail(ErrorCode::BAD_PTR, "ptr ends at " + std::to_string(v.ptr[h.num_graphs]) +
                                       " but there are " + std::to_string(h.num_nodes) +
                                       " nodes: ptr[num_graphs] must equal num_nodes");
  const auto n = static_cast<std::int64_t>(h.num_nodes);
  for (std::uint64_t e = 0; e < h.num_edges; ++e)
    if (v.src[e] < 0 || v.src[e] >= n || v.dst[e] < 0 || v.dst[e] >= n)
      throw fail(ErrorCode::EDGE_OUT_OF_RANGE,
                 "edge " + std::to_string(e) + " joins node " + std::to_string(v.src[e]) +
                     " to node " + std::to_string(v.dst[e]) + ", but node ids must lie in [0, " +
                     std::to_string(n) + ")");
  if (h.num_graphs <= 1) return;
  const std::int64_t* first = v.ptr;
  const std::int64_t* last = v.ptr + h.num_graphs + 1;
  auto graph_of = [&](std::int64_t node) {  // last graph starting at or before node
    return std::upper_bound(first, last, node) - first - 1;
  };
  for (std::uint64_t e = 0; e < h.num_edges; ++e) {
    auto gs = graph_of(v.src[e]), gd = graph_of(v.dst[e]);
    if (gs != gd)
      throw fail(ErrorCode::EDGE_OUT_OF_RANGE,
                 "edge " + std::to_string(e) + " joins node " + std::to_string(v.src[e]) +
                     " (graph " + std::to_string(gs) + ") to node " + std::to_string(v.dst[e]) +
                     " (graph " + std::to_string(gd) +
                     "): edges must stay inside their graph. Hint: offset each graph's node ids "
                     "by the nodes before it");
  }
}

// Decodes a packed graph: header checks (§5 1-7), views, content checks
// (§5 8-9). The bytes must stay alive and unchanged while the views are used.
inline PackedView decode(const std::byte* region, std::size_t region_size, std::size_t offset,
                         std::size_t length) {
  PackedView v;
  v.header = parse_header(region, region_size, offset, length);
  const std::byte* p = region + offset;
  // memcpy-free int64 views need 8-byte alignment: the sections are
  // 64-aligned relative to the graph start, so the base must be too.
  if (reinterpret_cast<std::uintptr_t>(p) % alignof(std::int64_t))
    throw detail::fail(ErrorCode::BAD_FORMAT, "packed graph bytes are not 8-byte aligned in memory");
  v.ptr = reinterpret_cast<const std::int64_t*>(p + v.header.ptr_offset);
  v.src = reinterpret_cast<const std::int64_t*>(p + v.header.edge_index_offset);
  v.dst = v.src + v.header.num_edges;
  v.x = p + v.header.x_offset;
  v.edge_attr = v.header.has_edge_attr() ? p + v.header.edge_attr_offset : nullptr;
  check_topology(v);
  return v;
}

inline PackedView decode(Span<const std::byte> bytes) {
  return decode(bytes.data(), bytes.size(), 0, bytes.size());
}

// Bytes encode() writes for these arrays (the canonical total_length).
inline PackedHeader header_for(const PackedArrays& a) {
  if (a.ptr.size() < 1) throw Error(ErrorCode::WRONG_SHAPE, "ptr needs num_graphs + 1 entries");
  if (a.src.size() != a.dst.size())
    throw Error(ErrorCode::WRONG_SHAPE, "edge_index rows differ in length");
  const std::size_t xs = itemsize(a.x_dtype);
  if (xs == 0) throw Error(ErrorCode::WRONG_DTYPE, "x dtype must be one of FORMAT.md §4");
  if (a.num_node_features == 0 ? !a.x.empty()
                               : a.x.size() % (xs * a.num_node_features) != 0)
    throw Error(ErrorCode::WRONG_SHAPE, "x bytes are not a whole number of rows");
  const std::uint64_t nodes =
      a.num_node_features ? a.x.size() / (xs * a.num_node_features)
                          : static_cast<std::uint64_t>(std::max<std::int64_t>(a.ptr[a.ptr.size() - 1], 0));
  std::uint32_t d = 0;
  if (a.edge_attr_dtype != DType::none) {
    d = a.num_edge_features;
    if (a.edge_attr.size() != a.src.size() * d * itemsize(a.edge_attr_dtype))
      throw Error(ErrorCode::WRONG_SHAPE, "edge_attr bytes are not num_edges x num_edge_features");
  }
  return canonical_header(a.ptr.size() - 1, nodes, a.src.size(), a.num_node_features, a.x_dtype,
                          d, a.edge_attr_dtype);
}

// Writes the canonical packed graph (§6) into out; returns total_length.
// Padding is zeroed, so equal arrays give equal bytes.
inline std::size_t encode(const PackedArrays& a, Span<std::byte> out) {
  const PackedHeader h = header_for(a);
  if (out.size() < h.total_length)
    throw Error(ErrorCode::OUT_OF_BOUNDS, "encode needs " + std::to_string(h.total_length) +
                                              " bytes, the buffer has " + std::to_string(out.size()));
  std::byte* p = out.data();
  std::memset(p, 0, h.total_length);
  write_header(p, h);
  std::memcpy(p + h.ptr_offset, a.ptr.data(), a.ptr.size() * 8);
  if (!a.src.empty()) {
    std::memcpy(p + h.edge_index_offset, a.src.data(), a.src.size() * 8);
    std::memcpy(p + h.edge_index_offset + a.src.size() * 8, a.dst.data(), a.dst.size() * 8);
  }
  if (!a.x.empty()) std::memcpy(p + h.x_offset, a.x.data(), a.x.size());
  if (h.has_edge_attr() && !a.edge_attr.empty())
    std::memcpy(p + h.edge_attr_offset, a.edge_attr.data(), a.edge_attr.size());
  return h.total_length;
}

// ---------------------------------------------------------------------------
// Protocol constants (docs/protocol.md)
// ---------------------------------------------------------------------------

namespace protocol {
inline constexpr int kVersion = 1;                          // §2.1
inline constexpr std::size_t kMaxMessageBytes = 1u << 20;   // §1
inline constexpr const char* kRegionPrefix = "graphferry-"; // §5.1, FORMAT.md §8
inline constexpr const char* kSocketName = "graphferry.sock";  // §7
inline constexpr std::size_t kMaxIpcPath = 107;             // §7
// §5.3 settlement of requests outstanding at a worker that exited:
inline constexpr std::chrono::milliseconds kSettleTimeout{500};  // worker_exit (§3.6) budget; also
                                                                 // a supervisor silent this long
inline constexpr std::chrono::milliseconds kSettleRetry{10};     // ask again while it says "alive"
inline constexpr std::chrono::milliseconds kAliveCheckEvery{1000};  // no reply this long: ask
inline constexpr int kMaxWorkerDeaths = 4;                       // per request, whatever the causes
inline constexpr std::chrono::milliseconds kWaitForWorker{50};   // no ready worker: hello again
}  // namespace protocol

// §7: $GRAPHFERRY_SOCKET, else $XDG_RUNTIME_DIR/graphferry/graphferry.sock,
// else /tmp/graphferry-<uid>/graphferry.sock.
inline std::string default_socket_path() {
  if (const char* s = std::getenv("GRAPHFERRY_SOCKET"); s && *s) return s;
  if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r && *r)
    return std::string(r) + "/graphferry/" + protocol::kSocketName;
  return "/tmp/graphferry-" + std::to_string(::getuid()) + "/" + protocol::kSocketName;
}

// ---------------------------------------------------------------------------
// RAII owners (internals)
// ---------------------------------------------------------------------------

namespace detail {

inline std::string errno_text(int err) { return std::strerror(err); }

// §5.5: why nothing can be serving at socket `path`, or "" if something
// listens. zmq connects in the background and retries for ever, so without
// this a client would wait out its whole timeout for a service that is not
// there. One plain non-blocking connect, closed at once.
inline std::string unreachable(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return "the path is too long for a Unix socket";
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";  // cannot probe: let the connection attempt say
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  switch (err) {
    case ENOENT: return "there is no socket there";
    case ECONNREFUSED: return "nothing listens there (a socket file left by a stopped service)";
    case EACCES: return "permission denied (the socket's directory is closed to this user)";
    case ENOTSOCK: return "that is not a socket";
    case ENOTDIR: return "a part of that path is not a directory";
    default: return "";  // connected, or EAGAIN and the like: it listens, but is busy
  }
}

// A ZeroMQ context. Shared by every Client of the process (contexts are
// thread-safe; one I/O thread serves them all).
class Context {
 public:
  Context() : ctx_(zmq_ctx_new()) {
    if (!ctx_) throw Error(ErrorCode::INTERNAL, "zmq_ctx_new failed: " + errno_text(errno));
    zmq_ctx_set(ctx_, ZMQ_BLOCKY, 0);  // term() does not wait on unsent messages
  }
  ~Context() noexcept {
    if (ctx_) zmq_ctx_term(ctx_);
  }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
  Context& operator=(Context&& o) noexcept {
    if (this != &o) {
      if (ctx_) zmq_ctx_term(ctx_);
      ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
  }
  void* get() const noexcept { return ctx_; }

  static std::shared_ptr<Context> shared() {
    static std::mutex mu;
    static std::weak_ptr<Context> weak;
    std::lock_guard<std::mutex> lock(mu);
    auto ctx = weak.lock();
    if (!ctx) {
      ctx = std::make_shared<Context>();
      weak = ctx;
    }
    return ctx;
  }

 private:
  void* ctx_;
};

class Socket {
 public:
  Socket() = default;
  Socket(void* ctx, int type) : sock_(zmq_socket(ctx, type)) {
    if (!sock_) throw Error(ErrorCode::INTERNAL, "zmq_socket failed: " + errno_text(zmq_errno()));
    set(ZMQ_LINGER, 0);
  }
  ~Socket() noexcept { close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      sock_ = std::exchange(o.sock_, nullptr);
    }
    return *this;
  }
  void close() noexcept {
    if (sock_) zmq_close(std::exchange(sock_, nullptr));
  }
  void* get() const noexcept { return sock_; }
  explicit operator bool() const noexcept { return sock_ != nullptr; }

  void set(int option, int value) {
    if (zmq_setsockopt(sock_, option, &value, sizeof value) != 0)
      throw Error(ErrorCode::INTERNAL, "zmq_setsockopt failed: " + errno_text(zmq_errno()));
  }
  void set64(int option, std::int64_t value) {
    if (zmq_setsockopt(sock_, option, &value, sizeof value) != 0)
      throw Error(ErrorCode::INTERNAL, "zmq_setsockopt failed: " + errno_text(zmq_errno()));
  }
  void connect(const std::string& endpoint) {
    if (zmq_connect(sock_, endpoint.c_str()) != 0)
      throw Error(ErrorCode::SERVICE_UNAVAILABLE,
                  "cannot connect to " + endpoint + ": " + errno_text(zmq_errno()));
  }
  // One frame (§1). Never blocks: DEALERs queue; a full queue is OVERLOADED.
  void send(const char* data, std::size_t size) {
    if (zmq_send(sock_, data, size, ZMQ_DONTWAIT) < 0) {
      int err = zmq_errno();
      throw Error(err == EAGAIN ? ErrorCode::OVERLOADED : ErrorCode::SERVICE_UNAVAILABLE,
                  "zmq_send failed: " + errno_text(err));
    }
  }

 private:
  void* sock_ = nullptr;
};

// A received frame, freed on destruction.
class Message {
 public:
  Message() noexcept { zmq_msg_init(&msg_); }
  ~Message() noexcept { zmq_msg_close(&msg_); }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  // Non-blocking receive; false when nothing is queued.
  bool recv(void* sock) {
    for (;;) {
      if (zmq_msg_recv(&msg_, sock, ZMQ_DONTWAIT) >= 0) return true;
      int err = zmq_errno();
      if (err == EAGAIN) return false;
      if (err == EINTR) continue;
      throw Error(ErrorCode::INTERNAL, "zmq_msg_recv failed: " + errno_text(err));
    }
  }
  const char* data() noexcept { return static_cast<const char*>(zmq_msg_data(&msg_)); }
  std::size_t size() noexcept { return zmq_msg_size(&msg_); }
  bool more() noexcept { return zmq_msg_more(&msg_) != 0; }

 private:
  zmq_msg_t msg_;
};

// A POSIX shared memory segment this process created and maps (FORMAT.md §8):
// /dev/shm/graphferry-<pid>-<16 hex>, O_EXCL, 0600, every page faulted in. The
// pid names the owner, so stale segments can be told from live ones.
class SharedMemory {
 public:
  SharedMemory() = default;
  static SharedMemory create(std::size_t size) {
    SharedMemory m;
    std::random_device rd;
    for (int attempt = 0; attempt < 8; ++attempt) {
      char hex[17];
      std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
      std::string name = std::string(protocol::kRegionPrefix) + std::to_string(::getpid()) +
                         "-" + hex;
      int fd = ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0 && errno == EEXIST) continue;
      if (fd < 0)
        throw Error(ErrorCode::INTERNAL, "shm_open " + name + " failed: " + errno_text(errno));
      m.name_ = name;
      ::fchmod(fd, 0600);
      // §3.6, §5.3: the supervisor names requests by (region inode, offset).
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        m.unlink();
        throw Error(ErrorCode::INTERNAL, "fstat " + name + " failed: " + errno_text(err));
      }
      m.inode_ = static_cast<std::uint64_t>(st.st_ino);
      // fallocate, not only ftruncate: a full /dev/shm fails here with
      // ENOSPC instead of SIGBUS on first touch later, mid-request.
      int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
      if (rc != 0) {
        ::close(fd);
        m.unlink();
        throw Error(ErrorCode::OVERLOADED, "cannot size shared memory " + name + " to " +
                                               std::to_string(size) + " bytes: " + errno_text(rc) +
                                               ". Hint: lower Options::arena_bytes or grow /dev/shm");
      }
      void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      ::close(fd);
      if (p == MAP_FAILED) {
        int err = errno;
        m.unlink();
        throw Error(ErrorCode::INTERNAL, "mmap " + name + " failed: " + errno_text(err));
      }
      m.base_ = static_cast<std::byte*>(p);
      m.size_ = size;
      prefault(m.base_, size);
      return m;
    }
    throw Error(ErrorCode::INTERNAL, "could not find a free shared memory name");
  }
  ~SharedMemory() noexcept {
    unmap();
    unlink();
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  SharedMemory(SharedMemory&& o) noexcept
      : name_(std::move(o.name_)), base_(std::exchange(o.base_, nullptr)),
        size_(std::exchange(o.size_, 0)), inode_(std::exchange(o.inode_, 0)) {
    o.name_.clear();
  }
  SharedMemory& operator=(SharedMemory&& o) noexcept {
    if (this != &o) {
      unmap();
      unlink();
      name_ = std::move(o.name_);
      o.name_.clear();
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
      inode_ = std::exchange(o.inode_, 0);
    }
    return *this;
  }
  const std::string& name() const noexcept { return name_; }
  std::uint64_t inode() const noexcept { return inode_; }  // st_ino of /dev/shm/<name>
  std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  // Removes the name (the mapping stays valid until destruction).
  void unlink() noexcept {
    if (!name_.empty()) ::shm_unlink(("/" + name_).c_str());
    name_.clear();
  }

 private:
  static void prefault(std::byte* p, std::size_t size) noexcept {
#ifdef MADV_POPULATE_WRITE
    if (::madvise(p, size, MADV_POPULATE_WRITE) == 0) return;
#endif
    // Write-fault every page once (writes into a fresh segment run at ~2 GB/s,
    // into a warm one at 15+ GB/s: pay it now, not per request).
    const long page = ::sysconf(_SC_PAGESIZE);
    for (std::size_t i = 0; i < size; i += static_cast<std::size_t>(page))
      reinterpret_cast<volatile std::byte*>(p)[i] = std::byte{0};
  }
  void unmap() noexcept {
    if (base_) ::munmap(base_, size_);
    base_ = nullptr;
  }
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t inode_ = 0;
};

static_assert(!std::is_copy_constructible_v<Context> && !std::is_copy_assignable_v<Context>);
static_assert(!std::is_copy_constructible_v<Socket> && !std::is_copy_assignable_v<Socket>);
static_assert(!std::is_copy_constructible_v<SharedMemory> &&
              !std::is_copy_assignable_v<SharedMemory>);
static_assert(std::is_nothrow_destructible_v<Socket> && std::is_nothrow_destructible_v<SharedMemory>);
static_assert(std::is_nothrow_move_constructible_v<Socket> &&
              std::is_nothrow_move_constructible_v<SharedMemory>);

// The client's arena: one mapping, carved into 64-aligned blocks (slots).
// Locked, because Tensor views and writers may be released on any thread.
class Arena {
 public:
  explicit Arena(std::size_t size) : shm_(SharedMemory::create(size)) {}
  const std::string& name() const noexcept { return shm_.name(); }
  std::byte* data() const noexcept { return shm_.data(); }
  std::size_t size() const noexcept { return shm_.size(); }
  std::uint64_t inode() const noexcept { return shm_.inode(); }  // §3.6 region_inode
  void unlink() noexcept { shm_.unlink(); }

  // First fit; nullopt when no gap is large enough.
  std::optional<std::size_t> allocate(std::size_t bytes) {
    bytes = static_cast<std::size_t>(align_up(std::max<std::size_t>(bytes, 1)));
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t cursor = 0;
    for (const auto& [start, len] : used_) {
      if (start - cursor >= bytes) break;
      cursor = start + len;
    }
    if (cursor > shm_.size() || shm_.size() - cursor < bytes) return std::nullopt;
    used_.emplace(cursor, bytes);
    return cursor;
  }
  void release(std::size_t offset) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    used_.erase(offset);
  }
  std::size_t used_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = 0;
    for (const auto& kv : used_) n += kv.second;
    return n;
  }

 private:
  SharedMemory shm_;
  mutable std::mutex mu_;
  std::map<std::size_t, std::size_t> used_;  // offset -> length
};

// One reserved block of the arena; returned on destruction (move-only).
class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<Arena> arena, std::size_t offset, std::size_t size)
      : arena_(std::move(arena)), offset_(offset), size_(size) {}
  ~Lease() noexcept { reset(); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease(Lease&& o) noexcept
      : arena_(std::move(o.arena_)), offset_(o.offset_), size_(std::exchange(o.size_, 0)) {}
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      reset();
      arena_ = std::move(o.arena_);
      offset_ = o.offset_;
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  void reset() noexcept {
    if (arena_) arena_->release(offset_);
    arena_.reset();
    size_ = 0;
  }
  explicit operator bool() const noexcept { return arena_ != nullptr; }
  std::size_t offset() const noexcept { return offset_; }
  std::size_t size() const noexcept { return size_; }
  std::byte* data() const noexcept { return arena_ ? arena_->data() + offset_ : nullptr; }
  const std::shared_ptr<Arena>& arena() const noexcept { return arena_; }

 private:
  std::shared_ptr<Arena> arena_;
  std::size_t offset_ = 0;
  std::size_t size_ = 0;
};
static_assert(!std::is_copy_constructible_v<Lease> && !std::is_copy_assignable_v<Lease>);

// --- msgpack helpers: replies are hostile; every accessor checks types. ---

inline const msgpack::object* find(const msgpack::object& map, std::string_view key) noexcept {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key)
      return &kv.val;
  }
  return nullptr;
}
inline std::optional<std::int64_t> as_int(const msgpack::object* o) noexcept {
  if (!o) return std::nullopt;
  if (o->type == msgpack::type::POSITIVE_INTEGER) {
    if (o->via.u64 > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(o->via.u64);
  }
  if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
  return std::nullopt;
}
inline std::int64_t get_int(const msgpack::object& m, std::string_view key, std::int64_t dflt = 0) {
  auto v = as_int(find(m, key));
  return v ? *v : dflt;
}
inline double get_float(const msgpack::object& m, std::string_view key) {
  const auto* o = find(m, key);
  if (!o) return 0.0;
  if (o->type == msgpack::type::FLOAT32 || o->type == msgpack::type::FLOAT64) return o->via.f64;
  auto i = as_int(o);
  return i ? static_cast<double>(*i) : 0.0;
}
inline std::string get_str(const msgpack::object& m, std::string_view key) {
  const auto* o = find(m, key);
  if (!o || o->type != msgpack::type::STR) return {};
  return std::string(o->via.str.ptr, o->via.str.size);
}
inline bool get_bool(const msgpack::object& m, std::string_view key) {
  const auto* o = find(m, key);
  return o && o->type == msgpack::type::BOOLEAN && o->via.boolean;
}
inline Span<const msgpack::object> get_array(const msgpack::object& m, std::string_view key) {
  const auto* o = find(m, key);
  if (!o || o->type != msgpack::type::ARRAY) return {};
  return {o->via.array.ptr, o->via.array.size};
}
inline const msgpack::object& get_map(const msgpack::object& m, std::string_view key) {
  static const msgpack::object empty_map = [] {
    msgpack::object o;
    o.type = msgpack::type::MAP;
    o.via.map.size = 0;
    o.via.map.ptr = nullptr;
    return o;
  }();
  const auto* o = find(m, key);
  return (o && o->type == msgpack::type::MAP) ? *o : empty_map;
}

// A request map under construction (§2 envelope first).
class Request {
 public:
  Request(std::string_view op, std::uint64_t id, std::uint32_t extra_fields)
      : id_(id), op_(op), pk_(buf_) {
    pk_.pack_map(3 + extra_fields);
    key("v");
    pk_.pack_int(protocol::kVersion);
    key("op");
    str(op);
    key("id");
    pk_.pack_uint64(id);
  }
  Request& field(std::string_view k, std::string_view v) {
    key(k);
    str(v);
    return *this;
  }
  Request& field(std::string_view k, std::int64_t v) {
    key(k);
    pk_.pack_int64(v);
    return *this;
  }
  Request& field(std::string_view k, std::uint64_t v) {
    key(k);
    pk_.pack_uint64(v);
    return *this;
  }
  Request& field(std::string_view k, bool v) {
    key(k);
    if (v) pk_.pack_true(); else pk_.pack_false();
    return *this;
  }
  msgpack::packer<msgpack::sbuffer>& packer() { return pk_; }
  void key(std::string_view k) { str(k); }
  void str(std::string_view s) {
    pk_.pack_str(static_cast<std::uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  }
  std::string bytes() const { return std::string(buf_.data(), buf_.size()); }
  std::uint64_t id() const noexcept { return id_; }
  const std::string& op() const noexcept { return op_; }

 private:
  std::uint64_t id_;
  std::string op_;
  msgpack::sbuffer buf_{256};
  msgpack::packer<msgpack::sbuffer> pk_;
};

inline msgpack::object_handle unpack_reply(const char* data, std::size_t size) {
  try {
    auto oh = msgpack::unpack(data, size);
    if (oh.get().type != msgpack::type::MAP)
      throw Error(ErrorCode::MALFORMED_MESSAGE, "reply is not a msgpack map");
    return oh;
  } catch (const msgpack::unpack_error& e) {
    throw Error(ErrorCode::MALFORMED_MESSAGE, std::string("undecodable reply: ") + e.what());
  }
}

// A failed reply (ok false) as the exception it stands for.
inline Error reply_error(const msgpack::object& reply) {
  ErrorCode code = error_code_from_int(get_int(reply, "code", 501));
  std::string message = get_str(reply, "message");
  if (message.empty()) message = get_str(reply, "error");
  return Error(code, message);
}

using Clock = std::chrono::steady_clock;

}  // namespace detail

// ---------------------------------------------------------------------------
// Model description (protocol.md §3.2, §3.3), health (§3.4), stats (§3.5)
// ---------------------------------------------------------------------------

struct InputSpec {  // §3.2 `input`
  std::uint32_t features = 0;
  DType dtype = DType::float32;
  std::uint32_t edge_features = 0;
  DType edge_dtype = DType::none;
};

struct OutputSpec {  // §3.2 `output`
  std::string level;  // "graph" or "node"
  std::uint32_t width = 0;
  std::string dtype = "float32";
};

struct ModelInfo {  // §3.2 topology entry + §3.3 metadata fields
  std::string name;
  std::int64_t version = 0;
  bool latest = false;
  std::string state;
  bool retry = true;  // requests outstanding at a dead worker are settled and re-sent (§5.3)
  std::vector<std::pair<std::string, std::string>> workers;  // (id, endpoint)
  InputSpec input;
  OutputSpec output;
  std::uint64_t max_graphs = 0, max_nodes = 0, max_edges = 0;
  // metadata only:
  std::vector<std::int64_t> versions;
  std::int64_t instances = 0;
  std::string device;
  std::int64_t max_queue_delay_us = 0;
};

struct Health {  // §3.4
  struct Model {
    std::string name;
    std::int64_t version = 0;
    std::string state;
    std::int64_t ready_workers = 0, instances = 0;
  };
  std::string status;
  std::vector<Model> models;
};

struct Stats {  // §3.5 (the fields a client needs)
  struct Worker {
    std::string id;
    std::int64_t pid = 0;
    std::string state;
    std::int64_t requests = 0;
  };
  struct Model {
    std::string name;
    std::int64_t version = 0, requests = 0, errors = 0, restarts = 0;
    std::vector<Worker> workers;
  };
  double uptime_s = 0;
  std::int64_t clients = 0;
  std::vector<Model> models;
};

// Counters of this client's state machine (protocol.md §5.3), for tests and logs.
struct ClientCounters {
  std::uint64_t requests = 0;            // infer calls sent
  std::uint64_t resends = 0;             // re-sent after a worker exit (alone or as they were)
  std::uint64_t worker_disconnects = 0;  // workers seen exiting: socket disconnect, or
                                         // worker_exit (§3.6) saying "not alive"
  std::uint64_t late_replies = 0;        // replies after their request timed out
};

namespace detail {
struct ModelEntry {  // one served (model, version) of the cached topology
  ModelInfo info;
};

inline ModelInfo parse_model(const msgpack::object& m) {
  ModelInfo info;
  info.name = get_str(m, "name");
  info.version = get_int(m, "version");
  info.latest = get_bool(m, "latest");
  info.state = get_str(m, "state");
  const auto* retry = find(m, "retry");  // absent (an older supervisor): on, as in Python
  info.retry = !(retry && retry->type == msgpack::type::BOOLEAN && !retry->via.boolean);
  for (const auto& w : get_array(m, "workers"))
    info.workers.emplace_back(get_str(w, "id"), get_str(w, "endpoint"));
  const auto& in = get_map(m, "input");
  info.input.features = static_cast<std::uint32_t>(get_int(in, "features"));
  info.input.dtype = dtype_from_string(get_str(in, "dtype"));
  info.input.edge_features = static_cast<std::uint32_t>(get_int(in, "edge_features"));
  info.input.edge_dtype = dtype_from_string(get_str(in, "edge_dtype"));
  const auto& out = get_map(m, "output");
  info.output.level = get_str(out, "level");
  info.output.width = static_cast<std::uint32_t>(get_int(out, "width"));
  info.output.dtype = get_str(out, "dtype");
  const auto& lim = get_map(m, "limits");
  info.max_graphs = static_cast<std::uint64_t>(get_int(lim, "max_graphs"));
  info.max_nodes = static_cast<std::uint64_t>(get_int(lim, "max_nodes"));
  info.max_edges = static_cast<std::uint64_t>(get_int(lim, "max_edges"));
  for (const auto& v : get_array(m, "versions"))
    if (auto i = as_int(&v)) info.versions.push_back(*i);
  info.instances = get_int(m, "instances");
  info.device = get_str(m, "device");
  info.max_queue_delay_us = get_int(m, "max_queue_delay_us");
  return info;
}
}  // namespace detail

// ---------------------------------------------------------------------------
// Tensor: an inference output
// ---------------------------------------------------------------------------

// Row-major float32 output of shape {rows, width}. Owned when the reply
// carried it inline; a view into the client's arena (is_view()) when the
// worker wrote it into an output slot: valid until release() or destruction,
// which hand the slot back. to_owned() copies a view out.
class Tensor {
 public:
  Tensor() = default;
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  DType dtype() const noexcept { return DType::float32; }
  const float* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return count_; }
  std::size_t nbytes() const noexcept { return count_ * sizeof(float); }
  Span<const float> values() const noexcept { return {data_, count_}; }
  float at(std::size_t row, std::size_t col) const noexcept {
    return data_[row * static_cast<std::size_t>(shape_[1]) + col];
  }
  bool is_view() const noexcept { return static_cast<bool>(lease_); }
  // Ends a view early (the slot goes back to the arena); the tensor becomes empty.
  void release() noexcept {
    lease_.reset();
    owned_.clear();
    data_ = nullptr;
    count_ = 0;
  }
  Tensor to_owned() const {
    Tensor t;
    t.shape_ = shape_;
    t.owned_.assign(data_, data_ + count_);
    t.data_ = t.owned_.data();
    t.count_ = count_;
    return t;
  }

  Tensor(Tensor&& o) noexcept { *this = std::move(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      shape_ = std::move(o.shape_);
      owned_ = std::move(o.owned_);
      lease_ = std::move(o.lease_);
      data_ = std::exchange(o.data_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  static Tensor owned(std::int64_t rows, std::int64_t width, const char* bytes) {
    Tensor t;
    t.shape_ = {rows, width};
    t.count_ = static_cast<std::size_t>(rows * width);
    t.owned_.resize(t.count_);
    if (t.count_) std::memcpy(t.owned_.data(), bytes, t.count_ * sizeof(float));
    t.data_ = t.owned_.data();
    return t;
  }
  static Tensor view(std::int64_t rows, std::int64_t width, detail::Lease lease) {
    Tensor t;
    t.shape_ = {rows, width};
    t.count_ = static_cast<std::size_t>(rows * width);
    t.data_ = reinterpret_cast<const float*>(lease.data());
    t.lease_ = std::move(lease);
    return t;
  }

 private:
  std::vector<std::int64_t> shape_{0, 0};
  std::vector<float> owned_;
  detail::Lease lease_;
  const float* data_ = nullptr;
  std::size_t count_ = 0;
};

// ---------------------------------------------------------------------------
// GraphWriter: lays graphs out directly in shared memory
// ---------------------------------------------------------------------------

struct Capacity {  // upper bounds for one request
  std::size_t graphs = 1, nodes = 0, edges = 0;
};

// Writes one request's packed graph (FORMAT.md §6) in place. Reserve the
// request's capacity up front; add_graph() hands out spans at their final
// place (no staging copy); node ids are LOCAL to each graph (0..nodes-1), as
// in a PyG Data; finish() offsets them as PyG's Batch does (checking each is
// in range), and moves sections down when the batch came in under capacity.
class GraphWriter {
 public:
  struct Graph {
    Span<float> x;                 // nodes * features, row-major (float32 input only)
    Span<std::int64_t> src, dst;   // edges each, local node ids
    Span<float> edge_attr;         // edges * edge_features (float32 only), or empty
    Span<std::byte> x_bytes;       // x for any dtype
    Span<std::byte> edge_attr_bytes;
    std::size_t nodes = 0, edges = 0;
  };

  GraphWriter() = default;
  // Over a caller-owned buffer (tests, tools); bytes_needed() tells its size.
  GraphWriter(Span<std::byte> buffer, Capacity cap, InputSpec spec)
      : base_(buffer.data()), room_(buffer.size()), cap_(cap), spec_(spec) {
    init();
  }
  // Over an arena block (Client::writer).
  GraphWriter(detail::Lease lease, Capacity cap, InputSpec spec)
      : base_(lease.data()), room_(lease.size()), cap_(cap), spec_(spec), lease_(std::move(lease)) {
    init();
  }
  GraphWriter(GraphWriter&&) noexcept = default;
  GraphWriter& operator=(GraphWriter&&) noexcept = default;
  GraphWriter(const GraphWriter&) = delete;
  GraphWriter& operator=(const GraphWriter&) = delete;

  static std::size_t bytes_needed(Capacity cap, InputSpec spec) {
    return canonical_header(cap.graphs, cap.nodes, cap.edges, spec.features, spec.dtype,
                            spec.edge_features, spec.edge_dtype).total_length;
  }

  // Reserves one graph and returns its spans; fill them before finish().
  Graph add_graph(std::size_t nodes, std::size_t edges) {
    if (finished_) throw Error(ErrorCode::INVALID_INPUT, "GraphWriter already finished");
    if (graphs_.size() + 1 > cap_.graphs || nodes_ + nodes > cap_.nodes || edges_ + edges > cap_.edges)
      throw Error(ErrorCode::LIMIT_EXCEEDED,
                  "graph does not fit the writer's capacity (" + std::to_string(cap_.graphs) +
                      " graphs, " + std::to_string(cap_.nodes) + " nodes, " +
                      std::to_string(cap_.edges) + " edges). Hint: pass a larger Capacity");
    Graph g;
    g.nodes = nodes;
    g.edges = edges;
    const std::size_t xrow = spec_.features * itemsize(spec_.dtype);
    g.x_bytes = {base_ + cap_layout_.x_offset + nodes_ * xrow, nodes * xrow};
    if (spec_.dtype == DType::float32)
      g.x = {reinterpret_cast<float*>(g.x_bytes.data()), nodes * spec_.features};
    auto* ei = reinterpret_cast<std::int64_t*>(base_ + cap_layout_.edge_index_offset);
    g.src = {ei + edges_, edges};
    g.dst = {ei + cap_.edges + edges_, edges};
    if (spec_.edge_dtype != DType::none) {
      const std::size_t erow = spec_.edge_features * itemsize(spec_.edge_dtype);
      g.edge_attr_bytes = {base_ + cap_layout_.edge_attr_offset + edges_ * erow, edges * erow};
      if (spec_.edge_dtype == DType::float32)
        g.edge_attr = {reinterpret_cast<float*>(g.edge_attr_bytes.data()), edges * spec_.edge_features};
    }
    graphs_.push_back({nodes_, edges_, nodes, edges});
    nodes_ += nodes;
    edges_ += edges;
    return g;
  }

  // Copies existing arrays in (x: nodes*features float32; src/dst: local ids).
  void add_graph(Span<const float> x, Span<const std::int64_t> src, Span<const std::int64_t> dst,
                 Span<const float> edge_attr = {}) {
    if (spec_.dtype != DType::float32)
      throw Error(ErrorCode::WRONG_DTYPE, std::string("the model takes ") + to_string(spec_.dtype) +
                                              " features; use add_graph(nodes, edges).x_bytes");
    if (spec_.features == 0 || x.size() % spec_.features)
      throw Error(ErrorCode::WRONG_SHAPE, "x has " + std::to_string(x.size()) +
                                              " values, not a multiple of " +
                                              std::to_string(spec_.features) + " features");
    if (src.size() != dst.size()) throw Error(ErrorCode::WRONG_SHAPE, "src and dst differ in length");
    if (spec_.edge_dtype == DType::float32 ? edge_attr.size() != src.size() * spec_.edge_features
                                           : !edge_attr.empty())
      throw Error(ErrorCode::WRONG_SHAPE, "edge_attr must hold edges * edge_features values");
    Graph g = add_graph(x.size() / spec_.features, src.size());
    if (!x.empty()) std::memcpy(g.x.data(), x.data(), x.size() * sizeof(float));
    if (!src.empty()) {
      std::memcpy(g.src.data(), src.data(), src.size() * 8);
      std::memcpy(g.dst.data(), dst.data(), dst.size() * 8);
    }
    if (!edge_attr.empty()) std::memcpy(g.edge_attr.data(), edge_attr.data(), edge_attr.size() * 4);
  }
  // The same with a PyG-style edge_index [2][E] (row 0 sources, row 1 targets).
  void add_graph_coo(Span<const float> x, Span<const std::int64_t> edge_index,
                     Span<const float> edge_attr = {}) {
    if (edge_index.size() % 2) throw Error(ErrorCode::WRONG_SHAPE, "edge_index must be [2][E]");
    const std::size_t e = edge_index.size() / 2;
    add_graph(x, {edge_index.data(), e}, {edge_index.data() + e, e}, edge_attr);
  }

  // Lays out the canonical packed graph for what was added; returns its length.
  std::size_t finish() {
    if (finished_) return header_.total_length;
    if (graphs_.empty()) throw Error(ErrorCode::EMPTY_REQUEST, "no graphs were added. Hint: call add_graph");
    header_ = canonical_header(graphs_.size(), nodes_, edges_, spec_.features, spec_.dtype,
                               spec_.edge_features, spec_.edge_dtype);
    const PackedHeader& h = header_;
    const PackedHeader& c = cap_layout_;
    // Offset local ids to batch ids (PyG Batch), checking range, in place.
    auto* ei = reinterpret_cast<std::int64_t*>(base_ + c.edge_index_offset);
    for (std::size_t gi = 0; gi < graphs_.size(); ++gi) {
      const auto& g = graphs_[gi];
      const auto n = static_cast<std::int64_t>(g.nodes);
      const auto base = static_cast<std::int64_t>(g.node_start);
      for (std::size_t r = 0; r < 2; ++r) {
        std::int64_t* ids = ei + r * cap_.edges + g.edge_start;
        for (std::size_t e = 0; e < g.edges; ++e) {
          if (ids[e] < 0 || ids[e] >= n)
            throw Error(ErrorCode::EDGE_OUT_OF_RANGE,
                        "graph " + std::to_string(gi) + " edge " + std::to_string(e) + " names node " +
                            std::to_string(ids[e]) + ", outside its " + std::to_string(n) +
                            " nodes. Hint: GraphWriter takes node ids local to each graph");
          ids[e] += base;
        }
      }
    }
    // ptr first (it only shrinks toward the header), then sections in order:
    // each moves down, never over a source not yet moved.
    auto* ptr = reinterpret_cast<std::int64_t*>(base_ + h.ptr_offset);
    ptr[0] = 0;
    for (std::size_t gi = 0; gi < graphs_.size(); ++gi)
      ptr[gi + 1] = static_cast<std::int64_t>(graphs_[gi].node_start + graphs_[gi].nodes);
    move(c.edge_index_offset, h.edge_index_offset, edges_ * 8);
    move(c.edge_index_offset + cap_.edges * 8, h.edge_index_offset + edges_ * 8, edges_ * 8);
    const std::size_t xbytes = nodes_ * spec_.features * itemsize(spec_.dtype);
    move(c.x_offset, h.x_offset, xbytes);
    std::size_t end = h.x_offset + xbytes;
    if (h.has_edge_attr()) {
      const std::size_t eabytes = edges_ * spec_.edge_features * itemsize(spec_.edge_dtype);
      move(c.edge_attr_offset, h.edge_attr_offset, eabytes);
      zero(end, h.edge_attr_offset);
      end = h.edge_attr_offset + eabytes;
    }
    zero(h.ptr_offset + (graphs_.size() + 1) * 8, h.edge_index_offset);
    zero(h.edge_index_offset + edges_ * 16, h.x_offset);
    zero(end, h.total_length);
    write_header(base_, h);
    finished_ = true;
    return h.total_length;
  }

  std::size_t num_graphs() const noexcept { return graphs_.size(); }
  std::size_t num_nodes() const noexcept { return nodes_; }
  std::size_t num_edges() const noexcept { return edges_; }
  const InputSpec& spec() const noexcept { return spec_; }
  const PackedHeader& header() const noexcept { return header_; }  // after finish()
  const std::byte* bytes() const noexcept { return base_; }
  detail::Lease& lease() noexcept { return lease_; }

 private:
  struct Placed {
    std::size_t node_start, edge_start, nodes, edges;
  };
  void init() {
    if (spec_.edge_dtype == DType::none) spec_.edge_features = 0;
    cap_layout_ = canonical_header(std::max<std::size_t>(cap_.graphs, 1), cap_.nodes, cap_.edges,
                                   spec_.features, spec_.dtype, spec_.edge_features, spec_.edge_dtype);
    if (cap_layout_.total_length > room_)
      throw Error(ErrorCode::OUT_OF_BOUNDS, "GraphWriter needs " +
                                                std::to_string(cap_layout_.total_length) +
                                                " bytes, the buffer has " + std::to_string(room_));
    if (reinterpret_cast<std::uintptr_t>(base_) % 8)
      throw Error(ErrorCode::BAD_FORMAT, "GraphWriter buffer must be 8-byte aligned");
  }
  void move(std::size_t from, std::size_t to, std::size_t n) noexcept {
    if (from != to && n) std::memmove(base_ + to, base_ + from, n);
  }
  void zero(std::size_t from, std::size_t to) noexcept {
    if (to > from) std::memset(base_ + from, 0, to - from);
  }

  std::byte* base_ = nullptr;
  std::size_t room_ = 0;
  Capacity cap_;
  InputSpec spec_;
  detail::Lease lease_;
  PackedHeader cap_layout_, header_;
  std::vector<Placed> graphs_;
  std::size_t nodes_ = 0, edges_ = 0;
  bool finished_ = false;
};

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

struct Options {
  std::chrono::milliseconds timeout{30000};       // per call (infer and control)
  std::size_t arena_bytes = 32u << 20;            // §5.1 shared-memory arena
  std::string name = "graphferry-cpp";            // hello's client.name
  // After sending, read the worker's socket without sleeping (yielding the
  // CPU between reads) for up to this long, then sleep in zmq_poll. Spends a
  // core while waiting to save a sleeping thread's wake-up; 0 never spins.
  std::chrono::microseconds spin{0};
};

struct InferOptions {
  std::int64_t version = 0;                           // 0 = latest (§3.3)
  std::optional<std::chrono::milliseconds> timeout;   // default: Options::timeout
};

namespace detail {

// Per-worker data connection (§4): a DEALER plus a monitor that reports its
// disconnect (the worker exited) — the client's crash signal (§5.3).
struct WorkerConn {
  std::string id, endpoint;
  Socket data, monitor;
  std::size_t outstanding = 0;
};

// §5.3. sent: at `worker`. worker_gone: that worker exited holding it; the
// awaiting call settles it (fail, or re-send). done: reply or error taken.
// abandoned: timed out; its slots stay reserved until the reply or the death.
enum class PendingState { sent, worker_gone, done, abandoned };

struct Pending {
  std::string model;
  std::int64_t version = 0;         // as asked (0 = latest)
  std::int64_t wire_version = 0;    // §4.1 `version` as sent
  std::size_t length = 0;           // §4.1 `length`
  std::int64_t attempt = 0;         // §4.1 `attempt`: 1 = runs alone after a death
  int deaths = 0;                   // workers that died holding it (§5.3: 4 at most)
  bool retry = true;                // the model's §3.2 `retry` when it was sent
  WorkerConn* worker = nullptr;     // while sent
  std::string worker_id;            // the §3.6 id of the worker it was last sent to
  Clock::time_point checked_at{};   // sent, or last asked whether its worker lives
  PendingState state = PendingState::sent;
  Lease input, output;
  std::optional<msgpack::object_handle> reply;
  std::optional<Error> error;
};

}  // namespace detail

class Client {
 public:
  Client() : Client(default_socket_path(), Options{}) {}
  explicit Client(std::string socket_path, Options options = {})
      : ctx_(detail::Context::shared()), socket_path_(std::move(socket_path)), opts_(options) {
    if (socket_path_.size() > protocol::kMaxIpcPath)
      throw Error(ErrorCode::INVALID_INPUT, "socket path " + socket_path_ + " is longer than 107 bytes");
    if (const std::string why = detail::unreachable(socket_path_); !why.empty())
      throw Error(ErrorCode::SERVICE_UNAVAILABLE,
                  "no graphferry service at " + socket_path_ + ": " + why +
                      ". Hint: start it (graphferry serve), or point GRAPHFERRY_SOCKET at the "
                      "socket it serves");
    arena_ = std::make_shared<detail::Arena>(opts_.arena_bytes);
    control_ = detail::Socket(ctx_->get(), ZMQ_DEALER);
    control_.set64(ZMQ_MAXMSGSIZE, static_cast<std::int64_t>(protocol::kMaxMessageBytes));
    control_.connect("ipc://" + socket_path_);
    hello(deadline());
  }
  ~Client() noexcept { shutdown(); }
  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) noexcept = delete;  // a live connection is not reassigned
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A writer over a fresh arena block for `model`'s input (§3.2 `input`).
  GraphWriter writer(std::string_view model, Capacity cap, std::int64_t version = 0) {
    Busy busy(*this);
    const detail::ModelEntry& m = entry(model, version);
    InputSpec spec = m.info.input;
    const std::size_t bytes = GraphWriter::bytes_needed(cap, spec);
    return GraphWriter(allocate(bytes), cap, spec);
  }
  GraphWriter writer(Capacity cap, InputSpec spec) {
    return GraphWriter(allocate(GraphWriter::bytes_needed(cap, spec)), cap, spec);
  }

  // Runs `model` on the graphs (§4.1). Ok: the output; timeout: an empty
  // Result (DEADLINE_EXCEEDED); any other failure throws Error.
  Result<Tensor> infer(std::string_view model, GraphWriter&& graphs, InferOptions o = {}) {
    Busy busy(*this);
    const auto deadline = detail::Clock::now() + o.timeout.value_or(opts_.timeout);
    settle_events();
    GraphWriter w = std::move(graphs);
    if (!w.lease() || w.lease().arena() != arena_)
      throw Error(ErrorCode::INVALID_INPUT, "infer() needs a GraphWriter made by this Client");
    const std::size_t length = w.finish();
    const detail::ModelEntry& m = entry(model, o.version);
    const std::uint64_t rows = m.info.output.level == "node" ? w.num_nodes() : w.num_graphs();
    const std::uint64_t out_bytes = rows * m.info.output.width * sizeof(float);

    const std::uint64_t id = next_id_++;
    detail::Pending p;
    p.model = std::string(model);
    p.version = o.version;
    p.wire_version = o.version ? o.version : m.info.version;
    p.length = length;
    p.input = std::move(w.lease());
    if (out_bytes > inline_output_bytes_) p.output = allocate(out_bytes);
    auto [it, inserted] = pending_.emplace(id, std::move(p));
    (void)inserted;
    try {
      dispatch(it->second, id, m, deadline);
    } catch (...) {
      pending_.erase(id);  // never reached a worker: its slots are ours again
      throw;
    }
    ++counters_.requests;
    return await(id, deadline);
  }

  ModelInfo metadata(std::string_view model, std::int64_t version = 0) {
    Busy busy(*this);
    auto oh = control_call(detail::Request("metadata", next_id_++, 2)
                               .field("model", model)
                               .field("version", version), deadline());
    return detail::parse_model(oh.get());
  }

  Health health() {
    Busy busy(*this);
    auto oh = control_call(detail::Request("health", next_id_++, 0), deadline());
    Health h;
    h.status = detail::get_str(oh.get(), "status");
    for (const auto& m : detail::get_array(oh.get(), "models"))
      h.models.push_back({detail::get_str(m, "name"), detail::get_int(m, "version"),
                          detail::get_str(m, "state"), detail::get_int(m, "ready_workers"),
                          detail::get_int(m, "instances")});
    return h;
  }

  Stats stats() {
    Busy busy(*this);
    auto oh = control_call(detail::Request("stats", next_id_++, 0), deadline());
    Stats s;
    s.uptime_s = detail::get_float(oh.get(), "uptime_s");
    s.clients = detail::get_int(oh.get(), "clients");
    for (const auto& m : detail::get_array(oh.get(), "models")) {
      Stats::Model sm{detail::get_str(m, "name"), detail::get_int(m, "version"),
                      detail::get_int(m, "requests"), detail::get_int(m, "errors"),
                      detail::get_int(m, "restarts"), {}};
      for (const auto& w : detail::get_array(m, "workers"))
        sm.workers.push_back({detail::get_str(w, "id"), detail::get_int(w, "pid"),
                              detail::get_str(w, "state"), detail::get_int(w, "requests")});
      s.models.push_back(std::move(sm));
    }
    return s;
  }

  const std::string& region() const noexcept { return arena_->name(); }
  const std::string& socket_path() const noexcept { return socket_path_; }
  std::size_t inline_output_bytes() const noexcept { return inline_output_bytes_; }
  std::size_t arena_used_bytes() const { return arena_->used_bytes(); }
  const ClientCounters& counters() const noexcept { return counters_; }

 private:
  // Detects two threads in one Client (the documented rule is one per thread).
  struct Busy {
    explicit Busy(Client& c) : c_(c) {
      if (c_.busy_->exchange(true))
        throw Error(ErrorCode::INVALID_INPUT,
                    "graphferry::Client used from two threads at once. Hint: use one Client per thread");
    }
    ~Busy() noexcept { c_.busy_->store(false); }
    Client& c_;
  };

  detail::Clock::time_point deadline() const { return detail::Clock::now() + opts_.timeout; }

  detail::Lease allocate(std::size_t bytes) {
    auto off = arena_->allocate(bytes);
    if (!off)
      throw Error(ErrorCode::OVERLOADED,
                  "the client's arena (" + std::to_string(arena_->size()) + " bytes) has no room for " +
                      std::to_string(bytes) + " more. Hint: raise Options::arena_bytes or release views");
    return detail::Lease(arena_, *off, static_cast<std::size_t>(detail::align_up(bytes)));
  }

  // §3.1: announces the arena and takes limits and topology.
  void hello(detail::Clock::time_point deadline) {
    detail::Request req("hello", next_id_++, 2);
    req.key("client");
    req.packer().pack_map(2);
    req.key("pid");
    req.packer().pack_int64(::getpid());
    req.key("name");
    req.str(opts_.name);
    req.key("regions");
    req.packer().pack_array(1);
    req.str(arena_->name());
    auto oh = control_call(req, deadline);
    const auto& limits = detail::get_map(oh.get(), "limits");
    inline_output_bytes_ = static_cast<std::size_t>(detail::get_int(limits, "inline_output_bytes", 0));
    update_topology(detail::get_map(oh.get(), "topology"));
  }

  void shutdown() noexcept {
    if (!arena_) return;  // moved from
    try {
      // §3.7 bye: best effort, short wait, so the supervisor forgets us now
      // rather than when it notices the pid is gone.
      control_call(detail::Request("bye", next_id_++, 0),
                   detail::Clock::now() + std::chrono::milliseconds(200));
    } catch (...) {
    }
    pending_.clear();
    for (auto& w : workers_) close_worker(*w);
    workers_.clear();
    control_.close();
    arena_->unlink();
  }

  // A control round trip to the supervisor; only the control socket is read,
  // so data replies wait in their sockets until the caller's loop takes them.
  msgpack::object_handle control_call(const detail::Request& req,
                                      detail::Clock::time_point deadline) {
    const std::string bytes = req.bytes();
    const std::uint64_t id = req.id();
    const std::string& op = req.op();
    control_.send(bytes.data(), bytes.size());
    for (;;) {
      detail::Message msg;
      while (msg.recv(control_.get())) {
        auto oh = detail::unpack_reply(msg.data(), msg.size());
        if (static_cast<std::uint64_t>(detail::get_int(oh.get(), "id")) != id) continue;  // stale/event
        if (!detail::get_bool(oh.get(), "ok")) throw detail::reply_error(oh.get());
        return oh;
      }
      const long ms = remaining_ms(deadline);
      if (ms <= 0)
        throw Error(ErrorCode::SERVICE_UNAVAILABLE,
                    "the graphferry service at " + socket_path_ + " did not answer '" + op +
                        "'. Hint: is `graphferry serve` running?");
      zmq_pollitem_t item{control_.get(), 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, ms) < 0 && zmq_errno() != EINTR)
        throw Error(ErrorCode::INTERNAL, "zmq_poll failed: " + detail::errno_text(zmq_errno()));
    }
  }

  static long remaining_ms(detail::Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - detail::Clock::now());
    return left.count() <= 0 ? 0 : static_cast<long>((left.count() + 999) / 1000);
  }

  // §5.3: the topology is refreshed with hello, not topology, so that a
  // restarted supervisor learns our region again; a supervisor silent for
  // 0.5 s (or what is left of the call's time, at least 50 ms) is
  // SERVICE_UNAVAILABLE.
  void refresh_topology(detail::Clock::time_point deadline) {
    const auto now = detail::Clock::now();
    hello(std::min(now + protocol::kSettleTimeout,
                   std::max(now + std::chrono::milliseconds(50), deadline)));
  }

  void update_topology(const msgpack::object& topo) {
    models_.clear();
    for (const auto& m : detail::get_array(topo, "models")) models_.push_back({detail::parse_model(m)});
  }

  const detail::ModelEntry* find_model(std::string_view name, std::int64_t version) const {
    for (const auto& m : models_)
      if (m.info.name == name && (version ? m.info.version == version : m.info.latest)) return &m;
    return nullptr;
  }

  // The topology entry for (model, version), refreshing once if unknown.
  const detail::ModelEntry& entry(std::string_view model, std::int64_t version) {
    if (const auto* m = find_model(model, version)) return *m;
    refresh_topology(deadline());
    if (const auto* m = find_model(model, version)) return *m;
    for (const auto& m : models_)
      if (m.info.name == model)
        throw Error(ErrorCode::UNKNOWN_VERSION,
                    "model '" + std::string(model) + "' has no version " + std::to_string(version));
    throw Error(ErrorCode::UNKNOWN_MODEL, "no model named '" + std::string(model) +
                                              "' is served at " + socket_path_);
  }

  detail::WorkerConn& connect_worker(const std::string& id, const std::string& endpoint) {
    for (auto& w : workers_)
      if (w->endpoint == endpoint) return *w;
    auto w = std::make_unique<detail::WorkerConn>();
    w->id = id;
    w->endpoint = endpoint;
    w->data = detail::Socket(ctx_->get(), ZMQ_DEALER);
    w->data.set64(ZMQ_MAXMSGSIZE, static_cast<std::int64_t>(protocol::kMaxMessageBytes));
    static std::atomic<std::uint64_t> monitor_seq{0};
    const std::string mon = "inproc://graphferry-monitor-" + std::to_string(::getpid()) + "-" +
                            std::to_string(monitor_seq++);
    // DISCONNECTED only: it comes once per connection. Monitor events nobody
    // reads block libzmq's I/O thread once the monitor's queue is full (libzmq
    // #3575), freezing every socket of the shared context; CONNECT_RETRIED
    // would arrive every 100 ms from a dead worker's socket while this Client
    // is idle. A worker that died before we connected (a stale topology) is
    // caught by the 1 s worker_exit check (§5.3) instead.
    if (zmq_socket_monitor(w->data.get(), mon.c_str(), ZMQ_EVENT_DISCONNECTED) != 0)
      throw Error(ErrorCode::INTERNAL, "zmq_socket_monitor failed: " + detail::errno_text(zmq_errno()));
    w->monitor = detail::Socket(ctx_->get(), ZMQ_PAIR);
    w->monitor.connect(mon);
    w->data.connect(endpoint.find("://") == std::string::npos ? "ipc://" + endpoint : endpoint);
    workers_.push_back(std::move(w));
    poll_dirty_ = true;
    return *workers_.back();
  }

  void close_worker(detail::WorkerConn& w) noexcept {
    if (w.data) zmq_socket_monitor(w.data.get(), nullptr, 0);
    w.monitor.close();
    w.data.close();
  }

  // §5.2: the ready worker with the fewest of our requests outstanding; ties
  // rotate, so one-Client-per-thread callers spread over instances.
  detail::WorkerConn* pick_worker(const detail::ModelEntry& m) {
    detail::WorkerConn* best = nullptr;
    const std::size_t n = m.info.workers.size();
    for (std::size_t k = 0; k < n; ++k) {
      const auto& [id, endpoint] = m.info.workers[(k + rotate_) % n];
      if (dead_.count(endpoint)) continue;
      detail::WorkerConn& w = connect_worker(id, endpoint);
      if (!best || w.outstanding < best->outstanding) best = &w;
    }
    ++rotate_;
    return best;
  }

  // A worker whose socket disconnected may still be listed: the supervisor
  // reaps it a moment later. Never send there (nothing would ever answer).
  bool has_live_worker(const detail::ModelEntry& m) const {
    for (const auto& w : m.info.workers)
      if (!dead_.count(w.second)) return true;
    return false;
  }

  // The §4.1 infer message for p under wire id `id` (re-encoded per send:
  // each send has its own id, and a re-send may carry `attempt`).
  std::string encode_infer(const detail::Pending& p, std::uint64_t id) const {
    const std::uint32_t extra = 5 + (p.output ? 2 : 0) + (p.attempt ? 1 : 0);
    detail::Request req("infer", id, extra);
    req.field("model", p.model)
        .field("version", p.wire_version)
        .field("region", arena_->name())
        .field("offset", static_cast<std::uint64_t>(p.input.offset()))
        .field("length", static_cast<std::uint64_t>(p.length));
    if (p.output)
      req.field("out_offset", static_cast<std::uint64_t>(p.output.offset()))
          .field("out_length", static_cast<std::uint64_t>(p.output.size()));
    if (p.attempt) req.field("attempt", p.attempt);
    return req.bytes();
  }

  // Sends request `id` to a ready worker, refreshing the topology (hello)
  // every 50 ms until one of the model is ready or the deadline passes (§5.3).
  void dispatch(detail::Pending& p, std::uint64_t id, const detail::ModelEntry& m0,
                detail::Clock::time_point deadline) {
    const detail::ModelEntry* m = &m0;
    const std::string model = p.model;
    const std::int64_t version = p.version;
    for (;;) {
      if (m->info.state == "failed")
        throw Error(ErrorCode::MODEL_UNAVAILABLE, "model '" + model + "' v" +
                                                      std::to_string(m->info.version) +
                                                      " failed to load; see the server log");
      if (m->info.state == "ready" && has_live_worker(*m)) break;
      if (detail::Clock::now() >= deadline)
        throw Error(ErrorCode::MODEL_UNAVAILABLE,
                    "no worker of model '" + model + "' became ready in time. Hint: see "
                    "`graphferry status` and the server log");
      std::this_thread::sleep_for(protocol::kWaitForWorker);
      refresh_topology(deadline);
      m = find_model(model, version);
      if (!m) throw Error(ErrorCode::UNKNOWN_MODEL, "model '" + model + "' is no longer served");
    }
    detail::WorkerConn* w = pick_worker(*m);
    const std::string bytes = encode_infer(p, id);
    std::string worker_id = w->id;
    w->data.send(bytes.data(), bytes.size());
    ++w->outstanding;
    p.worker = w;
    p.worker_id = std::move(worker_id);
    p.retry = m->info.retry;
    p.checked_at = detail::Clock::now();
    p.state = detail::PendingState::sent;
  }

  // Waits for request `id`, settling everything that arrives meanwhile (§5.3).
  Result<Tensor> await(std::uint64_t id, detail::Clock::time_point deadline) {
    try {
      if (opts_.spin.count() > 0) spin(pending_.at(id), deadline);
      for (;;) {
        detail::Pending& p = pending_.at(id);
        if (p.state == detail::PendingState::done) return complete(id);
        if (p.state == detail::PendingState::worker_gone) {
          // Fail it, or re-send it under a fresh id to a live worker.
          settle(p);
          refresh_topology(deadline);
          const detail::ModelEntry* m = find_model(p.model, p.version);
          if (!m)
            throw Error(ErrorCode::MODEL_UNAVAILABLE, "model '" + p.model + "' vanished from the topology");
          auto node = pending_.extract(id);
          id = next_id_++;
          node.key() = id;
          detail::Pending& q = pending_.insert(std::move(node)).position->second;
          dispatch(q, id, *m, deadline);
          ++counters_.resends;
          continue;
        }
        const long ms = remaining_ms(deadline);
        if (ms <= 0) {
          // §5.3: the slot stays reserved until the worker replies or exits.
          p.state = detail::PendingState::abandoned;
          return Result<Tensor>::timeout("no answer from model '" + p.model + "' within the timeout");
        }
        // §5.3: no reply for 1 s: is its worker still alive? A request sent
        // before the connection was up sees no disconnect when it dies.
        const auto now = detail::Clock::now();
        const auto check_at = p.checked_at + protocol::kAliveCheckEvery;
        if (now >= check_at) {
          p.checked_at = now;
          if (worker_dead(p.worker_id)) worker_exited(*p.worker);
          continue;
        }
        const long until_check = remaining_ms(check_at);
        poll_once(std::max(1L, std::min(ms, until_check)));
      }
    } catch (...) {
      auto it = pending_.find(id);
      if (it != pending_.end()) {
        if (it->second.state == detail::PendingState::sent)
          it->second.state = detail::PendingState::abandoned;  // a live worker may still write it
        else
          pending_.erase(it);  // its worker is dead, or it never left: the slots are free
      }
      throw;
    }
  }

  // §5.3 SETTLE: p's worker exited holding it. Throws WORKER_CRASHED (or
  // SERVICE_UNAVAILABLE when the supervisor is silent); otherwise sets the
  // attempt it is re-sent with: 1 (alone) when it was in the model call the
  // worker was executing, unchanged when it was only queued there.
  void settle(detail::Pending& p) {
    ++p.deaths;
    // Asked even when retry is off: the answer comes after the supervisor has
    // reaped the worker and read back a killer's input, so the slot is not
    // reused (and a neighbour's input quarantined) before that.
    const bool executing = was_executing(p.worker_id, p.input.offset());
    if (!p.retry)
      throw Error(ErrorCode::WORKER_CRASHED,
                  "worker " + p.worker_id + " of " + p.model +
                      " died while holding this request (retry_on_crash is off for this model)");
    if (executing && p.attempt >= 1)
      throw Error(ErrorCode::WORKER_CRASHED,
                  "worker " + p.worker_id + " of " + p.model +
                      " died while running this request alone; the input is quarantined "
                      "(POISONED if sent again)");
    if (p.deaths >= protocol::kMaxWorkerDeaths)
      throw Error(ErrorCode::WORKER_CRASHED, std::to_string(p.deaths) + " workers of " + p.model +
                                                 " died while holding this request");
    if (executing) p.attempt = 1;
  }

  // §3.6: was our request at `offset` in the model call the dead worker was
  // executing? Asks again every 10 ms while the supervisor still says "alive"
  // (the socket closed, the exit is not reaped yet), for 0.5 s; after that,
  // or for "unknown", the request counts as only queued (innocent).
  bool was_executing(const std::string& worker_id, std::size_t offset) {
    const auto budget = detail::Clock::now() + protocol::kSettleTimeout;
    for (;;) {
      const auto floor = detail::Clock::now() + std::chrono::milliseconds(50);
      auto oh = control_call(detail::Request("worker_exit", next_id_++, 1).field("worker", worker_id),
                             std::max(floor, budget));
      const msgpack::object& r = oh.get();
      const std::string state = detail::get_str(r, "state");
      if (state == "dead") {
        const auto executing = detail::get_array(r, "executing");
        for (const auto& e : executing) {
          if (e.type != msgpack::type::ARRAY || e.via.array.size < 2) continue;
          const auto inode = detail::as_int(&e.via.array.ptr[0]);
          const auto off = detail::as_int(&e.via.array.ptr[1]);
          if (inode && off && static_cast<std::uint64_t>(*inode) == arena_->inode() &&
              static_cast<std::uint64_t>(*off) == offset)
            return true;
        }
        return detail::get_int(r, "batch_size") > static_cast<std::int64_t>(executing.size());
      }
      if (state != "alive" || detail::Clock::now() >= budget) return false;
      std::this_thread::sleep_for(protocol::kSettleRetry);
    }
  }

  // §3.6: true unless the supervisor says the worker is alive (a silent
  // supervisor counts as dead: settling then asks again, and fails).
  bool worker_dead(const std::string& worker_id) noexcept {
    try {
      auto oh = control_call(detail::Request("worker_exit", next_id_++, 1).field("worker", worker_id),
                             detail::Clock::now() + protocol::kSettleTimeout);
      return detail::get_str(oh.get(), "state") != "alive";
    } catch (...) {
      return true;
    }
  }

  Result<Tensor> complete(std::uint64_t id) {
    auto node = pending_.extract(id);
    detail::Pending& p = node.mapped();
    if (p.error) throw *p.error;
    const msgpack::object& r = p.reply->get();
    if (!detail::get_bool(r, "ok")) throw detail::reply_error(r);
    auto shape = detail::get_array(r, "shape");
    auto rows = shape.size() == 2 ? detail::as_int(&shape[0]) : std::nullopt;
    auto width = shape.size() == 2 ? detail::as_int(&shape[1]) : std::nullopt;
    if (!rows || !width || *rows < 0 || *width < 0 ||
        (*width && static_cast<std::uint64_t>(*rows) > (1ull << 40) / static_cast<std::uint64_t>(*width)))
      throw Error(ErrorCode::MALFORMED_MESSAGE, "infer reply has no valid 'shape'");
    const std::size_t bytes = static_cast<std::size_t>(*rows * *width) * sizeof(float);
    const std::string dtype = detail::get_str(r, "dtype");
    if (!dtype.empty() && dtype != "float32")
      throw Error(ErrorCode::BAD_MODEL_OUTPUT, "output dtype " + dtype + " is not float32");
    if (detail::get_bool(r, "in_slot")) {
      if (!p.output || bytes > p.output.size())
        throw Error(ErrorCode::MALFORMED_MESSAGE, "reply claims an output slot the request did not give");
      p.input.reset();
      return Tensor::view(*rows, *width, std::move(p.output));
    }
    const auto* data = detail::find(r, "data");
    if (!data || data->type != msgpack::type::BIN || data->via.bin.size != bytes)
      throw Error(ErrorCode::MALFORMED_MESSAGE, "infer reply's 'data' does not match its shape");
    return Tensor::owned(*rows, *width, data->via.bin.ptr);
  }

  // Options::spin: until a reply is queued on the worker's socket (reading
  // ZMQ_EVENTS runs the socket's pending commands, as zmq_poll does), the
  // spin time is over, or the deadline passes. The loop after it takes the reply.
  void spin(const detail::Pending& p, detail::Clock::time_point deadline) {
    if (p.state != detail::PendingState::sent || !p.worker) return;
    void* socket = p.worker->data.get();
    const auto until = std::min(deadline, detail::Clock::now() + opts_.spin);
    while (detail::Clock::now() < until) {
      int events = 0;
      std::size_t size = sizeof events;
      if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &size) != 0 || (events & ZMQ_POLLIN)) return;
      std::this_thread::yield();
    }
  }

  // Takes late replies and worker exits already queued, without waiting, so a
  // new request is not sent to a worker known to be gone.
  void settle_events() {
    if (!workers_.empty()) poll_once(0);
  }

  void rebuild_poll_items() {
    items_.clear();
    for (auto& w : workers_) {
      items_.push_back({w->data.get(), 0, ZMQ_POLLIN, 0});
      items_.push_back({w->monitor.get(), 0, ZMQ_POLLIN, 0});
    }
    poll_dirty_ = false;
  }

  // One wait on every data socket and monitor; handles what arrived.
  void poll_once(long timeout_ms) {
    if (poll_dirty_) rebuild_poll_items();
    if (items_.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long>(timeout_ms, 10)));
      return;
    }
    int rc = zmq_poll(items_.data(), static_cast<int>(items_.size()), timeout_ms);
    if (rc < 0) {
      if (zmq_errno() == EINTR) return;
      throw Error(ErrorCode::INTERNAL, "zmq_poll failed: " + detail::errno_text(zmq_errno()));
    }
    if (rc == 0) return;
    std::vector<detail::WorkerConn*> dead;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      detail::WorkerConn& w = *workers_[i];
      if (items_[2 * i].revents & ZMQ_POLLIN) drain(w);
      if (!(items_[2 * i + 1].revents & ZMQ_POLLIN)) continue;
      if (monitor_events(w) & ZMQ_EVENT_DISCONNECTED) dead.push_back(&w);
    }
    for (auto* w : dead) worker_exited(*w);
  }

  // Takes every queued reply of worker w.
  void drain(detail::WorkerConn& w) {
    detail::Message msg;
    while (msg.recv(w.data.get())) {
      std::optional<msgpack::object_handle> oh;
      try {
        oh = detail::unpack_reply(msg.data(), msg.size());
      } catch (const Error&) {
        continue;  // a garbled frame cannot be matched to a request
      }
      const auto id = static_cast<std::uint64_t>(detail::get_int(oh->get(), "id"));
      auto it = pending_.find(id);
      if (it == pending_.end() || it->second.worker != &w) continue;  // stale
      if (w.outstanding) --w.outstanding;
      if (it->second.state == detail::PendingState::abandoned) {
        ++counters_.late_replies;
        pending_.erase(it);  // frees its slots: the worker is done with them
        continue;
      }
      it->second.reply = std::move(oh);
      it->second.state = detail::PendingState::done;
    }
  }

  // Reads the monitor's queued events; returns the ZMQ_EVENT_* bits seen.
  int monitor_events(detail::WorkerConn& w) {
    int seen = 0;
    for (;;) {
      detail::Message head;
      if (!head.recv(w.monitor.get())) break;
      if (head.size() >= 2) {
        std::uint16_t event;
        std::memcpy(&event, head.data(), sizeof event);
        seen |= event;
      }
      while (head.more()) {  // the endpoint frame
        detail::Message rest;
        if (!rest.recv(w.monitor.get()) || !rest.more()) break;
      }
    }
    return seen;
  }

  // §5.3: worker w exited (its socket disconnected, or worker_exit says it is
  // not alive). Replies it sent first are taken; each request it still held
  // is left to its awaiting call to settle (worker_gone), or, abandoned after
  // a timeout, has its slots freed: a dead worker writes nothing.
  void worker_exited(detail::WorkerConn& w) {
    ++counters_.worker_disconnects;
    drain(w);
    for (auto it = pending_.begin(); it != pending_.end();) {
      detail::Pending& p = it->second;
      if (p.worker != &w) {
        ++it;
        continue;
      }
      p.worker = nullptr;
      if (p.state == detail::PendingState::abandoned) {
        it = pending_.erase(it);
        continue;
      }
      if (p.state == detail::PendingState::sent) p.state = detail::PendingState::worker_gone;
      ++it;
    }
    if (dead_.size() > 4096) dead_.clear();  // endpoints carry a generation: never reused
    dead_.insert(w.endpoint);
    close_worker(w);
    workers_.erase(std::remove_if(workers_.begin(), workers_.end(),
                                  [&](const auto& up) { return up.get() == &w; }),
                   workers_.end());
    poll_dirty_ = true;
  }

  std::shared_ptr<detail::Context> ctx_;  // first: destroyed after every socket
  std::string socket_path_;
  Options opts_;
  std::shared_ptr<detail::Arena> arena_;
  detail::Socket control_;
  std::vector<detail::ModelEntry> models_;
  std::vector<std::unique_ptr<detail::WorkerConn>> workers_;
  std::set<std::string> dead_;  // endpoints of workers seen exiting
  std::vector<zmq_pollitem_t> items_;
  bool poll_dirty_ = true;
  std::unordered_map<std::uint64_t, detail::Pending> pending_;
  std::uint64_t next_id_ = 1;
  std::size_t rotate_ = 0;
  std::size_t inline_output_bytes_ = 0;
  ClientCounters counters_;
  std::unique_ptr<std::atomic<bool>> busy_ = std::make_unique<std::atomic<bool>>(false);
};

static_assert(!std::is_copy_constructible_v<Client> && !std::is_copy_assignable_v<Client>);
static_assert(!std::is_copy_constructible_v<GraphWriter>);
static_assert(!std::is_copy_constructible_v<Tensor>);

}  // namespace graphferry
