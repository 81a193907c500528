// Loading a trace into the form replay consumes (program.h): streams the file through a reader, checks that
// every free names a live object and every alloc a new one, and gives each object a dense slot.
//
// Threads: the program has one stream per thread id that appears in the trace (alloc, free, or gc with a
// thread). Stream i holds the i-th smallest such id (program.threadIds[i]); so a trace whose ids are 0..n-1
// keeps them, and sparse ids (e.g. 3, 70, 900) become 0, 1, 2. A trace with gc events only gets one stream.
//
// Windows (streaming): ProgramStream reads a trace in windows of a fixed number of events and hands each out as
// a ReplayProgram holding that window's ops only (its order, its gc copies, the sequences they expect): the
// windows' ops, one after the other, are exactly the ops loadProgram gives. Slots, sequences and the id map
// carry over from window to window, so memory follows the live set and the window, not the trace's length.
// The thread set is fixed when the first window is taken: the threads of the events read by then (the first
// window's, or more read ahead: Options::threadHorizon), or given up front.
//
// Errors: strict loading throws TraceError at the first bad event ("trace.json: event 17 (line 20, column 5):
// free of id 9 that is not live"). Lenient loading skips frees of ids that are not live and frees the old
// object first when an alloc names a live id, counting both (skippedFrees, implicitFrees, warnings).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "traces/digest.h"
#include "traces/event.h"
#include "traces/program.h"
#include "traces/reader.h"

namespace gomalloc::traces {

struct LoadOptions {
  bool lenient = false;
  // When set, loading checks it every 1024 events and throws LoadCancelled once it is true (Ctrl-C).
  const std::atomic<bool>* cancel = nullptr;
};
// Loading stopped because LoadOptions::cancel was set: nothing was loaded.
struct LoadCancelled : std::runtime_error {
  LoadCancelled() : std::runtime_error("interrupted while loading the trace") {}
};
// Streaming: an event of a thread that is not in the thread set fixed with the first window (or given up front).
struct NewThreadError : TraceError {
  using TraceError::TraceError;
};
inline ReadOptions readOptionsFor(const LoadOptions& o) { return ReadOptions{o.lenient, {}}; }

// Loads the trace at path (any encoding, compressed or not). Throws TraceError.
ReplayProgram loadProgram(const std::string& path, const LoadOptions& opts = {});
// Loads from an open reader (which should have been opened with the same lenient setting).
ReplayProgram loadProgram(TraceReader& reader, const LoadOptions& opts = {});

// Builds a ReplayProgram from events one at a time; loadProgram is a reader feeding one of these. Also usable
// directly (tests, generated programs) and, with keepOps = false, as a validator that stores nothing per op.
class ProgramBuilder {
 public:
  struct Options {
    bool lenient = false;
    bool keepOps = true;  // false: only check and count (validate, info)
    // When set, strict-mode errors about liveness are passed here and processing goes on as if lenient
    // (to list every error); when empty they throw.
    std::function<void(const std::string&)> onError;
    // The trace's thread ids (as threadIds() gives them after every event), when they are known before the first
    // event: the streams are made for them at once, and an event of another thread throws NewThreadError.
    std::optional<std::vector<uint16_t>> threadIds;
  };
  // What add() did with an event.
  struct Step {
    uint32_t slot = 0;           // the object's slot (alloc, free)
    bool cross = false;          // the op waits for another thread (kCross)
    bool skipped = false;        // a free of an id that was not live, skipped
    bool implicitFree = false;   // an alloc of a live id: that object (in slot implicitSlot) was freed first
    uint32_t implicitSlot = 0;
  };

  struct Impl;
  explicit ProgramBuilder(std::string path);
  ProgramBuilder(std::string path, const Options& opts);
  ~ProgramBuilder();
  ProgramBuilder(ProgramBuilder&&) noexcept;

