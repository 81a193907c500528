// Streaming trace readers: JSON document, JSON Lines and the binary .gmt encoding, plain or compressed
// (.zst, .gz). Memory does not grow with the file: the JSON readers keep a window of about 1 MiB (more only
// for a single token larger than that), the binary reader maps the file or keeps one block.
//
// A reader checks everything that can be checked event by event (syntax, field types and ranges, the header,
// thread ids against "threads", ts non-decreasing per thread); whether ids are live is the loader's job
// (loader.h). Errors throw TraceError naming the file, the event index and, for JSON, line and column.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "traces/error.h"
#include "traces/event.h"
#include "traces/io.h"

namespace gomalloc::traces {

struct ReadOptions {
  bool lenient = false;             // a ts that goes backwards on a thread is counted, not an error
  std::optional<Encoding> encoding; // force an encoding instead of detecting it
  // Read on after an error confined to one event (validate): a JSON event with a wrong, missing or duplicate
  // field or an unknown op is skipped (not returned) and its error queued; a thread beyond the header's
  // "threads" or a ts that goes backwards is queued and the event returned. Syntax errors still end reading.
  bool recover = false;
};

// An error confined to one event, queued by a recovering reader (ReadOptions::recover).
struct EventError {
  uint64_t index;       // the event's index in the trace
  std::string message;  // the whole message, as TraceError::what() would give it
};

// Keys that are not the format's own (docs/trace-format.md): counted, and a near-miss of a known key
// (edit distance 1 for keys of up to 3 bytes, 2 for longer, a transposition, or a different case) warned once.
struct UnknownKeys {
  uint64_t total = 0;                                  // occurrences, header and events
  std::vector<std::pair<std::string, uint64_t>> keys;  // the first kMaxNamed distinct keys and their counts
  static constexpr size_t kMaxNamed = 16;
};
// The format's key that `key` is a near-miss of (candidates: the event keys, or the header keys), or "".
std::string_view nearMissKey(std::string_view key, bool header);

class TraceReader {
 public:
  virtual ~TraceReader();

  // Reads up to n events into out; returns how many. 0 means the end of the trace, and then the whole file
  // has been checked (including header keys that come after "events").
  size_t read(Event* out, size_t n);
  bool next(Event& e) { return read(&e, 1) == 1; }

  const std::string& path() const { return path_; }
  Format format() const { return format_; }
  // The header. Complete once headerComplete(): before the first event unless the JSON document puts header
  // keys after "events"; always after read() returned 0.
  const TraceHeader& header() const { return header_; }
  bool headerComplete() const { return headerComplete_; }
  uint64_t eventsRead() const { return events_; }
  uint64_t rawBytes() const { return input_ ? input_->rawBytes() : bytes(); }  // from the file (compressed)
  virtual uint64_t bytes() const = 0;  // decompressed bytes consumed so far

  // Lenient reading: how many ts went backwards on their thread, and the warnings to show the user.
  uint64_t tsBackwards() const { return tsBackwards_; }
  std::vector<std::string> warnings() const;
  const UnknownKeys& unknownKeys() const { return unknownKeys_; }

  // Recovering readers (ReadOptions::recover): the index of the first event the last read() returned (the
  // events of one read() have consecutive indices), and the event errors queued since the last call.
  uint64_t batchFirst() const { return batchFirst_; }
  std::vector<EventError> takeEventErrors() { return std::exchange(eventErrors_, {}); }

  // The position of an event that read() returned as the index-th event of the trace.
  Where where(const Event& e, uint64_t index) const;
  // Throws TraceError for the index-th event with message.
  [[noreturn]] void fail(const Event& e, uint64_t index, const std::string& message) const;

 protected:
  TraceReader(std::string path, Format format, const ReadOptions& opts, std::unique_ptr<Input> input);
  // Produces up to n events, setting line/column; 0 at the end (after checking the rest of the file).
  virtual size_t fill(Event* out, size_t n) = 0;
  void setHeaderComplete();  // call when every header key has been seen
  // For a reader that checks thread and ts while it decodes (the binary one), with the header complete before
  // the first event: read() then does not check again. Such a reader keeps each thread's last ts and calls
  // checkSlow for an event whose thread is not below the header's limit or whose ts is below its thread's
  // last one: it throws, or (lenient) counts the ts, then updates lastTs[thread].
  bool checksEvents_ = false;
  void checkSlow(const Event& e, uint64_t index, uint64_t* lastTs);
  // Every reader reads input_ through this, so that errors of the input (a truncated or corrupt compressed
  // stream, data after its end, an I/O error) take one path whatever the encoding: such an error ends the data
  // as the end of the file would (0 from then on), and inputError() holds its message, which the reader reports
  // where its data ended, in place of its own "unexpected end of file", naming the event and line or byte as
  // for any other error. A reader that reaches the end of a complete trace checks inputError() too (data after
  // a complete compressed stream that is not another stream of it is an error).
  size_t readInput(char* dst, size_t n);
  const std::string& inputError() const { return inputError_; }
  // An unknown key at line (0: no lines); header says which names it may be a near-miss of.
  void unknownKey(std::string_view key, uint64_t line, bool header);
  // A recovering reader queues an error confined to one event.
  void queueEventError(uint64_t index, std::string message) { eventErrors_.push_back({index, std::move(message)}); }

  std::string path_;
  Format format_;
  ReadOptions opts_;
  std::unique_ptr<Input> input_;  // may be null (memory-mapped input)
  TraceHeader header_;
  bool headerComplete_ = false;
  uint64_t events_ = 0;
  Where threadsWhere_;  // position of the "threads" key, for messages
  uint64_t batchFirst_ = 0;  // see batchFirst(); a reader that skips an event before returning any moves it

 private:
  void check(Event* ev, size_t n, uint64_t first);
  void badThread(const Event& e, uint64_t index, uint32_t limit);  // throws unless recovering
  void tsWentBackwards(const Event& e, uint64_t index, uint64_t last);  // throws unless lenient
  void finalChecks();
  struct Seen {
    uint64_t index, line, column;
  };
  std::vector<uint64_t> lastTs_;  // per thread seen so far: its last ts (0 before any)
  std::vector<Seen> firstSeen_;   // per thread: its first event, kept while "threads" is unknown
  uint64_t tsBackwards_ = 0;
  std::string firstTsBackwards_;
  std::string inputError_;
  bool finished_ = false;
  UnknownKeys unknownKeys_;
  std::vector<std::string> keyWarnings_;  // near-miss keys, each distinct key once
  std::vector<EventError> eventErrors_;
};

// Opens a trace file, choosing compression by magic bytes and encoding by content and suffix (.json,
// .jsonl/.ndjson, .gmt; a JSON file with another suffix is a document if it has "events", else JSON Lines).
// Throws TraceError if the file cannot be opened or is not a trace.
std::unique_ptr<TraceReader> openTrace(const std::string& path, const ReadOptions& opts = {});
// The same for bytes in memory (which must outlive the reader); name is used in messages and for the suffix.
std::unique_ptr<TraceReader> openTraceMemory(const std::string& name, std::string_view data,
                                             const ReadOptions& opts = {});

// Reads every event of a trace (for tests and small traces; large traces should stream).
std::vector<Event> readAll(TraceReader& r);

}  // namespace gomalloc::traces
