// gomalloc's model of Go 1.19's memory allocator (src/runtime/malloc.go and friends, go1.19.8).
//
// Overview (read this first; every other core header points here)
// ================================================================
// The heap hands out objects of up to 32 KiB from per-size-class spans and larger objects from spans of
// their own. A span (mspan) is a run of 8 KiB pages. The allocator is a hierarchy of caches:
//
//   1. mcache (one per P, no locks): one cached span per span class (size class x {scan, noscan}) and, for
//      pointer-free requests under 16 bytes, a 16-byte tiny block that packs several of them.
//      Allocation from the cached span is nextFreeFast: count trailing zeros of a 64-bit window of the
//      span's inverted allocBits (allocCache). When the window is empty, nextFreeIndex reloads it; when
//      the span is full, mcache.refill asks mcentral for another.
//   2. mcentral (one per span class): spans with free slots. In Go 1.19 these are lock-free FIFO span sets,
//      partial/full x swept/unswept, whose roles flip every cycle; cacheSpan tries partial-swept, then
//      sweeps up to 100 unswept spans, then grows. In Go 1.13 they were two lists under a lock. Both exist
//      here (Config::mcentral).
//   3. mheap (one, under its lock): carves spans out of free pages found by the page allocator (pageAlloc:
//      a bitmap per 4 MiB chunk and a radix tree of summaries, address-ordered first fit), with a per-P
//      64-page cache in front for small spans. When no pages are free it grows in 4 MiB steps inside
//      64 MiB arenas; heapArena's page->span map finds the span of any interior pointer in O(1).
//   4. The OS: arenas are reserved with mmap(PROT_NONE), made read-write (sysMap) as the heap grows, and
//      free pages go back to the kernel with madvise(MADV_DONTNEED) (the scavenger).
//
// Death and reuse: an object dies when the trace frees it (in Go: when it became unreachable). As in Go, its
// slot is reclaimed only when its span is swept after the next GC cycle: a GC cycle flushes every mcache,
// advances sweepgen by 2, and every span is then swept lazily (by cacheSpan, by the page reclaimer) and
// completely before the next cycle; empty spans go back to the heap. Cycles come from the pacer (GOGC heap
// goal with its 4 MiB floor, trigger checked after a refill or a large allocation) or from an explicit
// request. FreeMode::Immediate makes a slot reusable at once instead, as a malloc/free allocator does.
//
// The pacer (Config::pacer). go1.19, the default: Go 1.19's gcControllerState.commit/trigger: goal =
// marked + (marked + stacks + globals) * GOGC/100, trigger = goal - runway within the 0.7..0.95 clamps, the
// runway from the cons/mark ratio and the last cycle's scan work. Reaching the trigger starts a concurrent
// mark (a flag; the world keeps running) that lasts while the mutator allocates the runway, cut at the goal
// (Go's assists finish the mark by then); it then asks for the stop-the-world mark termination (gcRequested).
// Objects allocated during the mark are black (marked), objects that die during it are floating garbage
// (marked; reclaimed one cycle later). runtime.GC() (gc(true)) first terminates a mark in progress. instant:
// the earlier model: runway 0, the mark instantaneous at the stop, goal without stacks and globals.
//
// What we model and what we leave out
// -----------------------------------
// Modelled faithfully: size classes and their lookups, span classes, the tiny allocator's packing and
// replacement rules, mspan's allocBits/allocCache/freeindex and slot order, mcache refill/releaseAll,
// mcentral in both designs (cacheSpan's order and 100-span budget; uncacheSpan), mheap allocSpan/freeSpan,
// the per-P page cache, the page allocator's search, heap growth in 4 MiB steps, arenas, the sweepgen
// protocol, GOGC pacing (goal, 4 MiB floor, trigger clamps), the scavenger's goal (retain ~10% over the
// heap goal) and its highest-address-first order, MemStats figures.
// Left out, and why: marking (the trace says which objects die, so "mark" is the set of objects not freed),
// pointer bitmaps (scan work is the marked bytes of pointerful objects), GC assists' and mark workers' CPU
// time (the mark lasts allocated bytes, not time; cons/mark is a setting, not measured by Go's PI controller,
// because a byte-measured mark would only measure back what it was given), finalizers and specials, stacks, the memory limit (GOMEMLIMIT),
// heap profiling samples, the background sweeper's and scavenger's timing (both are scheduler-dependent;
// here sweeping is driven by allocation plus a final sweep before each cycle, and the scavenger runs when
// sweeping completes and on heap growth), Go 1.13's treap page allocator (both presets use the 1.14+ bitmap
// allocator), and mspan/mcache metadata allocation (fixalloc; ours is plain C++ memory).
//
// Threads: core/ has none of its own. A Heap is used by one thread per P (malloc/free on distinct Ps may run
// concurrently); gc() and the statistics need the world stopped (no concurrent malloc/free). Several Heaps
// live side by side in one process: there are no globals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/mstats.h"
#include "core/mutex.h"
#include "core/sizeclasses.h"

