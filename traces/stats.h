// Summary statistics of a trace (gomalloc info): computed in one streaming pass, memory bounded by the live
// set. Sizes are kept exact up to 32768 bytes so that callers can bucket them by any size-class table.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "traces/event.h"
#include "traces/loader.h"

namespace gomalloc::traces {

struct TraceStats {
  std::string path;
  Format format;
  TraceHeader header;
  std::string digest;
  uint64_t events = 0, allocs = 0, frees = 0, gcs = 0;
  uint32_t threads = 0;                 // distinct thread ids seen
  uint64_t bytesAllocated = 0, scanAllocs = 0;
  std::vector<uint64_t> smallSizes;     // [size] = allocs of that exact size, size 0..32768
  uint64_t largeAllocs = 0, largeBytes = 0;  // size > 32768
  uint64_t peakLiveBytes = 0, peakLiveObjects = 0;
  uint64_t liveAtEnd = 0, liveBytesAtEnd = 0;
  // Lifetimes in events (free index - alloc index): [k] counts lifetimes in [2^k, 2^(k+1)).
  std::array<uint64_t, 64> lifetimeLog2{};
  uint64_t crossThreadFrees = 0;        // freed on another thread than the one that allocated
  uint64_t skippedFrees = 0, implicitFrees = 0;  // lenient
  std::vector<std::string> warnings;
  UnknownKeys unknownKeys;              // keys that are not the format's (skipped), header and events
  uint64_t rawBytes = 0, bytes = 0;     // file bytes (compressed) and decompressed bytes read
  double seconds = 0;                   // wall time of the pass
  double readSeconds = 0;               // of which reading (decompressing, parsing, checking) events
};

TraceStats computeStats(const std::string& path, const LoadOptions& opts = {});
TraceStats computeStats(TraceReader& reader, const LoadOptions& opts = {});

// A pass that only reads (decompressing, parsing and checking every event, into a reused 1024-event buffer),
// timed: the reader's own throughput, without the work a consumer does between reads (which pushes the
// reader's input and output out of the caches).
struct ReadTiming {
  uint64_t events = 0, rawBytes = 0, bytes = 0;
  double seconds = 0;
};
ReadTiming timeRead(const std::string& path, const ReadOptions& opts = {});

// The bytes a mark scans in the trace's objects with pointers that are live after its first `events` events:
// each object's size rounded up to 8 (the go-runtime backend's objects with pointers are all pointers, and Go
// scans an object up to its last pointer).
uint64_t liveScanBytesAfter(const std::string& path, uint64_t events);

}  // namespace gomalloc::traces
