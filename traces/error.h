// TraceError: every problem with a trace file, with a message that names the file, the event and, for JSON,
// the line and column, e.g. "trace.json: event 17 (line 20, column 5): free of id 9 that is not live".
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace gomalloc::traces {

// Where in a trace something is. event == kNoEvent for header positions; line == 0 when the encoding has
// no lines (binary), then offset (bytes into the decompressed stream) is given instead.
struct Where {
  static constexpr uint64_t kNoEvent = ~uint64_t{0};
  uint64_t event = kNoEvent;
  uint64_t line = 0;
  uint64_t column = 0;
  uint64_t offset = ~uint64_t{0};
  bool afterEvents = false;  // a header key after the events array

  std::string str() const;  // "event 17 (line 20, column 5)", "header (line 1, column 2)", "event 3 (byte 40)"
};

class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& file, const Where& where, const std::string& message);
  explicit TraceError(const std::string& fullMessage) : std::runtime_error(fullMessage) {}
};

// "file: where: message"
std::string traceMessage(const std::string& file, const Where& where, const std::string& message);

}  // namespace gomalloc::traces
