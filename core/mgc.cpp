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
// Go: heapGoalInternal's minRunway: during a mark the goal is at least this far past the trigger (c.triggered,
// the trigger computed, not the heap the mark began at): a trigger at the goal, as at the sweep distance's
// floor, still gives the assists room.
constexpr uint64_t kMinRunway = 64 << 10;
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

// Go: gcControllerState.commit and trigger (mgcpacer.go) @ go1.19, without the memory limit. The instant pacer
// keeps the model's earlier rule: a goal from the heap alone and the trigger at the clamps' top (runway 0).
void MHeap::commitPacer(bool sweepDone) {
  if (cfg.gogc < 0) {
    heapGoal = paceTrigger = ~uint64_t{0};
    trigger.store(paceTrigger);
    return;
  }
  const uint64_t gogc = uint64_t(cfg.gogc);
  const bool go119 = cfg.pacer == Pacer::Go119;
  const uint64_t nonHeap = go119 ? uint64_t(cfg.gcStacksBytes) + uint64_t(cfg.gcGlobalsBytes) : 0;
  heapGoal = std::max<uint64_t>(heapMarked + (heapMarked + nonHeap) * gogc / 100, std::max<uint64_t>(kHeapMinimum * gogc / 100, 1));
  // heapGoalInternal: while the sweep runs, the goal and the trigger leave it sweepMinHeapDistance.
  uint64_t minTrigger = heapMarked;
  if (!sweepDone) {
    heapGoal = std::max(heapGoal, heapMarked + kSweepMinHeapDistance);
    minTrigger = heapMarked + kSweepMinHeapDistance;
  }
  // runway = consMark * (1-u)/u * (last heap scan + stacks + globals), u = gcGoalUtilization = 0.25.
  const double scanWork = double(lastHeapScan + cfg.gcBaselineScanBytes + nonHeap);
  // Go's estimate is 0 until a cycle the pacer started has measured one (gcControllerState.init; forced
  // cycles during which nothing is allocated measure nothing), so the first such cycle has no runway.
  const double consMark = !pacedCycles ? (cfg.gcConsMarks.empty() ? 0 : cfg.gcConsMarks[0]) : cfg.consMarkAfter(givenMark);
  // A negative estimate: Go converts the negative runway to uint64, which on amd64 is past any goal.
  runway = !go119 ? 0 : consMark < 0 ? ~uint64_t{0} : uint64_t(consMark * (1 - 0.25) / 0.25 * scanWork);
  // The mark itself gets the CPU it gets: at gc_mark_utilization u' the mutator allocates
  // consMark * (1-u')/u' * scan work before it ends (Go's pacer plans for 25%; assists add to it).
  const double u = cfg.gcMarkUtilization;
  markRunway = go119 ? uint64_t(cfg.gcConsMark * (1 - u) / u * scanWork) : 0;
  if (heapMarked >= heapGoal) {
    paceTrigger = heapGoal;
  } else {
    const uint64_t dist = heapGoal - heapMarked;
    minTrigger = std::max(minTrigger, heapMarked + dist / kTriggerRatioDen * kMinTriggerRatioNum);
    uint64_t maxTrigger = heapMarked + dist / kTriggerRatioDen * kMaxTriggerRatioNum;
    if (heapGoal > kHeapMinimum && heapGoal - kHeapMinimum > maxTrigger) maxTrigger = heapGoal - kHeapMinimum;
    maxTrigger = std::max(maxTrigger, minTrigger);
    uint64_t t = runway > heapGoal ? minTrigger : heapGoal - runway;
    paceTrigger = std::min(std::max(t, minTrigger), std::min(maxTrigger, heapGoal));
  }
  trigger.store(paceTrigger);
}

// Go: heapGoalInternal (mgcpacer.go) @ go1.19, during a mark: the goal, at least minRunway past the trigger.
uint64_t MHeap::markGoal() const {
  return std::max(heapGoal, paceTrigger + kMinRunway);
}

