// The GC pacer (core/mgc.cpp): Go 1.19's trigger from the runway, the concurrent mark in allocated bytes,
// black allocation, floating garbage, forced cycles during a mark, and the instant pacer for comparison.
#include <gtest/gtest.h>

#include <deque>

#include "core/malloc.h"
#include "tests/core/test_config.h"

using namespace gomalloc::core;

namespace {

// Allocates 64-byte scan objects until the pacer starts a mark; returns them.
std::vector<void*> allocUntilMark(Heap& h) {
  std::vector<void*> v;
  while (!h.memStats().MarkInProgress) {
    for (int i = 0; i < 128; i++) v.push_back(h.malloc(0, 64, true));
    if (v.size() > (size_t{64} << 20) / 64) {
      ADD_FAILURE() << "no mark started";
      break;
    }
  }
  return v;
}

// A steady workload: a ring of `live` objects of mixed sizes, each allocation replacing the oldest.
MemStats steady(const Config& cfg, size_t live, size_t allocs) {
  Heap h(cfg);
  std::deque<void*> ring;
  const size_t sizes[] = {24, 48, 96, 200, 640, 4000};
  for (size_t i = 0; i < allocs; i++) {
    ring.push_back(h.malloc(0, sizes[i % 6], i % 3 != 0));
    if (ring.size() > live) {
      h.free(0, ring.front());
      ring.pop_front();
    }
    if (h.gcRequested()) h.gc();
  }
  for (auto& b : h.verify()) ADD_FAILURE() << b;
  return h.memStats();
}

}  // namespace

TEST(Pacer, TriggerWithinTheClampsAndTheGoalCountsStacksAndGlobals) {
  for (const char* cm : {"0", "0.05", "0.5", "100"}) {
    Heap h(cfgWith({{"gc_cons_mark", cm}, {"gc_stacks_bytes", "64K"}, {"gc_globals_bytes", "256K"}}));
    std::vector<void*> keep;
    for (int i = 0; i < 300000; i++) keep.push_back(h.malloc(0, 64, i % 2));
    h.gc(true);
    const MemStats m = h.memStats();
    const uint64_t marked = m.HeapMarked;
    ASSERT_GE(marked, 300000u * 64);
    EXPECT_EQ(m.NextGC, marked + (marked + (64 << 10) + (256 << 10)));  // GOGC=100
    const uint64_t dist = m.NextGC - marked;
    const uint64_t lo = std::max(marked + dist / 64 * 45, marked + (1 << 20));
    const uint64_t hi = std::max(marked + dist / 64 * 61, m.NextGC - (4 << 20));
    EXPECT_GE(m.Trigger, lo) << cm;
    EXPECT_LE(m.Trigger, hi) << cm;
    const std::string c = cm;
    if (c == "0") {
      EXPECT_EQ(m.Trigger, hi);  // no runway: the top clamp
    } else if (c == "100") {
      EXPECT_EQ(m.Trigger, lo);  // a runway past the distance: the bottom clamp
    } else if (c == "0.05") {
      EXPECT_LT(m.Trigger, hi);  // goal - runway, inside the clamps
      EXPECT_GT(m.Trigger, lo);
    }
  }
}

// Go's cons/mark estimate is 0 until a paced cycle measured one: the first trigger is at the top clamp, whatever
// gc_cons_mark says; a forced cycle (nothing allocated during it) measures nothing.
TEST(Pacer, TheFirstPacedCycleHasNoRunway) {
  Heap h(cfgWith({{"gc_cons_mark", "100"}}));
  const uint64_t goal = h.memStats().NextGC;
  EXPECT_EQ(h.memStats().Trigger, goal / 64 * 61);
  h.gc(true);
  EXPECT_EQ(h.memStats().Trigger, h.memStats().NextGC / 64 * 61);
  auto objs = allocUntilMark(h);
  while (!h.gcRequested()) objs.push_back(h.malloc(0, 64, true));
  h.gc();
  const MemStats m = h.memStats();
  EXPECT_EQ(m.Trigger, m.HeapMarked + (m.NextGC - m.HeapMarked) / 64 * 45);  // the estimate now: the bottom clamp
}

