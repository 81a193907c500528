// Trace writers for every encoding: JSON document, JSON Lines, binary .gmt; each optionally compressed.
// Output is atomic when written to a file: a temporary file renamed into place by finish().
#pragma once

#include <memory>
#include <string>

#include "traces/event.h"
#include "traces/io.h"

namespace gomalloc::traces {

class TraceWriter {
 public:
  virtual ~TraceWriter() = default;
  virtual void write(const Event& e) = 0;
  // Writes the end of the trace and completes the output. Nothing is visible at the path before this.
  virtual void finish() = 0;
  uint64_t eventsWritten() const { return events_; }

 protected:
  uint64_t events_ = 0;
};

// A writer for format f onto sink (which gets the compression of f's Compression applied).
std::unique_ptr<TraceWriter> createWriter(std::unique_ptr<Sink> sink, Format f, const TraceHeader& header);
// A writer for path; the encoding and compression come from its suffix (.json, .jsonl, .ndjson, .gmt, each
// optionally + .zst or .gz). Throws TraceError for an unknown suffix or an unwritable path.
std::unique_ptr<TraceWriter> createWriter(const std::string& path, const TraceHeader& header);

// The header as the JSON object every encoding stores ({"format", "version", "meta"?, "threads"?}).
nlohmann::ordered_json headerObject(const TraceHeader& h);

// One event as canonical JSON: {"op":"alloc","thread":0,"id":1,"size":24,"scan":true,"ts":100}
// (scan only when true, ts only when present, thread on a gc only when it has one). Appends to out.
void appendEventJson(std::string& out, const Event& e);

}  // namespace gomalloc::traces