namespace gomalloc::core {

class MHeap;

class Heap {
 public:
  explicit Heap(const Config& cfg);
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  const Config& config() const;
  const SizeClassTable& classes() const;
  int nprocs() const;

  // Go: runtime.mallocgc @ go1.19. Allocates size bytes on P p (0 <= p < nprocs); scan = the object holds
  // pointers. Size 0 returns the heap's zerobase. The memory is zeroed where Go would zero it.
  // Concurrent calls are allowed for distinct p.
  void* malloc(int p, size_t size, bool scan);
  // The object at ptr (as returned by malloc) dies, on P p. Deferred free mode: reclaimed by the sweep after
  // the next GC cycle. Immediate: reusable at once. Concurrent calls are allowed for distinct p.
  // size: the object's requested size, for the scan work of the marks that find it floating or dead (Go reads
  // the extent of an object's pointers from its heap bitmap); 0 when unknown: the whole slot.
  void free(int p, void* ptr, size_t size = 0);

  // True once the pacer wants a stop-the-world cycle (the trigger reached, or with pacer=go1.19 the
  // concurrent mark done); cleared by gc(). Any thread may read it.
  bool gcRequested() const;
  // True when gcRequested() is, or a concurrent mark has started since takeMarkStart() last returned true:
  // the one flag a replay loop polls after every op.
  bool attention() const;
  // True once per concurrent mark: the first call after the pacer started it (the replay records when).
  bool takeMarkStart();
  // The mark's work is done (Go: gcMarkDone): asks for the mark termination, as the goal would. For
  // gc_mark_events, whose count the replay keeps. No effect when no mark is in progress.
  void markDone();
  // Deterministic replays, after takeMarkStart(): the mark began after the trace's event at. It follows the given
  // mark there (Config::givenMark). Returns that mark's length in events (gc_mark_events), 0 when none is given.
  uint64_t markBegan(uint64_t at);
  // Runs one GC cycle (Go: gcStart .. gcMarkTermination .. gcSweep @ go1.19): terminates the mark in progress,
  // or runs a whole cycle when none is. forced (runtime.GC()): terminates a mark in progress, then runs a
  // whole cycle and sweeps everything. The world must be stopped.
  void gc(bool forced = false);

  // Statistics; the world must be stopped. None of them changes allocator state (unlike Go's ReadMemStats).
  MemStats memStats() const;
  std::vector<ClassStats> classStats() const;  // indexed by span class, summed over Ps
  SpanCounts spanCounts() const;               // indexed by span class
  std::vector<LockStats> lockStats() const;    // "mheap", "mcentral[<spc>]" (locked design), span-set spines
  // Every completed GC cycle, in order (one entry per cycle: NumGC entries). A forced gc() during a mark
  // completes two: the mark's own, then the forced one.
  const std::vector<GcCycle>& gcCycles() const;

  // Slot size of a heap object (its class size, or the span bytes for a large object); 0 if not in the heap.
  size_t usableSize(const void* ptr) const;

  // Heap verifier; the world must be stopped. Checks the allocator's invariants and, when live is given,
  // that each (pointer, size) is a distinct allocated object in an in-use span, no two overlap, and the
  // number of allocated slots equals live->size() plus dead objects not yet swept. Returns the violations.
  std::vector<std::string> verify(const std::vector<std::pair<const void*, size_t>>* live = nullptr) const;


 private:
  std::unique_ptr<MHeap> h_;
};

}  // namespace gomalloc::core