// Go: gcStart (mgc.go) @ go1.19, its pacer part: the mark starts at heapLive = live; with the go1.19 pacer it
// runs while the mutator allocates the runway (its scan work taken as the last cycle's), cut at the heap goal
// (assists make the mark finish by then). Allocations meanwhile are black, deaths floating garbage.
void MHeap::triggered(uint64_t live) {
  std::lock_guard<Mutex> g(pacerLock);
  if (live < trigger.load(std::memory_order_relaxed)) return;  // another P moved it first
  if (cfg.pacer == Pacer::Go119 && !marking.load(std::memory_order_relaxed)) {
    triggered_ = live;
    // With gc_mark_events the mark lasts its count of events, past the goal if it takes that long: Go's assists aim
    // to finish by the goal but do not stop the mark there (gcpacertrace's ∆goal is often positive).
    givenMark = pacedCycles;  // (by position: markBegan)
    const uint64_t end = !cfg.gcMarkEvents.empty() ? ~uint64_t{0} : std::min(live + markRunway, std::max(markGoal(), live));
    if (end > live) {
      // The scan-class bytes allocated so far: what is allocated from here on is black, not scanned. Read only
      // where one thread runs every P (the other Ps' counters are their own while they run).
      scanAllocAtMark = cfg.procs == 1 ? scanPtrBytes(classStats()) : ~uint64_t{0};
      marking.store(true, std::memory_order_relaxed);
      markBegan.store(true, std::memory_order_relaxed);
      if (cfg.freeMode == FreeMode::Deferred) deathTarget.store(kFloating, std::memory_order_relaxed);
      trigger.store(end, std::memory_order_relaxed);
      return;
    }
  }
  requestTermination();
}

// Go: gcMarkDone (mgc.go) @ go1.19: the mark's work is done; the stop-the-world mark termination is up to
// whoever runs gc(). (The caller holds pacerLock.)
void MHeap::requestTermination() {
  trigger.store(~uint64_t{0}, std::memory_order_relaxed);
  gcRequested.store(true, std::memory_order_relaxed);
}

// Deterministic replays: the mark follows the given mark nearest its start (gc_mark_starts).
uint64_t MHeap::followGivenMark(uint64_t at) {
  std::lock_guard<Mutex> g(pacerLock);
  if (!marking.load(std::memory_order_relaxed)) return 0;
  givenMark = cfg.givenMark(pacedCycles, at);
  return cfg.markEventsOf(givenMark);
}

void MHeap::markDone() {
  std::lock_guard<Mutex> g(pacerLock);
  if (marking.load(std::memory_order_relaxed)) requestTermination();
}

