// Allocator statistics, kept exactly. See malloc.h for the overview.
//
// Counters are per P (in the P's mcache) without atomics; the heap sums them at Go's flush points (every GC
// cycle, which stops the world, and at the end of a run). Gauges that several Ps move (heapLive, the page
// figures) are updated where Go updates them, under the heap lock or with one atomic add per span.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/mutex.h"

namespace gomalloc::core {

// Where mcentral found the span for a refill. Go 1.19's cacheSpan order; the Go 1.13 design maps onto the
// same four places (nonempty swept / nonempty unswept / empty unswept / grow).
enum class RefillSource : uint8_t { PartialSwept = 0, PartialUnswept = 1, FullUnswept = 2, Grown = 3 };
inline constexpr int kRefillSources = 4;
const char* refillSourceName(RefillSource s);

// Per span class. On the allocation path each P counts only tinyHits/fastHits/slowHits/refills and the
// requested bytes (and the large-object fields); mallocs and bytesAllocated are derived when read.
// For the large class (size class 0) only mallocs, frees, sweptFrees and the byte counts move.
struct ClassStats {
  uint64_t mallocs = 0;        // allocation requests served by this span class (tiny requests: span class 5)
  uint64_t tinyHits = 0;       // ... of which placed in the current 16-byte tiny block
  uint64_t fastHits = 0;       // ... of which served by nextFreeFast on the cached span
  uint64_t slowHits = 0;       // ... of which served by nextFreeIndex on the cached span (allocCache reload)
  uint64_t refills = 0;        // ... of which needed mcache.refill (a new span from mcentral)
  std::array<uint64_t, kRefillSources> refillFrom{};  // refills by where mcentral found the span
  uint64_t frees = 0;          // free events (for a tiny block: each sub-object's free)
  uint64_t deaths = 0;         // slots whose object died (a tiny block dies with its last sub-object)
  uint64_t deadBytes = 0;      // large class only: span bytes of dead objects
  uint64_t sweptFrees = 0;     // object slots reclaimed by sweeping (Go's smallFreeCount / largeFreeCount)
  uint64_t bytesRequested = 0; // sum of requested sizes
  uint64_t bytesAllocated = 0; // sum of slot sizes handed out (tiny: 16 per block)
  // Span classes with pointers: the bytes a mark scans of each object (its requested size in words, as far as
  // its pointer bitmap goes: the replay's objects are all pointers), allocated and dead.
  uint64_t ptrBytes = 0, deadPtrBytes = 0;
  uint64_t largeSpansAllocated = 0;  // large class only: spans allocated
  ClassStats& operator+=(const ClassStats& o);
  uint64_t mcacheHits() const { return tinyHits + fastHits; }
};

// The bytes a mark scans of an object of this requested size with pointers: its words (Go reads the extent of its
// pointers from the heap bitmap; the replay's objects with pointers are pointers throughout).
inline uint64_t ptrExtent(uint64_t size) { return (size + 7) & ~uint64_t{7}; }

// Heap figures under runtime.MemStats names (Go 1.19 definitions; see docs/metrics.md).
struct MemStats {
  uint64_t HeapAlloc = 0;     // bytes in allocated slots, including dead objects not yet swept
  uint64_t HeapInuse = 0;     // bytes in in-use spans
  uint64_t HeapIdle = 0;      // HeapSys - HeapInuse
  uint64_t HeapReleased = 0;  // idle bytes returned to the OS (or never used)
  uint64_t HeapSys = 0;       // heap address space mapped (sysMap'd)
  uint64_t HeapObjects = 0;   // Mallocs - Frees
  uint64_t TotalAlloc = 0;    // cumulative slot bytes allocated
  uint64_t Mallocs = 0;       // cumulative objects allocated (tiny sub-objects counted, as Go does)
  uint64_t Frees = 0;         // cumulative objects reclaimed by sweeping (tiny sub-objects counted)
  uint64_t NextGC = 0;        // heap goal
  uint64_t NumGC = 0;
  uint64_t NumForcedGC = 0;
  uint64_t HeapLive = 0;      // the pacer's heapLive (span-granular, Go's gcController.heapLive)
  uint64_t HeapMarked = 0;    // live bytes found by the last cycle's mark
  uint64_t Trigger = 0;       // the pacer's trigger for the next cycle (Go: gcControllerState.trigger())
  bool MarkInProgress = false;  // a concurrent mark runs (pacer=go1.19): started at the trigger, not yet terminated
  uint64_t ArenaReserved = 0; // bytes of arena address space reserved (PROT_NONE)
  uint64_t ScavengedBytes = 0;  // cumulative bytes returned with madvise
};

// One completed GC cycle, as Go's gctrace line and its pacer see it (Go 1.19's work.heap0/heap1/heap2 and
// heapGoal). Recorded by the heap at each cycle's mark termination; read with Heap::gcCycles().
struct GcCycle {
  uint64_t cycle = 0;        // NumGC after it (Go's gctrace "gc N")
  bool forced = false;       // runtime.GC() (a trace gc event)
  bool concurrent = false;   // its mark was started by the pacer at the trigger (pacer=go1.19) and ran while
                             // the mutator allocated; false: the mark happened at the stop
  uint64_t heapStart = 0;    // heapLive when the mark began (Go: work.heap0); a mark at the stop: heapLive there
  uint64_t heapEnd = 0;      // heapLive at mark termination (Go: work.heap1)
  uint64_t heapMarked = 0;   // the live heap the mark found (Go: work.heap2, heapMarked)
  uint64_t goal = 0;         // the heap goal it ran against (Go: work.heapGoal); ~0 with GOGC=off
  uint64_t trigger = 0;      // the trigger in effect when it began; ~0 with GOGC=off
  uint64_t nextGoal = 0, nextTrigger = 0;  // what the pacer computed after it (~0 with GOGC=off)
  uint64_t heapInuseBefore = 0, heapInuseAfter = 0;  // MemStats HeapInuse just before and just after the cycle
  friend bool operator==(const GcCycle&, const GcCycle&) = default;
};

// Spans in use per span class (current and peak), maintained by the heap.
struct SpanCounts {
  std::vector<uint64_t> inUse;
  std::vector<uint64_t> peak;
};

}  // namespace gomalloc::core
