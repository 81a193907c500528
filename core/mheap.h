// mheap: the page heap, and the hub that owns every other component of one Go-model heap.
// See malloc.h for the overview.
//
// Locks: `lock` (Go's mheap_.lock) guards the page allocator, arena growth, the free mspan structs and
// the page-cache refill. The per-P page cache and mspan cache are touched only by their P. Gauges that
// several Ps move (heapInUse, heapFree, heapReleased, heapLive, spans in use) are atomics, as Go's
// consistent stats are.
#pragma once

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/config.h"
#include "core/mcache.h"
#include "core/mcentral.h"
#include "core/mem.h"
#include "core/mspan.h"
#include "core/mstats.h"
#include "core/mutex.h"
#include "core/pagealloc.h"
#include "core/sizeclasses.h"

namespace gomalloc::core {

// The heap would map more arena memory than max_heap_bytes allows (Config::heapLimitBytes). Go has no such
// limit (GOMEMLIMIT only paces the GC); the model stops here rather than take the machine's memory.
struct HeapLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Per-arena metadata. Go: heapArena (mheap.go) @ go1.19
struct HeapArena {
  std::unique_ptr<MSpan*[]> spans;   // page -> span for every page of an in-use span (stale for free pages)
  std::atomic<uintptr_t> zeroedBase{0};  // bytes from the arena start that were ever handed out
};

// Per-P state outside the mcache. Go: p.pcache, p.mspancache @ go1.19
struct alignas(64) PState {
  MCache mcache;
  PageCache pcache;
  std::vector<MSpan*> mspancache;  // free mspan structs, at most 128
  // Deaths not yet in their spans' dead bitmaps, and frees of tiny sub-objects not yet counted down in their
  // blocks (deferred mode, several Ps; see MHeap::objectDied and Heap::free).
  struct Death {
    MSpan* span;
    uint32_t idx;
    uint32_t parity : 2;  // the dead bitmap (the cycle's parity), or kFloating: died during a mark
    uint32_t tiny : 1;    // a tiny sub-object's free: count its block down; the block dies at 0
  };
  static constexpr uint32_t kDeathLog = 256;
  uint32_t deaths = 0;
  Death deathLog[kDeathLog];
  // Objects that died during a concurrent mark (floating garbage): still marked, reclaimed a cycle later.
  std::vector<std::pair<MSpan*, uint32_t>> floating;
  uint64_t floatingPtrBytes = 0;  // their scan extents (ClassStats::ptrBytes)
};

// A death's parity while a mark is in progress: kept aside (PState::floating) until mark termination.
inline constexpr uint32_t kFloating = 2;

class MHeap {
 public:
  explicit MHeap(const Config& cfg);
  ~MHeap();

  const Config cfg;
  const SizeClassTable classes;
  const SpanClass tinySpanClass;

  // --- page heap (mheap.cpp) ---
  // Go: mheap.alloc / allocSpan @ go1.19. p < 0: no P (the world is stopped).
  MSpan* allocSpan(size_t npages, SpanClass spc, int p);
  // Go: mheap.freeSpan @ go1.19
  void freeSpan(MSpan* s, int p);
  // Go: spanOf @ go1.19: the in-use span holding p, or nullptr.
  MSpan* spanOf(uintptr_t p) const;

