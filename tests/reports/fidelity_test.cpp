// The fidelity comparison on hand-made reports: the baseline comes off the runtime's figures, each bound of
// docs/fidelity.md passes at its edge and fails past it, and mismatched reports are refused.
#include <gtest/gtest.h>

#include "reports/fidelity.h"

namespace gomalloc::reports {
namespace {

replay::HeapFigures figures(uint64_t objects, uint64_t alloc, uint64_t inuse) {
  replay::HeapFigures h;
  h.heapObjects = objects, h.heapAlloc = alloc, h.heapInuse = inuse;
  return h;
}

Report report(const std::string& backend, const std::vector<replay::HeapFigures>& gcs, replay::HeapFigures start = {}) {
  Report r;
  r.config.backend = backend;
  r.trace.path = "t.json";
  r.trace.digest = "abc";
  r.timeline.push_back(TimelineRow{0, 0, start, "start"});
  for (auto& h : gcs) r.timeline.push_back(TimelineRow{1, 0, h, "gc"});
  r.heap = HeapSection{};
  r.heap->final = gcs.back();
  r.heap->peak = gcs.back();
  r.summary.gcCycles = gcs.size();
  ClassRow c;
  c.cls = 2, c.size = 16, c.allocs = 10;
  r.sizeClasses.push_back(c);
  return r;
}

const FidelityRow& row(const FidelityTrace& t, const std::string& point, const std::string& metric) {
  for (auto& r : t.rows)
    if (r.point == point && r.metric == metric) return r;
  throw std::runtime_error("no row " + point + " " + metric);
}

TEST(Fidelity, TheRuntimesBaselineComesOffAndExactFiguresMatch) {
  const replay::HeapFigures base = figures(180, 90'000, 400'000);
  const Report model = report("go", {figures(10, 160, 8192), figures(4, 64, 8192)});
  const Report rt = report("go-runtime", {figures(190, 90'160, 408'192), figures(184, 90'064, 408'192)}, base);
  const FidelityTrace t = compareFidelity(model, {rt, rt, rt}, true);
  EXPECT_TRUE(t.ok()) << renderFidelityTable({t});
  EXPECT_EQ(row(t, "gc 1", "HeapObjects").runtimeMedian, 10);
  EXPECT_EQ(row(t, "gc 2", "HeapAlloc").diff, 0);
  EXPECT_EQ(row(t, "class 16 B", "allocs").diff, 0);
  EXPECT_EQ(t.baseline.heapObjects, 180u);
}

TEST(Fidelity, EachBoundFailsPastItsEdge) {
  const Report model = report("go", {figures(10, 160, 8192), figures(4, 64, 3 * 8192)});
  // One object more, and a HeapInuse step of 3 spans where the model took 2.
  const Report rt = report("go-runtime", {figures(11, 160, 8192), figures(4, 64, 4 * 8192)});
  const FidelityTrace t = compareFidelity(model, {rt}, true);
  EXPECT_FALSE(row(t, "gc 1", "HeapObjects").ok);
  EXPECT_TRUE(row(t, "gc 2", "HeapInuse step").ok);  // one span apart: within the 2 spans allowed
  EXPECT_GE(t.failed(), 1u);
  const std::string md = renderFidelityMarkdown({t});
  EXPECT_NE(md.find("EXCEEDED"), std::string::npos) << md;
}

// The peak compared is the highest HeapInuse at the points both sides observe (after each collection, the
// end), not heap.peak: the model also sees the heap just before each collection.
TEST(Fidelity, ThePacersBoundsWidenTheRuntimesRange) {
  Report model = report("go", {figures(1, 1, 100), figures(1, 1, 1'050'000)});
  model.summary.gcCycles = 14;
  model.heap->peak.heapInuse = 9'000'000;  // before a collection: not compared
  std::vector<Report> rts;
  for (uint64_t cycles : {12, 13, 13}) {
    Report r = report("go-runtime", {figures(1, 1, 1'000'000), figures(1, 1, 100)});
    r.summary.gcCycles = cycles;
    rts.push_back(r);
  }
  FidelityTrace t = compareFidelity(model, rts, false);
  EXPECT_TRUE(row(t, "run", "gc_cycles").ok);       // 14 is within 12..13 widened by one
  EXPECT_TRUE(row(t, "run", "peak HeapInuse").ok);  // 5% over the median
  EXPECT_EQ(row(t, "run", "peak HeapInuse").model, 1'050'000);
  model.summary.gcCycles = 15;
  model.timeline.back().heap->heapInuse = 1'200'000;
  t = compareFidelity(model, rts, false);
  EXPECT_FALSE(row(t, "run", "gc_cycles").ok);
  EXPECT_FALSE(row(t, "run", "peak HeapInuse").ok);
  EXPECT_EQ(fidelityToJson({t})["traces"][0]["failed"], 2);
}

// The model is given the runtime's marks and cons/mark estimates, cycle by cycle, from the most typical run
// (nearest to the median cycle count and median peak): both from the same run.
TEST(Fidelity, TheMarksLengthsAndEstimatesComeFromTheMedianRun) {
  auto run = [](std::vector<uint64_t> starts, std::vector<uint64_t> ends, std::vector<double> cm = {},
                uint64_t peak = 8192) {
    Report r = report("go-runtime", {figures(1, 16, peak)});
    r.heap->pacerGcStarts = starts;
    r.heap->pacerGcEvents = ends;
    r.summary.gcCycles = starts.size();
    if (!cm.empty()) r.heap->pacerConsMarks = cm;
    return r;
  };
  const std::vector<Report> runs = {run({10, 50}, {20, 90}, {0, 1}), run({10, 40, 70}, {15, 45, 100}, {0, -0.5, 2}),
                                    run({5, 30, 60, 90}, {9, 33, 66, 99}, {0, 3, 3, 3})};
  EXPECT_EQ(runtimePacing(runs).markEvents, (std::vector<uint64_t>{5, 5, 30}));
  EXPECT_EQ(runtimePacing(runs).markStarts, (std::vector<uint64_t>{10, 40, 70}));
  EXPECT_EQ(runtimePacing(runs).consMarks, (std::vector<double>{0, -0.5, 2}));
  // The same cycle counts: the run whose peak is the median one.
  const std::vector<Report> peaks = {run({10}, {12}, {}, 9000), run({10}, {13}, {}, 30000), run({10}, {14}, {}, 12000),
                                     run({10}, {15}, {}, 11000), run({10}, {16}, {}, 8000)};
  EXPECT_EQ(runtimePacing(peaks).markEvents, std::vector<uint64_t>{5});
  EXPECT_TRUE(runtimePacing({report("go-runtime", {figures(1, 16, 8192)})}).markEvents.empty());
  // A mark that ended where it began lasted one event (0 would switch the setting off).
  EXPECT_EQ(runtimePacing({run({7}, {7})}).markEvents, std::vector<uint64_t>{1});
  EXPECT_TRUE(runtimePacing({run({7}, {7})}).consMarks.empty());  // a report without them
}

// The baseline's scan work: the first paced cycle's, less what the trace's objects live at its start add; the
// child's own count where the runtime printed none (or the difference would be below it).
TEST(Fidelity, TheBaselineScanComesFromTheFirstPacedCycle) {
  auto run = [](std::optional<uint64_t> work, uint64_t counted) {
    Report r = report("go-runtime", {figures(1, 16, 8192)});
    r.heap->pacerGcStarts = std::vector<uint64_t>{100};
    r.heap->pacerGcEvents = std::vector<uint64_t>{120};
    r.heap->baselineScanBytes = counted;
    r.heap->firstPacedScanWork = work;
    return r;
  };
  int reads = 0;
  auto traceScan = [&](uint64_t events) {
    reads++;
    EXPECT_EQ(events, 100u);
    return uint64_t{5000};
  };
  EXPECT_EQ(runtimeBaselineScan({run(50000, 40000), run(52000, 40000), run(51000, 40000)}, traceScan), 46000u);
  EXPECT_EQ(reads, 1);  // one read of the trace for runs whose first marks began at the same event
  EXPECT_EQ(runtimeBaselineScan({run(std::nullopt, 40000)}, traceScan), 40000u);
  EXPECT_EQ(runtimeBaselineScan({run(42000, 40000)}, traceScan), 40000u);
  EXPECT_EQ(runtimeBaselineScan({run(50000, 40000)}), 40000u);  // no trace to read
}

// The stacks' and globals' scan work: the median of the runs that printed them, none when no run did.
TEST(Fidelity, TheStacksAndGlobalsScanAreTheRunsMedian) {
  auto run = [](std::optional<uint64_t> stacks, std::optional<uint64_t> globals) {
    Report r = report("go-runtime", {figures(1, 16, 8192)});
    r.heap->stackScanBytes = stacks;
    r.heap->globalsScanBytes = globals;
    return r;
  };
  const std::vector<Report> runs = {run(2904, 225872), run(3312, 225872), run(std::nullopt, std::nullopt), run(2968, 225872)};
  EXPECT_EQ(runtimeStackScan(runs), std::optional<uint64_t>(2968));
  EXPECT_EQ(runtimeGlobalsScan(runs), std::optional<uint64_t>(225872));
  EXPECT_FALSE(runtimeStackScan({run(std::nullopt, std::nullopt)}).has_value());
}

TEST(Fidelity, ReportsThatDoNotBelongTogetherAreRefused) {
  const Report model = report("go", {figures(1, 1, 1)});
  Report other = report("go-runtime", {figures(1, 1, 1)});
  other.trace.digest = "def";
  EXPECT_THROW(compareFidelity(model, {other}, true), std::runtime_error);
  EXPECT_THROW(compareFidelity(model, {report("system", {figures(1, 1, 1)})}, true), std::runtime_error);
  EXPECT_THROW(compareFidelity(model, {}, true), std::runtime_error);
}

}  // namespace
}  // namespace gomalloc::reports
