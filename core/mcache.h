// mcache: a P's private cache of spans, one per span class, plus the tiny block. See malloc.h.
// Only its P touches it, so nothing here is locked or atomic; its counters are the P's statistics.
#pragma once

#include <cstdint>
#include <vector>

#include "core/mspan.h"
#include "core/mstats.h"

namespace gomalloc::core {

class MHeap;

struct MCache {
  uintptr_t tiny = 0;        // current 16-byte tiny block, 0 if none
  uintptr_t tinyoffset = 0;  // bytes of it used
  // The tiny block's span and slot, and how many sub-objects were placed in it. The count is published to
  // the block's reference count (MSpan::tinyRefs) when the block stops being current (replaced, or
  // dropped by releaseAll); frees subtract from it, and whoever brings it to zero declares the block dead.
  MSpan* tinySpan = nullptr;
  uint32_t tinyIdx = 0;
  int32_t tinyCount = 0;
  MSpan* alloc[256] = {};    // indexed by span class; the heap's emptymspan when none

  // Per-P statistics, summed by the heap at stop-the-world points.
  ClassStats stats[256];          // indexed by span class
  uint64_t sweptBytes = 0;        // slot bytes reclaimed by sweeps run on this P

  // Go: mcache.nextFree (malloc.go) @ go1.19. Slow path of a small allocation; sets *refilled if it
  // needed a new span (the caller then checks the GC trigger).
  uintptr_t nextFree(MHeap& h, int p, SpanClass spc, bool* refilled);
  // Go: mcache.refill @ go1.19
  void refill(MHeap& h, int p, SpanClass spc);
  // Go: mcache.allocLarge @ go1.19
  MSpan* allocLarge(MHeap& h, int p, size_t size, bool noscan);
  // Go: mcache.releaseAll @ go1.19 (called for every P when a GC cycle starts sweeping).
  void releaseAll(MHeap& h, int p);
  // Publishes the current tiny block's count and forgets the block (defined in mheap.h).
  inline void dropTiny(MHeap& h, int p);
};

}  // namespace gomalloc::core
