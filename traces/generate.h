// Synthetic workload generators (gomalloc gen). Each kind stands for a real allocation pattern (see
// docs/trace-format.md, "Generators"); all are deterministic for a seed and stream their events to a writer,
// keeping only the live set, so traces of hundreds of millions of events can be generated.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "traces/event.h"
#include "traces/writer.h"

namespace gomalloc::traces {

struct GenOptions {
  std::string kind;                 // steady, web, producer-consumer, fragmentation, large, larson
  uint64_t events = 100000;         // exactly this many events are written
  std::optional<uint32_t> threads;  // default: the kind's (steady 4, web 8, producer-consumer 4, ...)
  uint64_t seed = 1;
  std::optional<uint64_t> gcEvery;  // a gc event every N events; 0 = none; default: the kind's
};

struct GenKind {
  std::string_view name;
  std::string_view summary;  // one line: the real pattern it stands for
  uint32_t defaultThreads;
  uint64_t defaultGcEvery;
};
const std::vector<GenKind>& genKinds();
const GenKind* findGenKind(std::string_view name);

// The header a generated trace gets (meta names the generator and its settings). Throws std::invalid_argument
// for an unknown kind or a bad thread count.
TraceHeader genHeader(const GenOptions& o);
// Generates o.events events into sink (called once per event, in order).
void generate(const GenOptions& o, const std::function<void(const Event&)>& sink);
// Generates into a writer (which finish() is not called on).
void generate(const GenOptions& o, TraceWriter& w);

// Go-like request sizes (go-allocfreetrace.md: rounded sizes 16 B 44%, 17-32 B 28%, 33-64 B 21%, 65-128 B 3%,
// larger 4%), and whether the object holds pointers. Exposed for tests.
struct SizeDraw {
  uint64_t size;
  bool scan;
};
SizeDraw goSize(uint64_t random1, uint64_t random2);

}  // namespace gomalloc::traces
