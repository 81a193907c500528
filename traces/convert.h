// Converting a trace between encodings (gomalloc convert): streams events from any reader to any writer,
// checking the trace on the way (strict: the first error aborts and nothing is written; lenient: frees of
// dead ids are dropped and an alloc of a live id gets an explicit free first, so the output is valid).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/event.h"

namespace gomalloc::traces {

struct ConvertOptions {
  bool lenient = false;
};

struct ConvertResult {
  Format from, to;
  uint64_t eventsIn = 0, eventsOut = 0;
  std::vector<std::string> warnings;
};

// Converts in to out (encoding and compression from out's suffix). Throws TraceError.
ConvertResult convertTrace(const std::string& in, const std::string& out, const ConvertOptions& opts = {});

}  // namespace gomalloc::traces