  // --- GC (mgc.cpp) ---
  // One cycle, world stopped. Go: gcStart .. gcMarkTermination .. gcSweep @ go1.19
  void gcCycle(bool forced);
  // Go: gcControllerState.commit + trigger @ go1.19 (or the instant pacer): heapGoal, runway, trigger.
  void commitPacer(bool sweepDone);
  void finishSweep();
  // Sweeps one span of a sweep class, placing it; returns its pages, 0 when none is left.
  // Go: sweepone (mgcsweep.go) @ go1.19
  size_t sweepone(int p);
  // Go: sweepLocked.sweep @ go1.19. The span's sweepgen must be h-1. Returns what to do with the span.
  SweepResult sweep(MSpan* s, bool preserve, int p);
  // Go: deductSweepCredit @ go1.19
  void deductSweepCredit(size_t spanBytes, int p);
  // Go: sweepLocker.tryAcquire @ go1.19
  bool tryAcquire(MSpan* s, uint32_t sg) {
    uint32_t want = sg - 2;
    return s->sweepgen.load(std::memory_order_acquire) == want &&
           s->sweepgen.compare_exchange_strong(want, sg - 1, std::memory_order_acq_rel);
  }
  // Heap trigger test after a refill or large allocation. Go: gcTrigger.test @ go1.19. `trigger` is the
  // pacer's trigger, or while a mark runs the heapLive at which it terminates (~0 once a stop is requested).
  void checkTrigger() {
    int64_t live = heapLive.load(std::memory_order_relaxed);
    if (live > 0 && uint64_t(live) >= trigger.load(std::memory_order_relaxed)) [[unlikely]] triggered(uint64_t(live));
  }
  // The trigger was reached: start the mark (Go: gcStart @ go1.19), or ask for mark termination.
  void triggered(uint64_t live);
  void markDone();  // gc_mark_events: the replay's count of the mark's events is spent
  uint64_t followGivenMark(uint64_t at);  // Heap::markBegan
  void requestTermination();
  uint64_t markGoal() const;  // Go: heapGoalInternal during a mark
  // Where a death goes: dead bitmap 0 or 1 (the cycle's parity), or kFloating while a mark runs.
  uint32_t deadParity() const { return deathTarget.load(std::memory_order_relaxed); }
  // Records a death that happened during the mark (p < 0: the world is stopped).
  void floatingDeath(MSpan* s, uint32_t idx, int p) { (p >= 0 ? allp[size_t(p)].floating : stwFloating).emplace_back(s, idx); }

  // An object (or a whole tiny block) died, observed on P p (-1: world stopped).
  void objectDied(MSpan* s, uint32_t idx, int p, uint64_t ptrBytes);  // ptrBytes: its scan extent (or 0)
  void countDeath(const MSpan* s, int p, uint64_t ptrBytes);           // objectDied's statistics
  // Deferred mode with several Ps: deaths (and tiny sub-objects' frees) are logged per P, and flushDeaths
  // applies a P's log when it is full and every P's with the world stopped (a GC cycle, the verifier).
  bool logsDeaths() const { return cfg.freeMode == FreeMode::Deferred && cfg.procs > 1; }
  void logDeath(int p, const PState::Death& d) {
    PState& pp = allp[size_t(p)];
    pp.deathLog[pp.deaths++] = d;
    if (pp.deaths == PState::kDeathLog) flushDeaths(p);
  }
  void flushDeaths(int p);
  void flushAllDeaths();

  // Statistics summed over the Ps (and the stop-the-world work), with the derived fields filled in.
  std::vector<ClassStats> classStats() const;
  // Slot bytes of every object that has not died (what a mark would find), from the counters.
  uint64_t liveSlotBytes(const std::vector<ClassStats>& all) const;
  static uint64_t totalAlloc(const std::vector<ClassStats>& all);
  // The scan extents (ClassStats::ptrBytes) of every object allocated in span classes with pointers.
  static uint64_t scanPtrBytes(const std::vector<ClassStats>& all);

  // --- scavenger (mgcscavenge.cpp) ---
  // Go: gcPaceScavenger @ go1.19
  void paceScavenger(uint64_t lastHeapGoal);
  // Releases free pages until heapRetained <= goal (or nbytes are released); heap lock held.
  size_t scavengeLocked(size_t nbytes);
  uint64_t heapRetained() const { return heapInUse.load() + heapFree.load(); }

  // --- state ---
  // What spanOf reads on every free, on a cache line of its own: the lock's counters and the page allocator
  // are written by whichever P holds the lock, and sharing a line with them made every free miss.
  alignas(64) AddressSpace mem;
  std::vector<std::unique_ptr<HeapArena>> arenas;  // index: (addr - mem.base()) / arenaBytes
  size_t arenaShift = 26;
  alignas(64) Mutex lock;
  PageAlloc pages;  // guarded by lock
  uintptr_t curArenaBase = 0, curArenaEnd = 0;  // guarded by lock. Go: mheap.curArena
  std::atomic<uint32_t> sweepgen{0};
  std::atomic<uint64_t> cycle{0};  // completed GC cycles
  std::vector<MCentral> central;   // indexed by span class
  std::vector<PState> allp;
  MSpan emptymspan;                // the sentinel cached span: nelems 0, allocCache 0
  std::vector<MSpan*> allspans;    // every mspan struct ever made (guarded by lock)
  std::vector<MSpan*> freeMSpans;  // guarded by lock
  alignas(16) unsigned char zerobase[16] = {};  // what malloc(0) returns
  MCache stwStats;                 // statistics of work done with the world stopped (no P)

