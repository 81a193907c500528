// GC cycles, sweeping and pacing. See malloc.h for the overview.
//
// A cycle runs with the world stopped (the caller guarantees it): it finishes the previous cycle's sweep,
// "marks" (the live heap is every object not yet dead: the slot bytes the Ps count), advances sweepgen by 2
// so that every span needs sweeping again, flushes every mcache, and sets the next heap goal and trigger.
// Spans are then swept lazily: by mcentral.cacheSpan for its own class, by proportional sweeping before
// each span allocation (span-set design), and by the next cycle's finishsweep.
#include <algorithm>
#include <mutex>

#include "core/mheap.h"

namespace gomalloc::core {
namespace {
constexpr uint64_t kHeapMinimum = 4 << 20;          // Go: defaultHeapMinimum
constexpr uint64_t kSweepMinHeapDistance = 1 << 20; // Go: sweepMinHeapDistance
constexpr uint64_t kTriggerRatioDen = 64, kMinTriggerRatioNum = 45, kMaxTriggerRatioNum = 61;
}  // namespace

// Go: sweepLocked.sweep (mgcsweep.go) @ go1.19, without specials, tracing and the pointer bitmap.
SweepResult MHeap::sweep(MSpan* s, bool preserve, int p) {
  MCache& st = p >= 0 ? allp[size_t(p)].mcache : stwStats;
  pagesSwept.fetch_add(s->npages, std::memory_order_relaxed);
  // Frees of the previous cycle are reclaimed now (in immediate mode there is nothing left to apply).
  int parity = cfg.freeMode == FreeMode::Immediate ? 0 : int((cycle.load(std::memory_order_relaxed) + 1) & 1);
  uint32_t nfreed = s->collect(parity);
  s->sweepgen.store(sweepgen.load(std::memory_order_relaxed), std::memory_order_release);
  ClassStats& cs = st.stats[s->spanclass.v];
  if (!s->large()) {
    if (nfreed) {
      s->needzero = 1;
      cs.sweptFrees += nfreed;
      st.sweptBytes += uint64_t(nfreed) * s->elemsize;
    }
    if (preserve) return SweepResult::Kept;
    if (s->allocCount == 0) return SweepResult::Freed;
    return s->allocCount == s->nelems ? SweepResult::Full : SweepResult::Partial;
  }
  if (nfreed) {
    cs.sweptFrees++;
    st.sweptBytes += s->spanBytes();
  }
  if (preserve) return SweepResult::Kept;
  return nfreed ? SweepResult::Freed : SweepResult::Full;
}

size_t MHeap::sweepone(int p) {
  if (cfg.mcentral != McentralDesign::SpanSet) return 0;
  uint32_t sg = sweepgen.load(std::memory_order_acquire);
  const uint32_t n = uint32_t(central.size()) * 2;
  for (;;) {
    uint32_t i = sweepCentralIndex.load(std::memory_order_acquire);
    if (i >= n) return 0;
    // Sweep class order: for each span class, the full unswept set, then the partial unswept set.
    MCentral& mc = central[i / 2];
    MSpan* s = (i & 1) ? mc.partialUnswept(sg).pop() : mc.fullUnswept(sg).pop();
    if (!s) {
      sweepCentralIndex.compare_exchange_strong(i, i + 1, std::memory_order_acq_rel);
      continue;
    }
    if (!tryAcquire(s, sg)) continue;
    size_t npages = s->npages;
    mc.placeSwept(s, sweep(s, false, p), p);
    return npages;
  }
}

void MHeap::deductSweepCredit(size_t spanBytes, int p) {
  double ratio = sweepPagesPerByte.load(std::memory_order_relaxed);
  if (ratio == 0) return;
  uint64_t sweptBasis = pagesSweptBasis.load(std::memory_order_relaxed);
  int64_t live = heapLive.load(std::memory_order_relaxed), liveBasis = sweepHeapLiveBasis.load(std::memory_order_relaxed);
  uint64_t newHeapLive = spanBytes + uint64_t(live > liveBasis ? live - liveBasis : 0);
  int64_t pagesTarget = int64_t(ratio * double(newHeapLive));
  while (pagesTarget > int64_t(pagesSwept.load(std::memory_order_relaxed) - sweptBasis)) {
    if (sweepone(p) == 0) {
      sweepPagesPerByte.store(0, std::memory_order_relaxed);
      break;
    }
  }
}

// Go: finishsweep_m (mgcsweep.go) @ go1.19: sweeps every span still unswept; the world is stopped.
void MHeap::finishSweep() {
  uint32_t sg = sweepgen.load();
  if (cfg.mcentral == McentralDesign::SpanSet) {
    for (auto& mc : central) {
      while (MSpan* s = mc.popUnswept(sg))
        if (tryAcquire(s, sg)) mc.placeSwept(s, sweep(s, false, -1), -1);
      mc.partialUnswept(sg).reset();
      mc.fullUnswept(sg).reset();
    }
  } else {
    for (auto& mc : central) mc.sweepAllLocked(-1);
  }
  sweepPagesPerByte.store(0);
}

void MHeap::gcCycle(bool forced) {
  flushAllDeaths();  // this cycle's deaths, into its dead bitmaps before the sweeps that read them
  // finishsweep_m: sweep whatever the previous cycle left unswept.
  finishSweep();
  uint32_t sg = sweepgen.load();

  // Mark: the live heap is the slot bytes of every object that has not died (and the current tiny blocks).
  // (releaseAll below only records deaths of tiny blocks; the bytes allocated are final here.)
  const std::vector<ClassStats> stats = classStats();
  heapMarked = liveSlotBytes(stats);
  heapLive.store(int64_t(heapMarked));
  lastHeapInUse = heapInUse.load();
  uint64_t lastHeapGoal = heapGoal;

  // gcSweep: every span needs sweeping again; then every P's mcache is flushed (prepareForSweep).
  sweepgen.store(sg + 2);
  cycle.fetch_add(1);
  for (size_t p = 0; p < allp.size(); p++) allp[p].mcache.releaseAll(*this, -1);
  numGC++;
  if (forced) numForcedGC++;

  // gcControllerCommit: the GOGC heap goal with its floor, and the trigger (runway 0; see malloc.h).
  if (cfg.gogc < 0) {
    heapGoal = trigger = ~uint64_t{0};
  } else {
    uint64_t gogc = uint64_t(cfg.gogc);
    heapGoal = std::max(heapMarked + heapMarked * gogc / 100, kHeapMinimum * gogc / 100);
    heapGoal = std::max(heapGoal, heapMarked + kSweepMinHeapDistance);  // sweep distance while sweeping
    uint64_t minTrigger = heapMarked + (heapGoal - heapMarked) / kTriggerRatioDen * kMinTriggerRatioNum;
    minTrigger = std::max(minTrigger, heapMarked + kSweepMinHeapDistance);
    uint64_t maxTrigger = heapMarked + (heapGoal - heapMarked) / kTriggerRatioDen * kMaxTriggerRatioNum;
    if (heapGoal > kHeapMinimum && heapGoal - kHeapMinimum > maxTrigger) maxTrigger = heapGoal - kHeapMinimum;
    maxTrigger = std::max(maxTrigger, minTrigger);
    trigger = heapMarked >= heapGoal ? heapGoal : maxTrigger;
  }

  // gcPaceSweeper: sweep all in-use pages before the heap reaches the next trigger.
  pagesSwept.store(0);
  pagesSweptBasis.store(0);
  sweepHeapLiveBasis.store(int64_t(heapMarked));
  sweepCentralIndex.store(0);
  if (cfg.mcentral == McentralDesign::SpanSet && trigger != ~uint64_t{0}) {
    int64_t distance = int64_t(trigger) - int64_t(heapMarked) - int64_t(kSweepMinHeapDistance);
    if (distance < int64_t(kPageSize)) distance = int64_t(kPageSize);
    sweepPagesPerByte.store(double(pagesInUse.load()) / double(distance));
  } else {
    sweepPagesPerByte.store(0);
  }

  // runtime.GC() sweeps the whole heap before it returns (mgc.go @ go1.19); a triggered cycle sweeps lazily.
  if (forced) finishSweep();

  // The scavenger's goal, and its work for this cycle (Go runs it in the background at 1% CPU).
  // Go's background scavenger works at 1% of the CPU, so it releases memory gradually. We pace it by
  // allocation instead of time (replays must be deterministic): each cycle it may release 1/scavenger_pace
  // of the bytes allocated since the previous cycle, in 64 KiB units (Go: scavengeQuantum).
  paceScavenger(lastHeapGoal);
  uint64_t total = totalAlloc(stats);
  uint64_t allocated = total - lastTotalAlloc;
  lastTotalAlloc = total;
  if (cfg.scavenger && scavGoal != ~uint64_t{0}) {
    constexpr uint64_t kQuantum = 64 << 10;
    uint64_t budget = cfg.scavengerPace == 0 ? ~uint64_t{0}
                                             : std::max(kQuantum, allocated / uint64_t(cfg.scavengerPace) / kQuantum * kQuantum);
    std::lock_guard<Mutex> g(lock);
    scavengeLocked(budget);
  }
  gcRequested.store(false);
}

}  // namespace gomalloc::core
