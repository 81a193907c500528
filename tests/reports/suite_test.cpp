// compare over a suite of traces and across shards: the canonical run order, the shard split, assembling runs
// whatever their order, the geometric-mean summary, part files both ways, and what a merge refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "reports/render.h"
#include "reports/suite.h"

namespace gomalloc::reports {

Report fakeReport(bool deterministic);  // compare_test.cpp

namespace {

using Json = nlohmann::ordered_json;

Matrix twoByTwo(int repeat = 2) {
  Matrix m;
  m.traces = {MatrixTrace{"a.json", "00000000000000aa", 1000}, MatrixTrace{"b.json", "00000000000000bb", 1000}};
  m.variants = {parseVariant("base"), parseVariant("low:gogc=50")};
  m.resolved = {{{"gogc", "100"}}, {{"gogc", "50"}}};
  m.options.repeat = repeat;
  m.options.deterministic = true;
  return m;
}

// A deterministic report of run k: its trace's digest, and figures that tell the runs apart.
Report reportOf(const Matrix& m, size_t k) {
  const RunIndex at = runAt(m, k);
  Report r = fakeReport(true);
  r.trace.path = m.traces[at.trace].path;
  r.trace.digest = m.traces[at.trace].digest;
  r.summary.gcCycles = 10 * (at.trace + 1) + at.variant;
  r.summary.nsPerEvent = 100 + double(k);
  r.procs = {ProcRow{0, {0}, 1000, 0, 0, {}, {}, {}}};  // what the report schema asks of a part's reports
  return r;
}

Part partOf(const Matrix& m, Shard s) {
  Part p{ToolInfo{"gomalloc", "1.0", "go1.19.8"}, m, s, {}};
  for (size_t k : shardRuns(m.runs(), s)) p.runs.push_back(MatrixRun{k, reportOf(m, k)});
  return p;
}

std::string mergeMessage(const std::vector<std::pair<std::string, Part>>& parts) {
  ToolInfo tool;
  try {
    mergeParts(parts, &tool);
  } catch (const MergeError& e) {
    return e.what();
  }
  return "no error";
}

TEST(SuiteShard, ParsesIOfNOneBased) {
  const Shard s = parseShard("2/3");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(parseShard("1/1").count, 1);
  auto message = [](const char* text) {
    try {
      parseShard(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("0/3").find("--shard 0/3: I must be from 1 to 3"), std::string::npos) << message("0/3");
  EXPECT_NE(message("4/3").find("I must be from 1 to 3"), std::string::npos);
  EXPECT_NE(message("-1/3").find("I must be from 1 to 3"), std::string::npos);
  EXPECT_NE(message("2/0").find("N must be"), std::string::npos);
  for (const char* bad : {"3", "a/3", "1/b", "/3", "1/", "1/3/4", " 1/3", "1.0/3"})
    EXPECT_NE(message(bad).find("expected I/N"), std::string::npos) << bad << ": " << message(bad);
}

TEST(SuiteShard, CanonicalOrderIsTraceThenRoundThenVariant) {
  const Matrix m = twoByTwo();
  ASSERT_EQ(m.runs(), 8u);
  const std::vector<RunIndex> want = {{0, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, 1, 1},
                                      {1, 0, 0}, {1, 1, 0}, {1, 0, 1}, {1, 1, 1}};
  for (size_t k = 0; k < m.runs(); k++) EXPECT_EQ(runAt(m, k), want[k]) << k;
}

TEST(SuiteShard, TheShardsTakeEveryRunOnceRoundRobin) {
  for (size_t runs : {0u, 1u, 7u, 8u, 30u})
    for (int n : {1, 2, 3, 5, 40}) {
      std::vector<int> taken(runs, 0);
      for (int i = 1; i <= n; i++)
        for (size_t k : shardRuns(runs, Shard{i, n})) {
          ASSERT_LT(k, runs);
          EXPECT_EQ(int(k % size_t(n)), i - 1);
          taken[k]++;
        }
      for (size_t k = 0; k < runs; k++) EXPECT_EQ(taken[k], 1) << runs << " runs, " << n << " shards, run " << k;
    }
  EXPECT_EQ(shardRuns(8, Shard{2, 3}), (std::vector<size_t>{1, 4, 7}));
}

TEST(SuiteAssemble, TheOrderOfTheRunsDoesNotMatter) {
  const Matrix m = twoByTwo(3);
  std::vector<MatrixRun> inOrder, shuffled;
  for (size_t k = 0; k < m.runs(); k++) inOrder.push_back(MatrixRun{k, reportOf(m, k)});
  for (int i = 3; i >= 1; i--)  // shard by shard, last first: as a merge may have them
    for (size_t k : shardRuns(m.runs(), Shard{i, 3})) shuffled.push_back(MatrixRun{k, reportOf(m, k)});
  const SuiteResult a = assembleSuite(m, ToolInfo{}, inOrder), b = assembleSuite(m, ToolInfo{}, shuffled);
  EXPECT_EQ(suiteToJson(a).dump(), suiteToJson(b).dump());
  ASSERT_EQ(a.traces.size(), 2u);
  EXPECT_EQ(a.traces[1].options.trace, "b.json");
  ASSERT_EQ(a.traces[1].variants[1].runs.size(), 3u);
  // Runs in round order: trace 1, variant 1 ran as runs 7, 9, 11 (ns_per_event 100 + k).
  EXPECT_DOUBLE_EQ(a.traces[1].variants[1].runs[0].summary.nsPerEvent, 107);
  EXPECT_DOUBLE_EQ(a.traces[1].variants[1].runs[2].summary.nsPerEvent, 111);
  EXPECT_THROW(assembleSuite(m, ToolInfo{}, std::vector<MatrixRun>(inOrder.begin(), inOrder.end() - 1)),
               std::runtime_error);
}

TEST(SuiteAssemble, OneTraceIsWhatRunCompareGives) {
  Matrix m = twoByTwo(2);
  m.traces.resize(1);
  Matrix unknown = m;
  unknown.traces[0].digest.clear();  // a one-machine run learns it from the first report
  const auto runs = runMatrix(unknown, {0, 1, 2, 3}, [&](const RunIndex& at) { return reportOf(m, at.round * 2 + at.variant); });
  const SuiteResult s = assembleSuite(m, ToolInfo{}, runs);
  CompareOptions o = m.options;
  o.trace = "a.json";
  const CompareResult c = runCompare(o, m.variants, ToolInfo{}, [&](size_t v, int round) {
    return reportOf(m, size_t(round) * 2 + v);
  });
  EXPECT_EQ(compareToJson(s.traces[0]).dump(), compareToJson(c).dump());
  EXPECT_EQ(renderCompareTable(s.traces[0]), renderCompareTable(c));
}

TEST(SuiteAssemble, RunMatrixRefusesAReportOfAnotherTrace) {
  const Matrix m = twoByTwo(1);
  EXPECT_THROW(runMatrix(m, {0, 1, 2}, [&](const RunIndex& at) { return reportOf(m, at.variant); }),
               std::runtime_error);  // run 2 is of b.json but replays a.json
}

TEST(SuiteSummary, GeometricMeanOfTheRatiosLeavingOutZeros) {
  Matrix m = twoByTwo(1);
  std::vector<MatrixRun> runs;
  for (size_t k = 0; k < m.runs(); k++) runs.push_back(MatrixRun{k, reportOf(m, k)});
  // ns_per_event: trace a 100 -> 50 (0.5x), trace b 200 -> 800 (4x): geometric mean sqrt(2).
  runs[0].report.summary.nsPerEvent = 100, runs[1].report.summary.nsPerEvent = 50;
  runs[2].report.summary.nsPerEvent = 200, runs[3].report.summary.nsPerEvent = 800;
  // gc_cycles: trace a's baseline ran none, so only trace b enters: 10 -> 15.
  runs[0].report.summary.gcCycles = 0, runs[1].report.summary.gcCycles = 4;
  runs[2].report.summary.gcCycles = 10, runs[3].report.summary.gcCycles = 15;
  const SuiteResult s = assembleSuite(m, ToolInfo{}, runs);
  const auto rows = summarizeSuite(s);
  auto rowOf = [&](const std::string& name) -> const SummaryRow& {
    for (auto& r : rows)
      if (r.metric.name == name) return r;
    throw std::runtime_error("no row " + name);
  };
  ASSERT_EQ(rowOf("ns_per_event").cells.size(), 1u);
  EXPECT_NEAR(rowOf("ns_per_event").cells[0].ratio, std::sqrt(2.0), 1e-12);
  EXPECT_EQ(rowOf("ns_per_event").cells[0].traces, 2u);
  EXPECT_EQ(summaryText(rowOf("ns_per_event").cells[0], 2), "1.414x (+41.4%)");
  EXPECT_EQ(rowOf("gc_cycles").cells[0].traces, 1u);
  EXPECT_DOUBLE_EQ(rowOf("gc_cycles").cells[0].ratio, 1.5);
  EXPECT_EQ(summaryText(rowOf("gc_cycles").cells[0], 2), "1.500x (+50.0%) [1 of 2 traces]");
  EXPECT_EQ(summaryText(SummaryCell{}, 2), "-");
  for (auto& r : rows) EXPECT_NE(r.metric.name.rfind("hit_rate.", 0), 0u) << r.metric.name;  // not per class

  const std::string table = renderSuiteTable(s);
  EXPECT_NE(table.find("trace: a.json"), std::string::npos);
  EXPECT_NE(table.find("trace: b.json"), std::string::npos);
  EXPECT_NE(table.find("summary: geometric mean over 2 traces"), std::string::npos);
  EXPECT_NE(table.find("low vs base"), std::string::npos);
  const Json j = suiteToJson(s);
  EXPECT_EQ(j["schema"], "gomalloc-compare-suite");
  EXPECT_EQ(j["traces"].size(), 2u);
  EXPECT_EQ(j["results"][1]["schema"], "gomalloc-compare");
  EXPECT_EQ(j["results"][1]["trace"]["path"], "b.json");
  const std::string csv = renderSuiteCsv(s);
  EXPECT_EQ(csv.rfind("trace,metric,field,unit,direction,variant,n,median", 0), 0u);
  EXPECT_NE(csv.find("b.json,gc_cycles,"), std::string::npos);
  EXPECT_NE(csv.find("(geomean),gc_cycles,summary.gc_cycles,ratio,lower,low,1,1.5,"), std::string::npos) << csv;
}

TEST(SuitePart, RoundTripsThroughJson) {
  const Part p = partOf(twoByTwo(), Shard{2, 3});
  const Json j = partToJson(p);
  EXPECT_EQ(j["schema"], "gomalloc-compare-part");
  EXPECT_EQ(j["shard"]["index"], 2);
  EXPECT_EQ(j["matrix"]["traces"][1]["digest"], "00000000000000bb");
  EXPECT_EQ(j["matrix"]["variants"][1]["resolved"]["gogc"], 50);  // typed, as in replay reports
  EXPECT_EQ(j["runs"].size(), 3u);  // runs 1, 4, 7
  EXPECT_EQ(j["runs"][1]["run"], 4);
  const Part back = partFromJson(Json::parse(j.dump()));
  EXPECT_EQ(partToJson(back).dump(), j.dump());
  Json other = j;
  other["schema"] = "gomalloc-compare";
  EXPECT_THROW(partFromJson(other), std::runtime_error);
  Json broken = j;
  broken["runs"][0]["report"]["summary"].erase("events");
  try {
    partFromJson(broken);
    FAIL() << "accepted a part with a broken report";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("runs[0].report"), std::string::npos) << e.what();
  }
}

TEST(SuiteMerge, ThePartsGiveEveryRun) {
  const Matrix m = twoByTwo();
  std::vector<std::pair<std::string, Part>> parts;
  for (int i : {3, 1, 2}) parts.emplace_back("part-" + std::to_string(i) + ".json", partOf(m, Shard{i, 3}));
  ToolInfo tool;
  auto [merged, runs] = mergeParts(parts, &tool);
  EXPECT_EQ(tool.version, "1.0");
  EXPECT_EQ(runs.size(), 8u);
  std::vector<MatrixRun> all;
  for (size_t k = 0; k < m.runs(); k++) all.push_back(MatrixRun{k, reportOf(m, k)});
  EXPECT_EQ(suiteToJson(assembleSuite(merged, tool, runs)).dump(), suiteToJson(assembleSuite(m, tool, all)).dump());
}

TEST(SuiteMerge, MissingDuplicateAndMismatchedPartsAreNamed) {
  const Matrix m = twoByTwo();
  const Part p1 = partOf(m, Shard{1, 3}), p2 = partOf(m, Shard{2, 3}), p3 = partOf(m, Shard{3, 3});

  std::string msg = mergeMessage({{"p1.json", p1}, {"p3.json", p3}});
  EXPECT_NE(msg.find("part 2/3 missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1/3 (p1.json)"), std::string::npos) << msg;

  msg = mergeMessage({{"p1.json", p1}, {"p2.json", p2}, {"again.json", p2}, {"p3.json", p3}});
  EXPECT_NE(msg.find("again.json: part 2/3 again (p2.json is part 2/3 too)"), std::string::npos) << msg;

  msg = mergeMessage({{"p1.json", p1}, {"p2.json", partOf(m, Shard{2, 4})}});
  EXPECT_NE(msg.find("p2.json: part 2/4, but p1.json is part 1/3"), std::string::npos) << msg;

  Matrix otherGogc = m;
  otherGogc.resolved[1] = {{"gogc", "60"}};
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", partOf(otherGogc, Shard{2, 3})}, {"p3.json", p3}});
  EXPECT_NE(msg.find("p2.json: not a part of the same compare as p1.json: matrix.variants[1].resolved.gogc is 50 "
                     "there, 60 here"),
            std::string::npos)
      << msg;

  Matrix otherTrace = m;
  otherTrace.traces[1].digest = "00000000000000cc";
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", p2}, {"p3.json", partOf(otherTrace, Shard{3, 3})}});
  EXPECT_NE(msg.find("p3.json: not a part of the same compare as p1.json: matrix.traces[1].digest"), std::string::npos)
      << msg;

  Part newer = p2;
  newer.tool.version = "1.1";
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", newer}, {"p3.json", p3}});
  EXPECT_NE(msg.find("p2.json: not a part of the same compare as p1.json: tool.version is \"1.0\" there, \"1.1\" here"),
            std::string::npos)
      << msg;

  Part shortOne = p3;
  shortOne.runs.pop_back();
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", p2}, {"p3.json", shortOne}});
  EXPECT_NE(msg.find("p3.json: part 3/3 has 1 of its 2 runs"), std::string::npos) << msg;

  Part stray = p3;
  stray.runs.push_back(MatrixRun{0, reportOf(m, 0)});
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", p2}, {"p3.json", stray}});
  EXPECT_NE(msg.find("p3.json: run 0 belongs to part 1/3, not 3/3"), std::string::npos) << msg;

  Part wrongTrace = p2;
  wrongTrace.runs[0].report.trace.digest = "00000000000000dd";
  msg = mergeMessage({{"p1.json", p1}, {"p2.json", wrongTrace}, {"p3.json", p3}});
  EXPECT_NE(msg.find("p2.json: run 1 replayed a trace with digest 00000000000000dd, not a.json's 00000000000000aa"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace gomalloc::reports