  // Adds the index-th event of the trace (index counts every event of the file, skipped ones included).
  Step add(const Event& e, uint64_t index);
  Step add(const Event& e) { return add(e, next_); }
  // Adds batch[i] (of n buffered events) as the index-th event. The way to feed a buffer: it also starts
  // loading the id map entry of an event kPrefetchAhead further on, whose cache miss otherwise dominates
  // add() on a trace with many live objects (twice as fast on a 200 000-live-object trace).
  Step add(const Event* batch, size_t n, size_t i, uint64_t index) {
    if (i + kPrefetchAhead < n) prefetch(batch[i + kPrefetchAhead]);
    if (i + kPrefetchSlotAhead < n) prefetchSlot(batch[i + kPrefetchSlotAhead]);
    return add(batch[i], index);
  }
  // (The slot record of a free's object is started kPrefetchSlotAhead events ahead, from its id map entry,
  // which the first prefetch has brought in by then.)
  static constexpr size_t kPrefetchAhead = 16, kPrefetchSlotAhead = 8;
  // Adds batch[0..n) as the events index, index + 1, ...: add(batch, n, i, index + i) for each i, without a
  // call and a Step per event (the loaders' way).
  void addBatch(const Event* batch, size_t n, uint64_t index);
  // Finishes the program (moves the streams out; the builder is empty afterwards).
  ReplayProgram finish();
  // Streaming: moves the ops added since the last call into w.threads and w.order (the ops finish() would give
  // for these events, gc copies included) and sets w's path, events, slots, gcBarriers, threadIds and
  // peakLiveBytes to their values so far. The first call fixes the thread set: an event of another thread
  // afterwards throws NewThreadError.
  void takeWindow(ReplayProgram& w);
  // Fixes the thread set before the first event, as Options::threadIds does.
  void setThreads(std::vector<uint16_t> ids);
  // The thread ids that have streams so far, ascending (a trace of gc events only: {0}).
  std::vector<uint16_t> threadIds() const;
  // The size of the last object allocated in slot so far (0 for a slot not made yet).
  uint64_t slotSize(uint32_t slot) const;

  uint64_t liveObjects() const;
  uint32_t slots() const;
  uint64_t events() const;

 private:
  void prefetch(const Event& e) const;
  void prefetchSlot(const Event& e) const;
  std::unique_ptr<Impl> impl_;
  uint64_t next_ = 0;
};

// Loads a trace in windows (see the top of this file). The first next() always gives a window (maybe empty);
// later ones return false at the end of the trace. Throws what loadProgram throws, from the window whose events
// have the problem, and NewThreadError for a thread that first appears after the first window.
class ProgramStream {
 public:
  static constexpr uint64_t kDefaultWindow = uint64_t{1} << 20;  // events
  struct Options {
    LoadOptions load;
    uint64_t window = kDefaultWindow;                 // the most events per window (at least 1; setWindow)
    std::optional<std::vector<uint16_t>> threadIds;   // the thread set, when known (traceThreadIds)
    // The first window's events (0: window). Each later window has twice the last one's, up to window.
    uint64_t firstWindow = 0;
    // Strict loading without threadIds: the thread set is that of the first threadHorizon events, read ahead
    // (decoded, not loaded) before the first window is built. Lenient loading: the first window has at least
    // threadHorizon events.
    uint64_t threadHorizon = 0;
    // A second reader of the same trace (a file): the read ahead scans it rather than keeping the events.
    std::function<std::unique_ptr<TraceReader>()> reopen;
  };
  ProgramStream(std::unique_ptr<TraceReader> reader, const Options& opts);
  ProgramStream(TraceReader& reader, const Options& opts);  // reader must outlive the stream
  ~ProgramStream();

  // Replaces w's ops with the next window's. Not thread-safe; one thread at a time may call it.
  bool next(ReplayProgram& w);
  // Sets the most events per window from the next window on (each still at most twice the last).
  void setWindow(uint64_t window) { opts_.window = std::max<uint64_t>(1, window); }
  // After next() returned false (or the single window of an unlimited one): the program's description,
  // everything but the ops, as loadProgram gives it (digest, counts, warnings).
  ReplayProgram summary();
  // The ops added since the last window (a window cut short by LoadCancelled), as a window; and, before
  // summary(), the size of the last object allocated in a slot in the windows so far. For a replay that stops
  // before the loader: with the ops loaded but not replayed, they give the sizes of the objects the replay left
  // live without a pass over every op.
  void takeRest(ReplayProgram& w) { builder_.takeWindow(w); }
  uint64_t slotSize(uint32_t slot) const { return builder_.slotSize(slot); }
  const std::string& path() const { return reader_->path(); }
  const TraceReader& reader() const { return *reader_; }

 private:
  std::unique_ptr<TraceReader> owned_;
  TraceReader* reader_;
  Options opts_;
  ProgramBuilder builder_;
  void readAhead();
  std::vector<Event> buf_;
  size_t pos_ = 0, n_ = 0;
  uint64_t index_ = 0, lastWindow_ = 0;
  bool started_ = false, ended_ = false;
  std::exception_ptr readError_;  // a read ahead that failed: thrown when the loading reaches it
};

// The thread ids a trace's program has streams for (ProgramBuilder::threadIds), by a pass that checks the events
// and stores nothing per op. Throws TraceError.
std::vector<uint16_t> traceThreadIds(const std::string& path, const LoadOptions& opts = {});

}  // namespace gomalloc::traces