// Go: gcMarkTermination + gcSweep (mgc.go) @ go1.19, and the whole cycle when no mark is in progress.
void MHeap::gcCycle(bool forced) {
  GcCycle rec;  // what gctrace would print for this cycle
  rec.forced = forced;
  rec.heapInuseBefore = heapInUse.load();
  rec.goal = marking.load() ? markGoal() : heapGoal;  // (gctrace's goal)
  rec.trigger = paceTrigger;
  flushAllDeaths();  // this cycle's deaths, into its dead bitmaps before the sweeps that read them
  // finishsweep_m: sweep whatever the previous cycle left unswept.
  finishSweep();
  uint32_t sg = sweepgen.load();

  // Mark: the live heap is the slot bytes of every object that has not died (and the current tiny blocks),
  // plus the floating garbage: objects that died during the mark were still reachable at its start.
  // (releaseAll below only records deaths of tiny blocks; the bytes allocated are final here.)
  const std::vector<ClassStats> stats = classStats();
  uint64_t floatingBytes = 0, floatingScan = 0;
  auto addFloating = [&](const std::vector<std::pair<MSpan*, uint32_t>>& v) {
    for (auto& [s, idx] : v) {
      const uint64_t b = s->large() ? s->spanBytes() : s->elemsize;
      floatingBytes += b;
    }
  };
  for (auto& pp : allp) addFloating(pp.floating), floatingScan += pp.floatingPtrBytes;
  addFloating(stwFloating);
  floatingScan += stwFloatingPtrBytes;
  // Scan work counts each object as far as its pointers go (its requested size in words), not its slot.
  uint64_t liveScan = 0;
  for (size_t i = 0; i < stats.size(); i += 2) liveScan += stats[i].ptrBytes - stats[i].deadPtrBytes;
  heapMarked = liveSlotBytes(stats) + floatingBytes + cfg.gcBaselineBytes;
  // Scan work (Go: heapScanWork): the marked objects with pointers, less those allocated black during the mark
  // (their share of the bytes allocated since it started), which Go marks without scanning.
  const uint64_t scanMarked = liveScan + floatingScan;
  const int64_t liveNow = heapLive.load();
  const bool wasMarking = marking.load();
  if (wasMarking) pacedCycles++;
  const uint64_t black = wasMarking && uint64_t(liveNow) > triggered_ ? uint64_t(liveNow) - triggered_ : 0;
  // With one P, exactly the scan-class bytes allocated since the mark began; otherwise their share of the bytes
  // allocated during it. (The share is the trace's own: the baseline is not allocated during a mark.)
  const uint64_t traceMarked = heapMarked - std::min<uint64_t>(heapMarked, cfg.gcBaselineBytes);
  const uint64_t blackScan = !wasMarking                        ? 0
                             : scanAllocAtMark != ~uint64_t{0} ? scanPtrBytes(stats) - scanAllocAtMark
                             : traceMarked ? uint64_t(double(black) * double(scanMarked) / double(traceMarked))
                                           : 0;
  lastHeapScan = scanMarked - std::min(blackScan, scanMarked);
  heapLive.store(int64_t(heapMarked));
  lastHeapInUse = heapInUse.load();
  uint64_t lastHeapGoal = heapGoal;
  rec.concurrent = wasMarking;
  rec.heapEnd = uint64_t(std::max<int64_t>(0, liveNow));
  rec.heapStart = wasMarking ? triggered_ : rec.heapEnd;
  rec.heapMarked = heapMarked;

  // gcSweep: every span needs sweeping again; then every P's mcache is flushed (prepareForSweep).
  sweepgen.store(sg + 2);
  cycle.fetch_add(1);
  marking.store(false);
  if (cfg.freeMode == FreeMode::Deferred) deathTarget.store(uint32_t(cycle.load() & 1));
  for (size_t p = 0; p < allp.size(); p++) allp[p].mcache.releaseAll(*this, -1);
  // The floating garbage dies in the new cycle: the sweep after the next one reclaims it.
  auto applyFloating = [&](std::vector<std::pair<MSpan*, uint32_t>>& v) {
    for (auto& [s, idx] : v) s->markDead(int(deadParity()), idx);
    v.clear();
  };
  for (auto& pp : allp) applyFloating(pp.floating), pp.floatingPtrBytes = 0;
  applyFloating(stwFloating);
  stwFloatingPtrBytes = 0;
  numGC++;
  if (forced) numForcedGC++;

  // gcControllerCommit: the heap goal with its floor, the runway and the trigger.
  commitPacer(false);

  // gcPaceSweeper: sweep all in-use pages before the heap reaches the next trigger.
  pagesSwept.store(0);
  pagesSweptBasis.store(0);
  sweepHeapLiveBasis.store(int64_t(heapMarked));
  sweepCentralIndex.store(0);
  if (cfg.mcentral == McentralDesign::SpanSet && paceTrigger != ~uint64_t{0}) {
    int64_t distance = int64_t(paceTrigger) - int64_t(heapMarked) - int64_t(kSweepMinHeapDistance);
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
  rec.cycle = numGC;
  rec.nextGoal = heapGoal;
  rec.nextTrigger = paceTrigger;
  rec.heapInuseAfter = heapInUse.load();
  cycles.push_back(rec);
}

}  // namespace gomalloc::core