// gc_mark_events: the heap does not end the mark, not even at the goal (Go's marks overshoot it when they take
// long); the replay counts the events and calls markDone.
TEST(Pacer, MarkDoneEndsTheMark) {
  Heap h(cfgWith({{"gc_mark_events", "1000"}}));
  h.markDone();  // no mark: nothing to end
  EXPECT_FALSE(h.gcRequested());
  auto objs = allocUntilMark(h);
  EXPECT_FALSE(h.gcRequested());
  const uint64_t goal = h.memStats().NextGC;
  while (h.memStats().HeapLive < goal + (1 << 20)) objs.push_back(h.malloc(0, 64, true));
  EXPECT_FALSE(h.gcRequested());
  EXPECT_TRUE(h.memStats().MarkInProgress);
  h.markDone();
  EXPECT_TRUE(h.gcRequested());
  h.gc();
  EXPECT_EQ(h.memStats().NumGC, 1u);
  EXPECT_FALSE(h.memStats().MarkInProgress);
}

// gc_cons_marks: the trigger after the k-th paced cycle uses the k-th estimate (the list repeats); a negative one
// is Go's negative runway converted to uint64, past the goal: the bottom clamp. Forced cycles do not count.
TEST(Pacer, ConsMarksSetEachPacedCyclesTrigger) {
  Heap h(cfgWith({{"gc_cons_marks", "0,-0.5,+0.05,100"}, {"gc_cons_mark", "0.05"}}));
  std::vector<void*> keep;
  for (int i = 0; i < 200000; i++) keep.push_back(h.malloc(0, 64, true));
  auto where = [&] {
    const MemStats m = h.memStats();
    const uint64_t dist = m.NextGC - m.HeapMarked;
    if (m.Trigger == m.HeapMarked + dist / 64 * 45) return std::string("bottom");
    if (m.Trigger == std::max(m.HeapMarked + dist / 64 * 61, m.NextGC - (4 << 20))) return std::string("top");
    return std::string("inside");
  };
  h.gc(true);  // ends the mark the allocations started: a paced cycle, so the next trigger uses the second
  EXPECT_EQ(where(), "bottom");
  std::vector<std::string> seen;
  for (int k = 0; k < 5; k++) {
    auto objs = allocUntilMark(h);
    while (!h.gcRequested()) objs.push_back(h.malloc(0, 64, true));
    h.gc();
    seen.push_back(where());
    for (void* o : objs) h.free(0, o);
    if (k == 1) {
      h.gc(true);  // forced, no mark running: the estimate stays the fourth
      EXPECT_EQ(where(), "bottom");
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"inside", "bottom", "top", "bottom", "inside"}));
  EXPECT_THROW(cfgWith({{"gc_cons_marks", "0.5,x"}}), std::invalid_argument);
  EXPECT_THROW(cfgWith({{"gc_cons_marks", "1e9"}}), std::invalid_argument);
  EXPECT_TRUE(cfgWith({{"gc_cons_marks", "0"}}).gcConsMarks.empty());  // 0 alone: off
}

TEST(Pacer, InstantPacerKeepsTheHeapOnlyGoalAndTheTopClamp) {
  Heap h(cfgWith({{"pacer", "instant"}}));
  std::vector<void*> keep;
  for (int i = 0; i < 300000; i++) keep.push_back(h.malloc(0, 64, true));
  h.gc(true);
  const MemStats m = h.memStats();
  EXPECT_EQ(m.NextGC, 2 * m.HeapMarked);
  EXPECT_EQ(m.Trigger, m.HeapMarked + m.HeapMarked / 64 * 61);
  EXPECT_EQ(Config::preset_("go1.13").pacer, Pacer::Instant);
}

TEST(Pacer, MarkStartsAtTheTriggerAndEndsAfterTheRunway) {
  Heap h(cfgWith({{"gc_cons_mark", "10"}}));
  auto objs = allocUntilMark(h);
  MemStats m = h.memStats();
  EXPECT_GE(m.HeapLive, m.Trigger);
  EXPECT_FALSE(h.gcRequested());
  EXPECT_EQ(m.NumGC, 0u);
  // The mark lasts until the goal (the runway is past it; assists finish the mark by the goal).
  while (!h.gcRequested()) objs.push_back(h.malloc(0, 64, true));
  EXPECT_GE(h.memStats().HeapLive, m.NextGC);
  EXPECT_LT(h.memStats().HeapLive, m.NextGC + (64 << 10));
  h.gc();
  EXPECT_EQ(h.memStats().NumGC, 1u);
  EXPECT_FALSE(h.memStats().MarkInProgress);
}

