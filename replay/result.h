// What one replay measured: the raw data reports/ turns into a report. See replay/replayer.h for how a
// replay runs and docs/report.md for what each figure means once rendered.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mstats.h"
#include "core/mutex.h"
#include "core/sizeclasses.h"
#include "replay/allocstats.h"
#include "replay/latency.h"

namespace gomalloc::replay {

// How the replayer writes into each object it gets, so that RSS reflects use.
enum class TouchMode : uint8_t {
  None,   // never
  First,  // the first word (min(size, 8) bytes)
  Pages,  // the first word and one byte in every further 4 KiB page the object covers (the default)
  Full,   // every byte (memset)
};
const char* touchModeName(TouchMode m);
std::optional<TouchMode> parseTouchMode(std::string_view s);

// Heap figures under runtime.MemStats names; only the go backend has them.
struct HeapFigures {
  uint64_t heapAlloc = 0, heapInuse = 0, heapIdle = 0, heapReleased = 0, heapSys = 0, heapObjects = 0;
  friend bool operator==(const HeapFigures&, const HeapFigures&) = default;
};

// The replayed trace, as the report names it.
struct TraceInfo {
  std::string path, digest;
  uint64_t events = 0, slots = 0, gcEvents = 0, liveAtEnd = 0, skippedFrees = 0, implicitFrees = 0;
  uint32_t threads = 0;
  uint64_t tsBackwards = 0;           // lenient: events whose ts went backwards on their thread (repaired)
  std::vector<std::string> warnings;  // what loading skipped or repaired, one line each
};

// One point of the RSS/heap timeline. Heap figures exist only where the world was stopped: the start, just
// before each GC cycle (PreGc, go backend) and just after it (Gc), the end.
struct TimelinePoint {
  enum class Kind : uint8_t { Start, Sample, PreGc, Gc, End };
  double tMs = 0;  // since the replay started
  // Trace events done at this point (a gc event counts once): exact in deterministic mode, the Ps' published
  // progress otherwise (up to 1024 ops behind per P); go-runtime: the child's count.
  uint64_t events = 0;
  uint64_t rssBytes = 0;
  std::optional<HeapFigures> heap;
  Kind kind = Kind::Sample;
};
const char* timelineKindName(TimelinePoint::Kind k);

// One P (one worker thread in concurrent mode).
struct ProcStats {
  std::vector<uint32_t> threads;  // trace threads that ran on this P (the trace's thread ids)
  uint64_t allocs = 0, frees = 0;
  uint64_t dependencyWaits = 0;   // ops that found their slot not yet ready and waited (concurrent mode)
  // Concurrent mode only (timed == false in deterministic mode, where one thread runs every P):
  bool timed = false;
  double busySeconds = 0;         // running ops: lifetime minus barrier and dependency waits
  double barrierSeconds = 0;      // parked at stop-the-world barriers
  double dependencySeconds = 0;   // waiting for another P's op on the same slot
};

// Harness-side counts per Go 1.19 size class (index 0 = large), for backends without their own statistics.
struct ClassCount {
  uint64_t allocs = 0, frees = 0, bytesRequested = 0;
};

// What only the go backend knows, read with the world stopped after the last event.
struct GoDetail {
  core::MemStats mem;
  std::vector<core::ClassStats> spanClasses;  // indexed by span class
  core::SpanCounts spans;                     // indexed by span class
  std::vector<core::LockStats> locks;
  std::vector<core::SizeClass> classes;       // the effective size-class table (index 0 = large)
};

// What only the go-runtime backend knows: the real runtime's MemStats (replay/goruntime_backend.h).
struct RuntimeDetail {
  std::string goVersion;  // runtime.Version() in the child, e.g. go1.19.8
  // The runtime's own heap after a runtime.GC() just before the first event: its own objects and the
  // replay program's (slot table, goroutines, buffers). Reported beside the figures, never subtracted.
  HeapFigures baseline;
  uint64_t baselineNumGC = 0, baselineNumForcedGC = 0;
  // The baseline's scan work each cycle, as far as the child knows it: its slot table and the objects with
  // pointers it made to fill partly used spans (the runtime's own objects are not in it).
  uint64_t baselineScanBytes = 0;
  // MemStats after the last event (absolute, as the runtime reports them).
  uint64_t totalAlloc = 0, mallocs = 0, frees = 0, nextGC = 0, numGC = 0, numForcedGC = 0;
  // Collections the runtime's pacer started and that ended during the replay, each with the number of events
  // done when the replay noticed it over (after an alloc, or at the runtime.GC() that finished it).
  std::vector<uint64_t> pacerGcEvents;
  // The cons/mark estimate the trigger of each cycle the pacer started used, in order (Go 1.19 prints it at the
  // cycle's end with GODEBUG=gcpacertrace=1); a cycle that printed none used the next one's.
  std::vector<double> consMarks;
  // The heap scan work (bytes) of the first cycle the pacer started, as it printed it: the baseline's objects
  // with pointers and the trace's live at the mark's start (fidelity takes the baseline's share from it).
  std::optional<uint64_t> firstPacedScanWork;
  // The stacks' scan work (the median of the cycles') and the globals' (gcpacertrace's S and G in "H+S+G B
  // work"): the non-heap terms of Go 1.19's goal and runway.
  std::optional<uint64_t> stackScanBytes, globalsScanBytes;
  // MemStats.BySize (Go 1.19 size classes 0..67, index 0 unused): mallocs and frees since the baseline.
  // Tiny allocations are not in it: the runtime counts the 16-byte blocks that hold them (class 2).
  std::vector<ClassCount> bySize;
};

// One GC cycle, as Go's gctrace line prints it, with the pacer's goal and trigger (docs/report.md, gc_cycles).
// go: every cycle of the model (core::GcCycle), exact; go-runtime: the runtime's cycles after the baseline, from
// its gctrace and gcpacertrace lines. What is not known is absent.
struct GcCycleRecord {
  uint64_t cycle = 0;        // NumGC after it
  bool forced = false;       // runtime.GC(): a trace gc event
  bool concurrent = false;   // its mark was started by the pacer at the trigger
  // Trace events done when its mark began (a mark at the stop: = endEvent) and when the cycle ended.
  std::optional<uint64_t> markStartEvent, endEvent;
  // Go's work.heap0 -> heap1 -> heap2 (heapLive at the mark's start, at its termination, the marked heap), the
  // goal it ran against, the trigger in effect when it began, what the pacer computed after it.
  std::optional<uint64_t> heapStart, heapEnd, heapMarked, goal, trigger, nextGoal, nextTrigger;
  std::optional<uint64_t> heapInuseBefore, heapInuseAfter;  // MemStats HeapInuse just before and after it
  friend bool operator==(const GcCycleRecord&, const GcCycleRecord&) = default;
};

struct Result {
  TraceInfo trace;
  std::string backend;
  std::vector<std::pair<std::string, std::string>> settings;  // backend's effective settings, in order
  int procs = 0;
  bool deterministic = false;
  TouchMode touch = TouchMode::Pages;
  unsigned rssIntervalMs = 0;
  bool interrupted = false;  // stopped early by the cancel flag (Ctrl-C)

