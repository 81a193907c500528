// The replay engine: feeds a ReplayProgram (traces/program.h) into a Backend and measures what happens.
//
// Concurrent mode (the default)
// -----------------------------
// N Ps (Options::procs; default: the program's thread count), one OS worker thread each. Trace thread t runs
// on P t mod N; a worker with several trace threads interleaves their streams in trace order (program.order
// filtered to its threads).
//
// Happens-before without a lock on the hot path: the object table holds, per slot, an atomic sequence number,
// the object's address and its size. Before an op runs, the slot's sequence must equal op.seq (an acquire
// load; ops flagged kCross usually find it not yet there and spin with backoff, then yield, then sleep);
// after it, the op stores seq+1 (release). So a free never runs before its alloc on another P, and a slot is
// never reused before the previous object in it was freed. Every op checks the sequence, flagged or not,
// so a program whose kCross flags are wrong is still replayed correctly.
//
// Stop-the-world barriers: a trace gc event, and a cycle the backend's pacer asks for (Backend::gcRequested,
// checked after every allocation). A worker parks at a barrier between two ops; the last worker to park runs
// the cycle and releases the others. A worker spinning on a cross-P dependency also parks when a stop is
// pending (it is between two ops), and a worker whose streams are done no longer counts, so there is no
// deadlock for any valid program, with any number of threads on any number of cores: the op that comes first
// in trace order among those not yet run can always run (its dependencies come earlier in trace order).
//
// Deterministic mode (Options::deterministic): one OS thread runs every P, in program.order, so every count,
// address and heap figure is the same from run to run (timings and kernel figures aside). Cross-P
// dependencies are satisfied by construction; a sequence mismatch means a corrupt program and is an error.
//
// Memory figures: RSS from /proc/self/statm, sampled every Options::rssIntervalMs by a sampler thread and at
// every GC barrier; heap figures (go) only where the world is stopped: at the start, at every GC barrier
// (after the cycle) and at the end. The kernel's peak (VmHWM) is reset when the replay starts if the kernel
// allows it (/proc/self/clear_refs), otherwise it covers the whole process.
#pragma once

#include <atomic>
#include <functional>

#include "replay/backend.h"
#include "replay/limits.h"
#include "replay/result.h"
#include "traces/loader.h"
#include "traces/program.h"

namespace gomalloc::replay {

struct Progress {
  uint64_t done = 0, total = 0;  // events
  double elapsedSeconds = 0;
};

// The most Ps a replay runs (trace threads beyond it share Ps: thread t runs on P t mod N).
inline constexpr int kMaxProcs = 1024;

struct Options {
  int procs = 0;  // Ps, 1..kMaxProcs; 0 = the program's thread count (at least 1, at most kMaxProcs)
  bool deterministic = false;
  TouchMode touch = TouchMode::Pages;
  unsigned rssIntervalMs = 10;  // 0 = no periodic RSS samples (GC barriers and start/end are still sampled)
  bool verify = false;          // run the backend's heap verifier after the last event (go)
  // Set (e.g. from a SIGINT handler) to stop at the next event; the result is then marked interrupted.
  const std::atomic<bool>* cancel = nullptr;
  // Called from the sampler thread about every progressIntervalMs while the replay runs.
  std::function<void(const Progress&)> onProgress;
  unsigned progressIntervalMs = 100;
  // The backend's memory limit (factory.h backendMemoryLimit; bytes 0: none). A program whose live objects
  // would pass it in trace order is refused before the replay starts (MemoryLimitError); during the replay
  // the backend guards it (replay/limits.h).
  MemoryLimit memoryLimit;
  // Per-op latency (Result::latency): each P times one op in this many on average (random gaps); 0: none.
  uint32_t latencySampleEvery = kLatencySampleEvery;
};

// Checks that a program is consistent (slot and thread indices in range, order matching the streams, every
// op's sequence number right in trace order, gc barriers complete and in order), which is what guarantees
// that a concurrent replay cannot deadlock. Throws std::invalid_argument saying what is wrong and where.
// Returns the most bytes the program's objects hold live at once, in trace order.
uint64_t validateProgram(const traces::ReplayProgram& program);

// The number of Ps a replay of program uses under opt: opt.procs, or the program's thread count up to
// kMaxProcs. Throws std::invalid_argument for an opt.procs out of range.
int effectiveProcs(const traces::ReplayProgram& program, const Options& opt);

// Streaming's default window sizes (docs/benchmarks.md, "Window size"): the first window is small, so the
// replay starts at once, and each later one twice the last up to defaultWindow(). One replay thread
// (--deterministic, or one P) takes small windows, whose ops the loader writes and the replay reads in cache;
// several Ps take large ones, as each window ends with every P joined. The thread set is read ahead from as
// many events as a large window holds.
inline constexpr uint64_t kOneThreadWindow = uint64_t{1} << 14;  // events, and the first window's
inline constexpr uint64_t kManyThreadsWindow = traces::ProgramStream::kDefaultWindow;
inline uint64_t defaultWindow(int procs, const Options& opt) {
  return opt.deterministic || procs == 1 ? kOneThreadWindow : kManyThreadsWindow;
}
// Sets so to the default windows: from kOneThreadWindow up to kManyThreadsWindow until the Ps are known
// (ProgramStream::setWindow(defaultWindow(...)) then), the thread set read ahead.
inline void useDefaultWindows(traces::ProgramStream::Options& so) {
  so.window = kManyThreadsWindow;
  so.firstWindow = kOneThreadWindow;
  so.threadHorizon = kManyThreadsWindow;
}

// Replays program through backend. The backend must have been built for effectiveProcs() Ps. Validates the
// program first (std::invalid_argument) and its live bytes against opt.memoryLimit (MemoryLimitError); a
// backend error stops the replay and is rethrown (std::runtime_error). Fills everything in Result except what
// reports/ adds.
Result run(const traces::ReplayProgram& program, Backend& backend, const Options& opt);

// Replays a streamed program (traces/loader.h ProgramStream): first, the stream's first window, already taken
// (it fixes the threads, and so the Ps), then each further window, loaded on a thread of its own while the one
// before it is replayed. Every P finishes a window before any starts the next (a cut the trace's order defines:
// the same ops in the same order as a replay of the whole program, so a deterministic replay gives the same
// result). Before each window its live bytes so far are checked against opt.memoryLimit (MemoryLimitError);
// the stream's errors (traces::TraceError) are rethrown when the replay reaches their window. totalEvents is for
// the progress callback (0: unknown). The trace's description comes from the stream at the end.
Result runStream(traces::ProgramStream& stream, const traces::ReplayProgram& first, Backend& backend,
                 const Options& opt, uint64_t totalEvents = 0);

// The report's description of a loaded trace (every backend's Result, in-process or in a child).
TraceInfo traceInfoOf(const traces::ReplayProgram& program);

}  // namespace gomalloc::replay
