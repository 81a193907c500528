// The report of one replay: data first (Report, built from a replay::Result), then renderers (render.h).
// Every field is documented in docs/report.md; the JSON form is the contract CI scripts rely on.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "replay/result.h"

namespace gomalloc::reports {

inline constexpr const char* kSchema = "gomalloc-report";
inline constexpr int kVersion = 2;        // 2: config.settings hold typed values (numbers, booleans)
inline constexpr int kOldestVersion = 1;  // the oldest replay report this build reads (gate, compare --merge)

struct ToolInfo {
  std::string name = "gomalloc";
  std::string version;
  std::string goModel = "go1.19.8";
};

struct TraceSection {
  std::string path, digest;
  uint64_t events = 0, threads = 0, slots = 0, gcEvents = 0, liveAtEnd = 0, skippedFrees = 0, implicitFrees = 0;
  uint64_t tsBackwards = 0;           // lenient: ts that went backwards on their thread
  std::vector<std::string> warnings;  // what lenient loading skipped or repaired
};

struct ConfigSection {
  std::string backend;
  std::string library;  // preloaded backends: the shared library (empty for in-process backends)
  int procs = 0;
  bool deterministic = false;
  std::string touch;
  unsigned rssIntervalMs = 0;
  std::vector<std::pair<std::string, std::string>> settings;  // the backend's effective settings, in order
};

struct Summary {
  uint64_t events = 0, allocs = 0, frees = 0, gcEvents = 0;
  uint64_t gcCycles = 0, forcedGcCycles = 0, pacerStops = 0;
  uint64_t bytesRequested = 0, liveObjects = 0, liveBytesRequested = 0, zeroSizeAllocs = 0;
  double wallSeconds = 0, nsPerEvent = 0, eventsPerSecond = 0;
  double loadSeconds = 0;  // loading the trace before the replay (not in wallSeconds); 0 if not measured
  uint64_t peakRssBytes = 0, rssStartBytes = 0, rssEndBytes = 0;
  std::string peakRssScope;                  // "replay" or "process"
  std::optional<std::string> addressDigest;  // deterministic mode, 16 hex digits
};

struct ProcRow {
  int p = 0;
  std::vector<uint32_t> threads;
  uint64_t allocs = 0, frees = 0, dependencyWaits = 0;
  std::optional<double> busySeconds, barrierSeconds, dependencySeconds;  // concurrent mode only
};

// go and go-runtime reports. final, peak and the MemStats counts are the runtime's own figures (absolute: for
// go-runtime they include its baseline).
struct HeapSection {
  replay::HeapFigures final, peak;
  uint64_t totalAlloc = 0, mallocs = 0, frees = 0, nextGC = 0, numGC = 0, numForcedGC = 0;
  // The Go model only (absent for go-runtime: runtime.MemStats does not have them).
  std::optional<uint64_t> heapLive, heapMarked, arenaReserved, scavengedBytes;
  // go-runtime only: the runtime's heap before the first event (after a runtime.GC()), and the replay events
  // done when each collection the pacer started was noticed.
  std::optional<replay::HeapFigures> baseline;
  std::optional<uint64_t> baselineScanBytes;  // go-runtime: the baseline's scan work each cycle
  std::optional<std::vector<uint64_t>> pacerGcEvents;
  // go-runtime: the cons/mark estimate each paced cycle's trigger used (GODEBUG=gcpacertrace=1), in order.
  std::optional<std::vector<double>> pacerConsMarks;
  // go-runtime: the heap scan work of the first cycle the pacer started (gcpacertrace).
  std::optional<uint64_t> firstPacedScanWork;
  // go-runtime: the stacks' (median over its cycles) and the globals' scan work (gcpacertrace's S and G).
  std::optional<uint64_t> stackScanBytes, globalsScanBytes;
  // go (pacer=go1.19) and go-runtime: the events done when each concurrent mark the pacer started began.
  std::optional<std::vector<uint64_t>> pacerGcStarts;
};

inline constexpr std::array<const char*, 4> kRefillSourceKeys = {"partial_swept", "partial_unswept", "full_unswept",
                                                                  "grown"};

// What the go backend adds to a size-class row (summed over the class's scan and noscan span classes).
struct GoClassFields {
  uint64_t tinyHits = 0, fastHits = 0, slowHits = 0, refills = 0;
  std::array<uint64_t, 4> refillFrom{};  // by kRefillSourceKeys
  uint64_t sweptFrees = 0, bytesAllocated = 0, spansInUse = 0, spansInUsePeak = 0, tailWastePerSpan = 0;
  uint64_t largeSpans = 0;
  uint64_t mcacheHits() const { return tinyHits + fastHits; }
};

struct ClassRow {
  uint32_t cls = 0;   // size class; 0 = large objects (more than 32 KiB), one row
  uint64_t size = 0;  // object size of the class; 0 for the large row
  uint64_t allocs = 0, frees = 0, bytesRequested = 0;
  std::optional<GoClassFields> go;
  // go-runtime: runtime.MemStats.BySize's mallocs and frees of the class since the baseline (no large row; tiny
  // allocations are counted as the 16-byte blocks that hold them, in class 2).
  std::optional<uint64_t> runtimeMallocs, runtimeFrees;
  // Derived.
  double hitRate() const { return go && allocs ? double(go->mcacheHits()) / double(allocs) : 0; }
  double internalFragmentation() const {
    return go && go->bytesAllocated ? 1 - double(bytesRequested) / double(go->bytesAllocated) : 0;
  }
  uint64_t tailWastePeakBytes() const { return go ? go->tailWastePerSpan * go->spansInUsePeak : 0; }
};

struct LockRow {
  std::string name;
  uint64_t acquisitions = 0, contended = 0, waitNs = 0, maxWaitNs = 0, holdNs = 0;
  std::vector<LockRow> members;  // a lock family (e.g. one mcentral lock per span class), summed in this row
};

struct TimelineRow {
  double tMs = 0;
  uint64_t rssBytes = 0;
  std::optional<replay::HeapFigures> heap;
  std::string event;              // start, sample, before_gc, gc, end
  std::optional<uint64_t> events;  // trace events done at this point (absent in older reports)
};

// One GC cycle (gctrace's line with the pacer's goal and trigger); docs/report.md, gc_cycles.
using GcCycleRow = replay::GcCycleRecord;

struct VerifySection {
  bool passed = false;
  std::vector<std::string> errors;
};

struct Report {
  ToolInfo tool;
  bool interrupted = false;
  TraceSection trace;
  ConfigSection config;
  Summary summary;
  std::vector<ProcRow> procs;
  std::optional<HeapSection> heap;         // go and go-runtime backends
  std::vector<ClassRow> sizeClasses;       // classes used, by size; the large row (class 0) last
  std::optional<std::vector<LockRow>> locks;  // go backend only
  std::optional<std::vector<GcCycleRow>> gcCycles;  // go and go-runtime backends (absent in older reports)
  std::vector<TimelineRow> timeline;
  std::optional<VerifySection> verify;     // when the heap verifier ran
  std::optional<replay::AllocatorStats> allocatorStats;  // system, jemalloc, tcmalloc, mimalloc: the malloc's own
  std::optional<replay::LatencyStats> latency;           // sampled per-op latency (absent: --no-timings)
};

Report build(const replay::Result& r, const ToolInfo& tool);

// Preloaded backends: the report of a child replay with the system backend, relabelled as the backend whose
// library was preloaded. Throws std::runtime_error if the child's report shows the library was not in use.
Report relabel(Report r, const std::string& backend, const std::string& library);

}  // namespace gomalloc::reports