TEST(Pacer, BlackAllocationAndFloatingGarbageAreMarked) {
  Heap h(cfgWith({{"gc_cons_mark", "10"}}));
  auto before = allocUntilMark(h);
  std::vector<void*> during;
  for (int i = 0; i < 1024; i++) during.push_back(h.malloc(0, 64, true));  // 64 KiB, black (the first mark
  for (size_t i = 0; i < 512; i++) h.free(0, during[i]);                   // starts at 61/64 of the goal)
  for (size_t i = 0; i < before.size(); i += 2) h.free(0, before[i]);      // floating garbage; the freed
                                                                           // `during` ones died in the mark
  ASSERT_TRUE(h.memStats().MarkInProgress);
  ASSERT_FALSE(h.gcRequested());
  h.gc();
  // Everything allocated before the termination is marked: nothing died before the mark started.
  EXPECT_EQ(h.memStats().HeapMarked, uint64_t(before.size() + during.size()) * 64);
  for (auto& b : h.verify()) ADD_FAILURE() << b;
}

TEST(Pacer, FloatingGarbageIsReclaimedOneCycleLater) {
  for (const char* pacer : {"go1.19", "instant"}) {
    Heap h(cfgWith({{"gc_cons_mark", "10"}, {"pacer", pacer}}));
    std::vector<void*> objs;
    if (std::string(pacer) == "go1.19") objs = allocUntilMark(h);
    else
      while (!h.gcRequested()) objs.push_back(h.malloc(0, 64, true));
    const uint64_t frees0 = h.memStats().Frees;
    for (size_t i = 0; i < objs.size(); i += 2) h.free(0, objs[i]);  // during the mark (go1.19), or before the cycle
    const uint64_t died = (objs.size() + 1) / 2;
    h.gc();  // mark termination (go1.19), or the whole cycle (instant)
    h.gc();  // the next cycle sweeps what the first one left
    const uint64_t afterTwo = h.memStats().Frees - frees0;
    h.gc();
    const uint64_t afterThree = h.memStats().Frees - frees0;
    if (std::string(pacer) == "go1.19") {
      EXPECT_EQ(afterTwo, 0u) << "floating garbage survives the cycle whose mark it died in";
      EXPECT_EQ(afterThree, died);
    } else {
      EXPECT_EQ(afterTwo, died);
    }
    for (auto& b : h.verify()) ADD_FAILURE() << b;
  }
}

TEST(Pacer, ForcedGcDuringMarkFinishesItThenRunsAFullCycle) {
  Heap h(cfgWith({{"gc_cons_mark", "10"}}));
  auto objs = allocUntilMark(h);
  for (size_t i = 0; i < objs.size(); i += 2) h.free(0, objs[i]);
  const uint64_t frees0 = h.memStats().Frees;
  h.gc(true);
  MemStats m = h.memStats();
  EXPECT_EQ(m.NumGC, 2u);
  EXPECT_EQ(m.NumForcedGC, 1u);
  EXPECT_FALSE(m.MarkInProgress);
  EXPECT_FALSE(h.gcRequested());
  // The floating garbage of the finished mark is reclaimed by the full cycle's sweep.
  EXPECT_EQ(m.Frees - frees0, (objs.size() + 1) / 2);
  EXPECT_EQ(m.HeapMarked, objs.size() / 2 * 64);
  for (auto& b : h.verify()) ADD_FAILURE() << b;
}

TEST(Pacer, FewerCyclesThanInstantOnASteadyWorkload) {
  const MemStats go = steady(cfgWith({}), 60000, 2'000'000);
  const MemStats instant = steady(cfgWith({{"pacer", "instant"}}), 60000, 2'000'000);
  EXPECT_GT(instant.NumGC, 0u);
  EXPECT_LT(go.NumGC, instant.NumGC);
  EXPECT_GT(go.HeapMarked, 0u);
}

TEST(Pacer, Deterministic) {
  const Config cfg = cfgWith({{"gogc", "50"}});
  const MemStats a = steady(cfg, 40000, 1'000'000), b = steady(cfg, 40000, 1'000'000);
  EXPECT_EQ(a.NumGC, b.NumGC);
  EXPECT_EQ(a.HeapMarked, b.HeapMarked);
  EXPECT_EQ(a.NextGC, b.NextGC);
  EXPECT_EQ(a.Trigger, b.Trigger);
  EXPECT_EQ(a.HeapInuse, b.HeapInuse);
  EXPECT_EQ(a.Frees, b.Frees);
}

