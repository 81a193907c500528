// The replay engine driving core's Go-model heap.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "replay/factory.h"
#include "replay/go_backend.h"
#include "replay/replayer.h"
#include "replay/synth.h"

namespace gomalloc::replay {
namespace {

using traces::ReplayProgram;

Options quiet(int procs, bool deterministic = false) {
  Options o;
  o.procs = procs;
  o.deterministic = deterministic;
  o.rssIntervalMs = 0;
  o.verify = true;
  return o;
}

core::Config config(std::initializer_list<std::pair<const char*, const char*>> sets = {}) {
  core::Config c;
  for (auto& [k, v] : sets) c.set(k, v);
  return c;
}

// Sum of one field over a vector of statistics.
template <class T, class F>
uint64_t sum(const std::vector<T>& v, F field) {
  uint64_t n = 0;
  for (auto& x : v) n += x.*field;
  return n;
}

uint64_t heapMallocs(const Result& r) { return sum(r.go->spanClasses, &core::ClassStats::mallocs); }
uint64_t heapFrees(const Result& r) { return sum(r.go->spanClasses, &core::ClassStats::frees); }
uint64_t contended(const Result& r) { return sum(r.go->locks, &core::LockStats::contended); }
uint64_t acquisitions(const Result& r) { return sum(r.go->locks, &core::LockStats::acquisitions); }

TEST(ReplayGo, DeterministicRunsAreIdentical) {
  ReplayProgram p = synth::steady(40000, 4, 400, 12, 9000);
  Result r[2];
  for (auto& res : r) {
    GoBackend b(config({{"gogc", "50"}}), 2);
    res = run(p, b, quiet(2, true));
  }
  ASSERT_TRUE(r[0].go && r[1].go);
  EXPECT_EQ(r[0].addressDigest, r[1].addressDigest);
  EXPECT_EQ(r[0].heapFinal, r[1].heapFinal);
  EXPECT_EQ(r[0].heapPeak, r[1].heapPeak);
  EXPECT_EQ(r[0].go->mem.NumGC, r[1].go->mem.NumGC);
  EXPECT_EQ(r[0].pacerStops, r[1].pacerStops);
  ASSERT_EQ(r[0].go->spanClasses.size(), r[1].go->spanClasses.size());
  for (size_t i = 0; i < r[0].go->spanClasses.size(); i++) {
    auto &a = r[0].go->spanClasses[i], &b = r[1].go->spanClasses[i];
    EXPECT_EQ(a.mallocs, b.mallocs) << i;
    EXPECT_EQ(a.fastHits, b.fastHits) << i;
    EXPECT_EQ(a.refills, b.refills) << i;
    EXPECT_EQ(a.refillFrom, b.refillFrom) << i;
  }
  std::vector<std::string> gcKinds[2];
  for (int i = 0; i < 2; i++)
    for (auto& pt : r[i].timeline)
      if (pt.heap) gcKinds[i].push_back(std::to_string(pt.heap->heapInuse));
  EXPECT_EQ(gcKinds[0], gcKinds[1]);
  EXPECT_TRUE(r[0].verified);
  EXPECT_TRUE(r[0].verifyErrors.empty()) << r[0].verifyErrors.front();
  EXPECT_EQ(r[0].go->mem.NumForcedGC, p.gcBarriers);
  // A gc barrier during a concurrent mark (pacer=go1.19) first terminates it: one unforced cycle more.
  EXPECT_GE(r[0].go->mem.NumGC, p.gcBarriers + r[0].pacerStops);
  EXPECT_LE(r[0].go->mem.NumGC, 2 * p.gcBarriers + r[0].pacerStops);
  EXPECT_EQ(r[0].go->mem.NumGC, r[1].go->mem.NumGC);
}

// gc_mark_events: each concurrent mark lasts that many trace events (or ends at the goal), in deterministic mode
// only; a longer mark allocates more black objects, so the run has fewer, larger cycles.
TEST(ReplayGo, MarkEventsSetTheMarksLength) {
  ReplayProgram p = synth::steady(200000, 1, 20000, 5, 0);
  Result r[2];
  const char* lengths[2] = {"1", "4000"};
  for (int i = 0; i < 2; i++) {
    GoBackend b(config({{"gogc", "400"}, {"gc_mark_events", lengths[i]}}), 1);
    r[i] = run(p, b, quiet(1, true));
    ASSERT_FALSE(r[i].pacerGcStarts.empty()) << lengths[i];
    // Every mark but perhaps the last (the trace may end during it) ended in a cycle.
    EXPECT_GE(r[i].pacerStops + 1, r[i].pacerGcStarts.size()) << lengths[i];
  }
  for (size_t k = 1; k < r[1].pacerGcStarts.size(); k++)  // a mark of 4000 events, then the next trigger
    EXPECT_GT(r[1].pacerGcStarts[k], r[1].pacerGcStarts[k - 1] + 4000) << k;
  EXPECT_LT(r[1].pacerStops, r[0].pacerStops);
  GoBackend b(config({{"gc_mark_events", "100"}}), 2);
  EXPECT_THROW(run(p, b, quiet(2, false)), std::invalid_argument);  // events in order: deterministic only
}

// The trace events (a gc event once) done when each gc event of the program was reached, in order.
std::vector<uint64_t> gcEventIndices(const ReplayProgram& p) {
  std::vector<uint64_t> out;
  std::vector<size_t> next(p.threads.size());
  uint64_t events = 0;
  uint32_t barriers = 0;
  for (const uint16_t t : p.order) {
    const traces::ReplayOp& op = p.threads[t][next[t]++];
    if (op.kind() == traces::ReplayOp::Gc) {
      if (op.seq < barriers) continue;  // another thread's copy
      barriers = op.seq + 1;
      out.push_back(events);
    }
    events++;
  }
  return out;
}

// Deterministic mode: every cycle gets the events done when it ended (a forced one: just after its gc event) and
// when its mark began; the timeline's before_gc and gc points are at the same events with the cycle's HeapInuse.
TEST(ReplayGo, GcCyclesCarryExactEventIndices) {
  ReplayProgram p = synth::steady(40000, 4, 400, 12, 9000);
  GoBackend b(config({{"gogc", "50"}}), 2);
  Result r = run(p, b, quiet(2, true));
  ASSERT_EQ(r.gcCycles.size(), r.go->mem.NumGC);
  const std::vector<uint64_t> gcs = gcEventIndices(p);
  ASSERT_EQ(gcs.size(), p.gcBarriers);
  size_t forced = 0, concurrent = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < r.gcCycles.size(); i++) {
    const GcCycleRecord& c = r.gcCycles[i];
    EXPECT_EQ(c.cycle, i + 1);
    ASSERT_TRUE(c.endEvent && c.markStartEvent) << i;
    EXPECT_LE(*c.markStartEvent, *c.endEvent) << i;
    EXPECT_GE(*c.endEvent, last) << i;
    EXPECT_LE(*c.endEvent, r.events) << i;
    last = *c.endEvent;
    if (c.forced) {
      EXPECT_EQ(*c.endEvent, gcs[forced++] + 1) << i;
    }
    if (c.concurrent) {
      EXPECT_LT(*c.markStartEvent, *c.endEvent) << i;
      concurrent++;
    } else {
      EXPECT_EQ(*c.markStartEvent, *c.endEvent) << i;
    }
    EXPECT_TRUE(c.goal && c.nextGoal && c.trigger && c.nextTrigger && c.heapInuseBefore && c.heapInuseAfter) << i;
  }
  EXPECT_EQ(forced, p.gcBarriers);
  EXPECT_GT(concurrent, 0u);
  EXPECT_EQ(r.gcCycles.back().nextGoal, r.go->mem.NextGC);
  // The timeline: each GC stop (one or two cycles) has a before_gc and a gc point at its end event.
  std::vector<const TimelinePoint*> before, after;
  for (const TimelinePoint& pt : r.timeline) {
    if (pt.kind == TimelinePoint::Kind::PreGc) before.push_back(&pt);
    if (pt.kind == TimelinePoint::Kind::Gc) after.push_back(&pt);
  }
  ASSERT_EQ(before.size(), after.size());
  ASSERT_EQ(after.size(), r.gcEvents + r.pacerStops);
  size_t k = 0;
  for (size_t i = 0; i < r.gcCycles.size(); i++) {
    const GcCycleRecord& c = r.gcCycles[i];
    const bool first = i == 0 || r.gcCycles[i - 1].endEvent != c.endEvent;  // a forced cycle after a mark's: same stop
    if (!first) continue;
    ASSERT_LT(k, after.size());
    EXPECT_EQ(before[k]->events, *c.endEvent) << i;
    EXPECT_EQ(after[k]->events, *c.endEvent) << i;
    EXPECT_EQ(before[k]->heap->heapInuse, *c.heapInuseBefore) << i;
    k++;
  }
  EXPECT_EQ(r.timeline.front().events, 0u);
  EXPECT_EQ(r.timeline.back().events, r.events);
  EXPECT_EQ(r.heapPeak->heapInuse, std::max_element(r.timeline.begin(), r.timeline.end(), [](auto& a, auto& b) {
                                     return a.heap.value_or(HeapFigures{}).heapInuse < b.heap.value_or(HeapFigures{}).heapInuse;
                                   })->heap->heapInuse);
}

// gc_mark_events: the mark of n events ends before the n-th op (the alloc whose assist ended it is not counted).
TEST(ReplayGo, MarkEventsEndTheMarkBeforeItsLastOp) {
  ReplayProgram p = synth::steady(200000, 1, 20000, 5, 0);
  GoBackend b(config({{"gogc", "400"}, {"gc_mark_events", "4000"}}), 1);
  Result r = run(p, b, quiet(1, true));
  size_t marks = 0;
  for (const GcCycleRecord& c : r.gcCycles) {
    ASSERT_TRUE(c.concurrent);
    EXPECT_EQ(*c.endEvent - *c.markStartEvent, 3999u) << c.cycle;
    marks++;
  }
  EXPECT_GT(marks, 0u);
  for (size_t i = 0; i < r.gcCycles.size(); i++) EXPECT_EQ(*r.gcCycles[i].markStartEvent, r.pacerGcStarts[i]);
  // Its heap is read once that allocation is done, where the runtime's replay reads its own: the gc point
  // comes one event after the cycle's end (the before_gc point at it).
  std::vector<uint64_t> pre, post;
  for (const TimelinePoint& pt : r.timeline) {
    if (pt.kind == TimelinePoint::Kind::PreGc) pre.push_back(pt.events);
    if (pt.kind == TimelinePoint::Kind::Gc) post.push_back(pt.events);
  }
  ASSERT_EQ(post.size(), r.gcCycles.size());
  ASSERT_EQ(pre.size(), post.size());
  for (size_t i = 0; i < post.size(); i++) {
    EXPECT_EQ(pre[i], *r.gcCycles[i].endEvent) << i;
    EXPECT_EQ(post[i], *r.gcCycles[i].endEvent + 1) << i;
  }
}

// gc_mark_starts: a mark takes the length of the given mark that began nearest it: here 1 event before the
// middle of the trace and 4000 after it. Deterministic only, as gc_mark_events.
TEST(ReplayGo, MarkStartsReadTheGivenMarksByPosition) {
  ReplayProgram p = synth::steady(200000, 1, 20000, 5, 0);
  GoBackend b(config({{"gogc", "400"}, {"gc_mark_events", "1,4000"}, {"gc_mark_starts", "0,100000"}}), 1);
  Result r = run(p, b, quiet(1, true));
  size_t early = 0, late = 0;
  for (const GcCycleRecord& c : r.gcCycles) {
    const uint64_t length = *c.endEvent - *c.markStartEvent;
    if (*c.markStartEvent <= 50000) {
      EXPECT_EQ(length, 0u) << c.cycle;  // a mark of one event ends before that event
      early++;
    } else {
      EXPECT_EQ(length, 3999u) << c.cycle;
      late++;
    }
  }
  EXPECT_GT(early, 0u);
  EXPECT_GT(late, 0u);
  GoBackend c(config({{"gc_mark_starts", "10"}}), 2);
  EXPECT_THROW(run(p, c, quiet(2, false)), std::invalid_argument);
}

TEST(ReplayGo, ReportsTheEffectiveConfiguration) {
  GoBackend b(config({{"mcentral", "locked"}}), 3);
  ReplayProgram p = synth::steady(100, 1, 10, 1);
  Result r = run(p, b, quiet(3, true));
  bool sawProcs = false, sawLocked = false;
  for (auto& [k, v] : r.settings) {
    sawProcs |= k == "procs" && v == "3";
    sawLocked |= k == "mcentral" && v == "locked";
  }
  EXPECT_TRUE(sawProcs);
  EXPECT_TRUE(sawLocked);
  EXPECT_TRUE(r.classCounts.empty()) << "the heap's own statistics replace the harness counts";
  ASSERT_TRUE(r.heapFinal);
  EXPECT_GT(r.heapFinal->heapSys, 0u);
  EXPECT_THROW(makeBackend("jemalloc", 1), std::invalid_argument);
  EXPECT_EQ(makeBackend("go", 2, config())->name(), "go");
}

TEST(ReplayGoConcurrent, ProducerConsumerOneTwoEightPsSameTotalsAndVerifierPasses) {
  ReplayProgram p = synth::producerConsumer(4000, 8, 6, 77, 700);
  for (int procs : {1, 2, 8}) {
    GoBackend b(config(), procs);
    Result r = run(p, b, quiet(procs));
    ASSERT_TRUE(r.go) << procs;
    EXPECT_EQ(r.allocs, 32000u) << procs;
    EXPECT_EQ(r.frees, 32000u - p.liveAtEnd) << procs;
    EXPECT_EQ(heapMallocs(r), r.allocs - r.zeroSizeAllocs) << procs;
    EXPECT_EQ(heapFrees(r), r.frees - r.zeroSizeAllocs) << procs;
    EXPECT_EQ(r.go->mem.NumForcedGC, p.gcBarriers) << procs;
    EXPECT_TRUE(r.verified);
    for (auto& e : r.verifyErrors) ADD_FAILURE() << procs << " Ps: " << e;
  }
}

TEST(ReplayGoConcurrent, CrossThreadFreesWithImmediateReuse) {
  // Immediate free mode reuses a slot at once: a free that ran before its alloc would corrupt the heap, which
  // the verifier would see.
  synth::ProgramBuilder pb(2);
  for (int i = 0; i < 30000; i++) pb.free(1, pb.alloc(0, 16 + (i % 7) * 8));
  ReplayProgram p = pb.build();
  GoBackend b(config({{"free_mode", "immediate"}}), 2);
  Result r = run(p, b, quiet(2));
  EXPECT_EQ(r.frees, 30000u);
  EXPECT_TRUE(r.verified);
  for (auto& e : r.verifyErrors) ADD_FAILURE() << e;
  EXPECT_EQ(heapFrees(r), 30000u);
}

TEST(ReplayGoBarrier, MoreThreadsThanCoresWithPacerCycles) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const auto threads = uint16_t(std::min(48u, 4 * cores + 1));
  ReplayProgram p = synth::producerConsumer(600, threads, 20, 5, 150);
  GoBackend b(config({{"gogc", "10"}}), threads);
  Result r = run(p, b, quiet(threads));
  EXPECT_EQ(r.gcEvents, p.gcBarriers);
  EXPECT_GT(r.pacerStops, 0u) << "GOGC=10 over a growing heap should trigger the pacer";
  // (a gc barrier during a concurrent mark terminates it first: one unforced cycle more)
  EXPECT_GE(r.go->mem.NumGC, r.gcEvents + r.pacerStops);
  EXPECT_LE(r.go->mem.NumGC, 2 * r.gcEvents + r.pacerStops);
  for (auto& e : r.verifyErrors) ADD_FAILURE() << e;
}