  // Page and byte gauges (Go's consistent heap stats).
  alignas(64) std::atomic<uint64_t> heapInUse{0}, heapFree{0}, heapReleased{0}, pagesInUse{0};
  std::atomic<uint64_t> arenaReserved{0}, scavengedTotal{0};
  std::vector<std::atomic<int64_t>> spansInUse, spansPeak;  // per span class

  // Pacer (Go: gcControllerState @ go1.19).
  alignas(64) std::atomic<int64_t> heapLive{0};
  std::atomic<uint64_t> trigger{0};
  std::atomic<uint32_t> deathTarget{0};  // see deadParity
  std::atomic<bool> marking{false};      // Go: gcphase == _GCmark (go1.19 pacer)
  uint64_t heapMarked = 0, heapGoal = 0, paceTrigger = 0;  // paceTrigger: the trigger the pacer computed
  uint64_t runway = 0, lastHeapScan = 0;  // Go: gcControllerState.runway, lastHeapScan
  uint64_t pacedCycles = 0;  // cycles whose concurrent mark the pacer started (Go's cons/mark estimate needs one)
  uint64_t markRunway = 0;                // what the mutator allocates while a mark runs (gc_mark_utilization)
  uint64_t givenMark = 0;                 // the given mark the current or last one follows (Config::givenMark)
  uint64_t triggered_ = 0;                // heapLive when the mark started. Go: gcControllerState.triggered
  uint64_t scanAllocAtMark = ~uint64_t{0};  // scanPtrBytes when the mark started (one P only; ~0: unknown)
  uint64_t numGC = 0, numForcedGC = 0;
  std::vector<GcCycle> cycles;            // every completed cycle (Heap::gcCycles)
  Mutex pacerLock;                        // orders Ps reaching the trigger at once
  std::vector<std::pair<MSpan*, uint32_t>> stwFloating;
  uint64_t stwFloatingPtrBytes = 0;
  alignas(64) std::atomic<bool> gcRequested{false};  // read after every op: kept off heapLive's line
  std::atomic<bool> markBegan{false};  // a concurrent mark started and no one has taken note yet (same line)

  // Proportional sweep (Go: mheap.pagesSwept etc. @ go1.19).
  alignas(64) std::atomic<uint64_t> pagesSwept{0}, pagesSweptBasis{0};
  std::atomic<int64_t> sweepHeapLiveBasis{0};
  std::atomic<double> sweepPagesPerByte{0};
  std::atomic<uint32_t> sweepCentralIndex{0};

  // Scavenger (Go: scavenge.gcPercentGoal, lastHeapInUse @ go1.19). ~0 = disabled.
  uint64_t scavGoal = ~uint64_t{0};
  uint64_t lastHeapInUse = 0;
  uint64_t lastTotalAlloc = 0;  // TotalAlloc at the last cycle: what was allocated since paces the scavenger

 private:
  // Go: mheap.grow @ go1.19. Heap lock held. Returns bytes grown; throws HeapLimitError past max_heap_bytes.
  size_t grow(size_t npages);
  MSpan* allocMSpanLocked(int p);
  // Go: allocNeedsZero @ go1.19
  bool allocNeedsZero(uintptr_t base, size_t npages);
  void setSpans(uintptr_t base, size_t npages, MSpan* s);
};

inline void MCache::dropTiny(MHeap& h, int p) {
  if (tiny && tinySpan->tinyRefAdd(tinyIdx, tinyCount, h.cfg.procs > 1) == 0) {
    tinySpan->tinyRefs[tinyIdx] = 1;  // back to a free slot's count
    h.objectDied(tinySpan, tinyIdx, p, 0);
  }
  tiny = 0;
  tinyoffset = 0;
  tinySpan = nullptr;
  tinyCount = 0;
}

}  // namespace gomalloc::core