TEST(Pacer, Settings) {
  Config c;
  EXPECT_EQ(c.pacer, Pacer::Go119);
  c.set("pacer", "instant");
  c.set("gc_cons_mark", "1.5");
  c.set("gc_stacks_bytes", "0");
  c.set("gc_globals_bytes", "1MiB");
  bool seen = false;
  for (auto& [k, v] : c.entries()) {
    if (k == "pacer") {
      EXPECT_EQ(v, "instant");
    } else if (k == "gc_cons_mark") {
      EXPECT_EQ(v, "1.5");
    } else if (k == "gc_stacks_bytes") {
      EXPECT_EQ(v, "0");
    } else if (k == "gc_globals_bytes") {
      EXPECT_EQ(v, "1MiB");
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_THROW(c.set("pacer", "go1.5"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_cons_mark", "-1"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_mark_utilization", "0"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_mark_utilization", "1.5"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_baseline_bytes", "lots"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_baseline_scan_bytes", "-1"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_mark_events", "-5"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_mark_events", "many"), std::invalid_argument);
  EXPECT_THROW(c.set("gc_mark_events", "5,0"), std::invalid_argument);
  c.set("gc_mark_events", "800");
  EXPECT_EQ(c.gcMarkEvents, std::vector<uint64_t>{800});
  c.set("gc_mark_events", "800,20,3");
  EXPECT_EQ(c.gcMarkEvents, (std::vector<uint64_t>{800, 20, 3}));
  c.set("gc_mark_events", "0");
  EXPECT_TRUE(c.gcMarkEvents.empty());
  EXPECT_THROW(c.set("gc_mark_starts", "50,10"), std::invalid_argument);  // ascending
  c.set("gc_mark_starts", "0,10,10,50");
  EXPECT_EQ(c.gcMarkStarts, (std::vector<uint64_t>{0, 10, 10, 50}));
  c.set("gc_mark_starts", "0");
  EXPECT_TRUE(c.gcMarkStarts.empty());
}

// gc_mark_starts: the given marks are read by position, so that a mark begun early or late, or one cycle more or
// less, does not shift every later cycle's inputs. A mark follows the given one that began nearest it (the
// earlier of two as near); without the starts, the k-th mark follows the k-th.
TEST(Pacer, GivenMarksAreReadByPosition) {
  Config c;
  c.set("gc_mark_events", "5,6,7,8");
  c.set("gc_cons_marks", "0,1,2,3,4");
  EXPECT_EQ(c.givenMark(2, 1000), 2u);
  EXPECT_EQ(c.markEventsOf(c.givenMark(5, 0)), 6u);  // the list repeats
  c.set("gc_mark_starts", "100,200,300,400");
  EXPECT_EQ(c.givenMark(0, 0), 0u);
  EXPECT_EQ(c.givenMark(0, 149), 0u);
  EXPECT_EQ(c.givenMark(0, 150), 0u);  // as near to 100 as to 200
  EXPECT_EQ(c.givenMark(7, 151), 1u);
  EXPECT_EQ(c.givenMark(1, 390), 3u);
  EXPECT_EQ(c.givenMark(1, 5000), 3u);
  EXPECT_EQ(c.markEventsOf(c.givenMark(0, 290)), 7u);
  // The trigger after given mark j uses the estimate the run set at that mark's end, its (j+1)-th.
  EXPECT_EQ(c.consMarkAfter(c.givenMark(0, 290)), 3.0);
  // In a heap: the first mark, begun after event 290, follows the third given mark.
  Heap h(cfgWith({{"gc_mark_events", "5,6,7,8"}, {"gc_mark_starts", "100,200,300,400"}}));
  auto objs = allocUntilMark(h);
  ASSERT_TRUE(h.takeMarkStart());
  EXPECT_EQ(h.markBegan(290), 7u);
}

// The baseline is live heap the pacer counts before any object is allocated (the goal above the 4 MiB floor
// for a large one), but no MemStats figure shows it.
TEST(Pacer, BaselineCountsInTheGoalNotInTheFigures) {
  Heap h(cfgWith({{"gc_baseline_bytes", "8MiB"}}));
  const MemStats m = h.memStats();
  EXPECT_EQ(m.HeapMarked, uint64_t{8} << 20);
  EXPECT_GT(m.NextGC, uint64_t{16} << 20);
  EXPECT_EQ(m.HeapAlloc, 0u);
  EXPECT_EQ(m.HeapObjects, 0u);
}

// Each cycle's record (Heap::gcCycles, gctrace's line): HeapInuse and the pacer's figures as MemStats showed them
// just before and just after it; heap0 -> heap1 -> heap2 of a mark at the stop and of a concurrent mark.
TEST(Pacer, EachCycleIsRecordedAsGctracePrintsIt) {
  Heap h(cfgWith({{"gc_cons_mark", "10"}}));
  std::vector<void*> keep;
  for (int i = 0; i < 40000; i++) keep.push_back(h.malloc(0, 64, i % 2));  // below the first trigger
  for (size_t i = 0; i < keep.size(); i += 4) h.free(0, keep[i]);
  EXPECT_TRUE(h.gcCycles().empty());
  ASSERT_FALSE(h.memStats().MarkInProgress);
  const MemStats before = h.memStats();
  h.gc(true);
  const MemStats after = h.memStats();
  ASSERT_EQ(h.gcCycles().size(), 1u);
  const GcCycle c = h.gcCycles()[0];
  EXPECT_EQ(c.cycle, 1u);
  EXPECT_TRUE(c.forced);
  EXPECT_FALSE(c.concurrent);
  EXPECT_EQ(c.heapInuseBefore, before.HeapInuse);
  EXPECT_EQ(c.heapInuseAfter, after.HeapInuse);
  EXPECT_EQ(c.heapStart, before.HeapLive);  // a mark at the stop: heap0 = heap1
  EXPECT_EQ(c.heapEnd, before.HeapLive);
  EXPECT_EQ(c.heapMarked, after.HeapMarked);
  EXPECT_EQ(c.heapMarked, uint64_t(keep.size() - (keep.size() + 3) / 4) * 64);
  EXPECT_EQ(c.goal, before.NextGC);
  EXPECT_EQ(c.trigger, before.Trigger);
  EXPECT_EQ(c.nextGoal, after.NextGC);
  EXPECT_EQ(c.nextTrigger, after.Trigger);

  // A concurrent mark: heap0 is heapLive at the trigger, heap1 what was allocated by its end (the goal).
  allocUntilMark(h);
  const MemStats started = h.memStats();
  while (!h.gcRequested()) keep.push_back(h.malloc(0, 64, true));
  const MemStats ended = h.memStats();
  h.gc();
  ASSERT_EQ(h.gcCycles().size(), 2u);
  const GcCycle& d = h.gcCycles()[1];
  EXPECT_EQ(d.cycle, 2u);
  EXPECT_FALSE(d.forced);
  EXPECT_TRUE(d.concurrent);
  EXPECT_GE(d.heapStart, started.Trigger);
  EXPECT_LE(d.heapStart, started.HeapLive);
  EXPECT_EQ(d.heapEnd, ended.HeapLive);
  EXPECT_GT(d.heapEnd, d.heapStart);
  EXPECT_EQ(d.goal, started.NextGC);
  EXPECT_EQ(d.trigger, started.Trigger);
  EXPECT_EQ(d.heapInuseBefore, ended.HeapInuse);
  EXPECT_EQ(d.nextGoal, h.memStats().NextGC);
}

// runtime.GC() during a mark: two records, the mark's own cycle and then the forced one. GOGC=off: no goal (~0).
TEST(Pacer, ForcedGcDuringMarkRecordsTwoCycles) {
  Heap h(cfgWith({{"gc_cons_mark", "10"}}));
  auto objs = allocUntilMark(h);
  h.gc(true);
  ASSERT_EQ(h.gcCycles().size(), 2u);
  EXPECT_TRUE(h.gcCycles()[0].concurrent);
  EXPECT_FALSE(h.gcCycles()[0].forced);
  EXPECT_FALSE(h.gcCycles()[1].concurrent);
  EXPECT_TRUE(h.gcCycles()[1].forced);
  EXPECT_EQ(h.gcCycles()[1].heapInuseBefore, h.gcCycles()[0].heapInuseAfter);
  EXPECT_EQ(h.gcCycles()[1].goal, h.gcCycles()[0].nextGoal);

  Heap off(cfgWith({{"gogc", "off"}}));
  off.malloc(0, 64, true);
  off.gc(true);
  ASSERT_EQ(off.gcCycles().size(), 1u);
  EXPECT_EQ(off.gcCycles()[0].goal, ~uint64_t{0});
  EXPECT_EQ(off.gcCycles()[0].nextTrigger, ~uint64_t{0});
}