// Two threads allocating and freeing objects that fill a span each (32 KiB: one object per 8 KiB x 4-page
// span... every allocation refills from mcentral), in the locked mcentral design.
ReplayProgram refillHeavy(uint16_t threads, int perThread) {
  synth::ProgramBuilder pb(threads);
  std::vector<std::vector<uint64_t>> live(threads);
  for (int i = 0; i < perThread; i++)
    for (uint16_t t = 0; t < threads; t++) {
      live[t].push_back(pb.alloc(t, 32768));
      if (live[t].size() > 8) {
        pb.free(t, live[t].front());
        live[t].erase(live[t].begin());
      }
    }
  return pb.build();
}

TEST(ReplayGoConcurrent, LockCountersZeroWithOnePMoveWithTwo) {
  auto cfg = config({{"mcentral", "locked"}, {"free_mode", "immediate"}});
  {
    ReplayProgram p = refillHeavy(2, 20000);
    GoBackend b(cfg, 1);
    Result r = run(p, b, quiet(1));
    EXPECT_GT(acquisitions(r), 0u);
    EXPECT_EQ(contended(r), 0u) << "one P never contends";
    for (auto& l : r.go->locks) EXPECT_EQ(l.waitNs, 0u) << l.name;
  }
  // Two Ps contend when they run at the same time; on a busy machine they might not overlap in one run, so
  // give it a few runs (no timing is asserted, only that contention shows up at all).
  uint64_t seen = 0;
  for (int attempt = 0; attempt < 20 && seen == 0; attempt++) {
    ReplayProgram p = refillHeavy(2, 20000);
    GoBackend b(cfg, 2);
    Result r = run(p, b, quiet(2));
    seen = contended(r);
    for (auto& e : r.verifyErrors) ADD_FAILURE() << e;
  }
  EXPECT_GT(seen, 0u);
}

}  // namespace
}  // namespace gomalloc::replay
