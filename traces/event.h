// The trace event model (docs/trace-format.md, ../shared/spec/trace-format-v1.md): one Event per alloc, free
// or gc record, in file order, as every reader produces and every writer consumes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gomalloc::traces {

enum class Op : uint8_t { Alloc = 0, Free = 1, Gc = 2 };

inline constexpr uint32_t kMaxThreads = 65536;               // thread ids are 0..65535
inline constexpr uint64_t kMaxSize = uint64_t{1} << 40;      // sizes are 0..2^40
inline constexpr uint64_t kMaxSmallSize = 32768;              // larger objects are "large" (own span)

struct Event {
  uint64_t id = 0;    // alloc, free
  uint64_t size = 0;  // alloc
  uint64_t ts = 0;    // valid when hasTs
  uint64_t line = 0;  // JSON: line of the event's '{' (1-based); 0 when the encoding has no lines
  uint32_t column = 0;  // JSON: column (1-based, in bytes) of the event's '{'
  uint16_t thread = 0;  // alloc, free; gc when hasThread
  Op op = Op::Gc;
  bool scan = false;       // alloc: the object holds pointers
  bool hasTs = false;
  bool hasThread = false;  // always true for alloc and free; optional for gc

  static Event alloc(uint16_t thread, uint64_t id, uint64_t size, bool scan = false) {
    Event e;
    e.op = Op::Alloc, e.thread = thread, e.hasThread = true, e.id = id, e.size = size, e.scan = scan;
    return e;
  }
  static Event free(uint16_t thread, uint64_t id) {
    Event e;
    e.op = Op::Free, e.thread = thread, e.hasThread = true, e.id = id;
    return e;
  }
  static Event gc() { return Event{}; }
  static Event gc(uint16_t thread) {
    Event e;
    e.thread = thread, e.hasThread = true;
    return e;
  }
  Event& at(uint64_t t) {
    ts = t, hasTs = true;
    return *this;
  }

  // The event's content (positions excluded): what a lossless conversion preserves.
  bool sameAs(const Event& o) const {
    return op == o.op && hasThread == o.hasThread && (!hasThread || thread == o.thread) &&
           (op == Op::Gc || id == o.id) && (op != Op::Alloc || (size == o.size && scan == o.scan)) &&
           hasTs == o.hasTs && (!hasTs || ts == o.ts);
  }
};

std::string_view opName(Op op);

// The trace's header: everything but the events.
struct TraceHeader {
  nlohmann::ordered_json meta;     // null when absent; otherwise an object, key order kept
  std::optional<uint32_t> threads; // declared thread count (1..65536), when present
};

enum class Encoding : uint8_t { Json, JsonLines, Binary };
enum class Compression : uint8_t { None, Zstd, Gzip };

struct Format {
  Encoding encoding = Encoding::Json;
  Compression compression = Compression::None;
};
std::string_view encodingName(Encoding e);      // "json", "jsonl", "gmt"
std::string_view compressionName(Compression c);  // "", "zst", "gz"

// The format a file name asks for: .json, .jsonl/.ndjson, .gmt, each optionally followed by .zst or .gz.
// Returns nullopt for any other suffix.
std::optional<Format> formatFromSuffix(std::string_view path);

}  // namespace gomalloc::traces