  // Counts (identical in every mode for a completed run).
  uint64_t events = 0;          // allocs + frees + gcEvents executed
  uint64_t allocs = 0, frees = 0;
  uint64_t gcEvents = 0;        // trace gc events executed (stop-the-world barriers)
  uint64_t pacerStops = 0;      // stop-the-world barriers the backend's pacer asked for (go; concurrent or not)
  // Events done when each concurrent mark the pacer started began (go with pacer=go1.19: exact in deterministic
  // mode, the Ps' progress at 1024-op granularity otherwise; go-runtime: noticed after the alloc that began it,
  // one per pacer_gc_events entry, that entry's own when no alloc saw the mark).
  std::vector<uint64_t> pacerGcStarts;
  uint64_t bytesRequested = 0;  // sum of allocation sizes
  uint64_t liveObjects = 0;     // allocated and not freed at the end
  uint64_t liveBytesRequested = 0;
  uint64_t zeroSizeAllocs = 0;  // allocations of 0 bytes (no size class)

  // Timing.
  double wallSeconds = 0;
  double loadSeconds = 0;  // loading the trace, before the replay: set by whoever loaded it (0: not measured)
  std::vector<ProcStats> procStats;  // one per P

  // Memory from the kernel.
  uint64_t rssStartBytes = 0, rssEndBytes = 0, peakRssBytes = 0;
  bool peakRssSinceStart = false;  // true: the kernel's high-water mark was reset when the replay started
  std::vector<TimelinePoint> timeline;  // sorted by time
  std::vector<GcCycleRecord> gcCycles;  // go, go-runtime: every GC cycle, in order

  // Heap figures (go backend): after the last event, and the peak of each figure over the points sampled.
  std::optional<HeapFigures> heapFinal, heapPeak;

  // Harness counts per class (non-go backends); classSizes[c] is class c's object size (0 for large).
  std::vector<ClassCount> classCounts;
  std::vector<uint32_t> classSizes;

  std::optional<GoDetail> go;
  std::optional<RuntimeDetail> runtime;  // go-runtime backend

  // Deterministic mode: FNV-1a of every allocation's address relative to the first one, in replay order.
  std::optional<uint64_t> addressDigest;

  bool verified = false;  // the backend's heap verifier ran (Options::verify, go backend)
  std::vector<std::string> verifyErrors;

  // The allocator's own statistics (replay/allocstats.h): the system backend, and so the preloaded ones.
  std::optional<AllocatorStats> allocatorStats;
  // Sampled per-op latency (replay/latency.h), unless Options::latencySampleEvery is 0.
  std::optional<LatencyStats> latency;
};

}  // namespace gomalloc::replay
