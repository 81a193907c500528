// compare: variant parsing, the child's arguments, interleaved runs, rows with medians, deltas and
// significance, and every renderer (the JSON both ways).
#include <gtest/gtest.h>

#include <regex>

#include "reports/compare.h"
#include "reports/render.h"
#include "tests/cli/cli_test_util.h"

namespace gomalloc::reports {

// Shared with gate_test.cpp and html_test.cpp (declared there): a small Go report, 1000 events, two size
// classes and the large row, one lock, four timeline points; and the same without the Go figures.
Report fakeReport(bool deterministic) {
  Report r;
  r.tool = ToolInfo{"gomalloc", "test", "go1.19.8"};
  r.trace.path = "t.json";
  r.trace.digest = "00000000000000aa";
  r.trace.events = 1000;
  r.config.backend = "go";
  r.config.procs = 4;
  r.config.deterministic = deterministic;
  r.config.touch = "pages";
  r.config.rssIntervalMs = 10;
  r.config.settings = {{"preset", "go1.19"}, {"gogc", "100"}, {"size_classes", "go1.19"}};
  r.summary.events = 1000;
  r.summary.allocs = 1000;
  r.summary.nsPerEvent = 100;
  r.summary.wallSeconds = 100e-6;
  r.summary.peakRssBytes = uint64_t{10} << 20;
  r.summary.peakRssScope = "replay";
  r.summary.gcCycles = 5;
  HeapSection h;
  h.peak.heapInuse = uint64_t{2} << 20;
  h.final.heapInuse = uint64_t{1} << 20;
  h.final.heapReleased = uint64_t{1} << 20;
  r.heap = h;
  auto row = [&](uint32_t cls, uint64_t size, uint64_t allocs, uint64_t hits, uint64_t refills) {
    ClassRow c;
    c.cls = cls;
    c.size = size;
    c.allocs = allocs;
    c.frees = allocs / 2;
    c.bytesRequested = allocs * (size ? size - 4 : 40000);
    GoClassFields g;
    g.fastHits = hits;
    g.refills = refills;
    g.refillFrom = {refills / 2, 0, 0, refills - refills / 2};
    g.bytesAllocated = allocs * (size ? size : 40960);
    g.spansInUse = 2;
    g.spansInUsePeak = 3;
    c.go = g;
    return c;
  };
  r.sizeClasses = {row(2, 16, 600, 540, 50), row(5, 48, 390, 300, 50), row(0, 0, 10, 0, 0)};
  r.locks = std::vector<LockRow>{LockRow{"mheap", 50, 1, 1000, 800, 5000, {}}};
  const replay::HeapFigures h0{}, h1{100, uint64_t{2} << 20, 0, 4096, uint64_t{2} << 20, 10};
  const uint64_t rss = r.summary.peakRssBytes;
  r.timeline = {TimelineRow{0, rss / 2, h0, "start"}, TimelineRow{0.5, rss * 3 / 4, std::nullopt, "sample"},
                TimelineRow{1.0, rss, h1, "gc"}, TimelineRow{2.0, rss, h1, "end"}};
  return r;
}

Report fakeSystemReport() {
  Report r = fakeReport(false);
  r.config.backend = "mimalloc";
  r.config.settings = {{"malloc", "libmimalloc.so.2"}};
  r.summary.gcCycles = 0;
  r.heap.reset();
  r.locks.reset();
  for (auto& c : r.sizeClasses) c.go.reset();
  for (auto& t : r.timeline) t.heap.reset();
  return r;
}

namespace {

using Json = nlohmann::ordered_json;

TEST(CompareVariant, ParsesNameAndSettings) {
  VariantSpec v = parseVariant("gogc50:gogc=50,mcentral=locked");
  EXPECT_EQ(v.name, "gogc50");
  EXPECT_EQ(v.allocator, "go");
  ASSERT_EQ(v.sets.size(), 2u);
  EXPECT_EQ(v.sets[0], (std::pair<std::string, std::string>{"gogc", "50"}));
  EXPECT_EQ(v.sets[1], (std::pair<std::string, std::string>{"mcentral", "locked"}));
  EXPECT_TRUE(parseVariant("plain").sets.empty());
}

TEST(CompareVariant, CommasInsideAListValueStayInTheValue) {
  VariantSpec v = parseVariant("few:size_classes=8,16,32768,gogc=200");
  ASSERT_EQ(v.sets.size(), 2u);
  EXPECT_EQ(v.sets[0].second, "8,16,32768");
  EXPECT_EQ(v.sets[1].second, "200");
}

TEST(CompareVariant, BadVariantsSayWhatIsWrong) {
  auto message = [](const char* text) {
    try {
      parseVariant(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(":gogc=50").find("needs a name"), std::string::npos);
  EXPECT_NE(message("x:nosuch=1").find("nosuch"), std::string::npos);
  EXPECT_NE(message("x:gogc=fast").find("gogc"), std::string::npos);
  EXPECT_NE(message("x y:gogc=5").find("letters, digits"), std::string::npos);
  EXPECT_NE(message("x:gogc").find("key=value"), std::string::npos);
}

TEST(CompareVariant, ChildArgumentsCarryTheSharedFlagsAndTheVariantsSettings) {
  CompareOptions o;
  o.trace = "trace.json";
  o.procs = 2;
  o.deterministic = true;
  o.touch = "full";
  VariantSpec v = parseVariant("g:gogc=50");
  v.configFile = "c.json";
  const std::vector<std::string> a = replayArgs(o, v, "/tmp/out.json");
  const std::vector<std::string> want = {"replay",   "trace.json", "--format", "json",   "-o",     "/tmp/out.json",
                                         "--quiet",  "--allocator", "go",      "--touch", "full",  "--procs",
                                         "2",        "--deterministic", "--config", "c.json", "--set", "gogc=50"};
  EXPECT_EQ(a, want);
}

TEST(CompareRun, RunsAreInterleavedRoundByRound) {
  CompareOptions o;
  o.repeat = 3;
  std::vector<std::pair<size_t, int>> calls;
  const std::vector<VariantSpec> vs = {parseVariant("a"), parseVariant("b"), parseVariant("c")};
  CompareResult c = runCompare(o, vs, ToolInfo{}, [&](size_t v, int round) {
    calls.emplace_back(v, round);
    return fakeReport(false);
  });
  const std::vector<std::pair<size_t, int>> want = {{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1},
                                                    {2, 1}, {0, 2}, {1, 2}, {2, 2}};
  EXPECT_EQ(calls, want);
  for (auto& v : c.variants) EXPECT_EQ(v.runs.size(), 3u);
}

TEST(CompareRun, ReportsOfAnotherTraceAreRefused) {
  CompareOptions o;
  const std::vector<VariantSpec> vs = {parseVariant("a"), parseVariant("b")};
  EXPECT_THROW(runCompare(o, vs, ToolInfo{},
                          [&](size_t v, int) {
                            Report r = fakeReport(false);
                            if (v == 1) r.trace.digest = "00000000000000bb";
                            return r;
                          }),
               std::runtime_error);
}

CompareResult twoVariants(std::vector<Report> a, std::vector<Report> b) {
  CompareResult c;
  c.options.trace = "t.json";
  c.options.repeat = int(a.size());
  c.variants = {VariantRuns{parseVariant("base"), std::move(a)}, VariantRuns{parseVariant("new:gogc=50"), std::move(b)}};
  return c;
}

const Row& rowOf(const std::vector<Row>& rows, const std::string& name) {
  for (auto& r : rows)
    if (r.metric.name == name) return r;
  throw std::runtime_error("no row " + name);
}

std::vector<Report> runs(std::initializer_list<double> ns, bool det = false) {
  std::vector<Report> out;
  for (double x : ns) {
    out.push_back(fakeReport(det));
    out.back().summary.nsPerEvent = x;
  }
  return out;
}

TEST(CompareRows, ClearlySlowerRepeatedTimingsAreSignificant) {
  CompareResult c = twoVariants(runs({100, 101, 99, 102, 98}), runs({120, 121, 119, 122, 118}));
  const auto rows = summarize(c);
  const Row& ns = rowOf(rows, "ns_per_event");
  EXPECT_TRUE(ns.noisy);
  EXPECT_DOUBLE_EQ(ns.cells[0].spread.median, 100);
  EXPECT_DOUBLE_EQ(ns.cells[1].spread.median, 120);
  ASSERT_TRUE(ns.cells[1].relative);
  EXPECT_NEAR(*ns.cells[1].relative, 0.2, 1e-12);
  EXPECT_TRUE(ns.cells[1].tested);
  EXPECT_TRUE(ns.cells[1].significant);
  EXPECT_EQ(deltaText(ns, 1), "+20.0% (p=0.008)");
  EXPECT_EQ(deltaText(ns, 0), "");
}

TEST(CompareRows, OverlappingTimingsAreMarkedWithATilde) {
  CompareResult c = twoVariants(runs({100, 110, 90, 105, 95}), runs({101, 111, 91, 104, 96}));
  const auto rows = summarize(c);
  const Row& ns = rowOf(rows, "ns_per_event");
  EXPECT_FALSE(ns.cells[1].significant);
  EXPECT_EQ(deltaText(ns, 1).substr(0, 4), "~ (p");
}

TEST(CompareRows, SingleRunsAreNotTested) {
  CompareResult c = twoVariants(runs({100}), runs({150}));
  const auto rows = summarize(c);
  const Row& ns = rowOf(rows, "ns_per_event");
  EXPECT_FALSE(ns.cells[1].tested);
  EXPECT_EQ(deltaText(ns, 1), "+50.0% (n=1)");
}

TEST(CompareRows, DeterministicModelFiguresAreExact) {
  auto a = runs({100}, true), b = runs({100}, true);
  b[0].summary.gcCycles = 7;
  b[0].heap->peak.heapInuse = uint64_t{3} << 20;
  CompareResult c = twoVariants(a, b);
  const auto rows = summarize(c);
  const Row& gc = rowOf(rows, "gc_cycles");
  EXPECT_FALSE(gc.noisy);
  EXPECT_TRUE(gc.cells[1].significant);
  EXPECT_EQ(deltaText(gc, 1), "+40.0%");
  EXPECT_EQ(deltaText(rowOf(rows, "peak_heap_inuse"), 1), "+50.0%");
  EXPECT_TRUE(rowOf(rows, "ns_per_event").noisy);  // timings stay noisy
}

TEST(CompareRows, GoOnlyMetricsAreAbsentForOtherBackends) {
  const auto rows = summarize(twoVariants(runs({100}), {fakeSystemReport()}));
  const Row& gc = rowOf(rows, "gc_cycles");
  EXPECT_TRUE(gc.cells[0].present);
  EXPECT_FALSE(gc.cells[1].present);
  EXPECT_EQ(deltaText(gc, 1), "");
  EXPECT_TRUE(rowOf(rows, "peak_rss").cells[1].present);
}

TEST(CompareRows, PerClassHitRatesFollowTheCatalogue) {
  const auto rows = summarize(twoVariants(runs({100}), runs({100})));
  const Row& r16 = rowOf(rows, "hit_rate.16B");
  EXPECT_DOUBLE_EQ(r16.cells[0].spread.median, 0.9);
  EXPECT_NO_THROW(rowOf(rows, "hit_rate.48B"));
  EXPECT_EQ(rows.back().metric.name, "hit_rate.48B");
}

TEST(CompareRender, TableNamesVariantsMetricsAndTheTestUsed) {
  const std::string t = renderCompareTable(twoVariants(runs({100, 101, 99, 102, 98}), runs({120, 121, 119, 122, 118})));
  EXPECT_NE(t.find("base (baseline)"), std::string::npos);
  EXPECT_NE(t.find("vs base"), std::string::npos);
  EXPECT_NE(t.find("new: allocator go, gogc=50"), std::string::npos);
  EXPECT_NE(t.find("+20.0% (p=0.008)"), std::string::npos);
  EXPECT_NE(t.find("Mann-Whitney"), std::string::npos);
  for (const char* m : {"ns_per_event", "wall_time", "peak_rss", "peak_heap_inuse", "heap_released", "gc_cycles",
                        "hit_rate", "refills.grown", "lock_wait", "internal_fragmentation"})
    EXPECT_NE(t.find(m), std::string::npos) << m;
}

TEST(CompareRender, MarkdownRowsAllHaveTheHeadersColumns) {
  const std::string md = renderCompareMarkdown(twoVariants(runs({100, 110, 90}), runs({101, 111, 91})));
  std::string why;
  EXPECT_EQ(gomalloc::testing::markdownTableColumns(md, &why), 4) << why;  // metric, base, new, vs base
  EXPECT_NE(md.find("\\~ (p="), std::string::npos);  // the tilde is escaped, never strikethrough
}

TEST(CompareRender, CsvHasOneLinePerMetricAndVariant) {
  CompareResult c = twoVariants(runs({100, 101}), runs({120, 121}));
  const std::string csv = renderCompareCsv(c);
  const size_t lines = size_t(std::count(csv.begin(), csv.end(), '\n'));
  EXPECT_EQ(lines, 1 + 2 * summarize(c).size());
  EXPECT_EQ(csv.rfind("metric,field,unit,direction,variant,n,median", 0), 0u);
  EXPECT_NE(csv.find("ns_per_event,summary.ns_per_event,ns,lower,new,2,120.5,"), std::string::npos);
}

TEST(CompareJson, RoundTripsVariantsAndRuns) {
  CompareResult c = twoVariants(runs({100, 101, 99}), runs({120, 121, 119}));
  c.variants[1].spec.configFile = "x.json";
  const Json j = compareToJson(c);
  EXPECT_EQ(j["schema"], "gomalloc-compare");
  EXPECT_EQ(j["baseline"], "base");
  EXPECT_EQ(j["variants"][1]["reports"].size(), 3u);
  EXPECT_EQ(j["variants"][1]["reports"][0]["schema"], "gomalloc-report");
  const CompareResult back = compareFromJson(Json::parse(j.dump()));
  ASSERT_EQ(back.variants.size(), 2u);
  EXPECT_EQ(back.variants[1].spec.name, "new");
  EXPECT_EQ(back.variants[1].spec.configFile, "x.json");
  EXPECT_EQ(back.variants[1].spec.sets, c.variants[1].spec.sets);
  EXPECT_EQ(back.options.repeat, 3);
  EXPECT_EQ(renderCompareTable(back), renderCompareTable(c));
}

TEST(CompareJson, BadInputNamesTheField) {
  Json j = compareToJson(twoVariants(runs({100}), runs({120})));
  auto message = [](const Json& x) {
    try {
      compareFromJson(x);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Json wrongSchema = j;
  wrongSchema["schema"] = "gomalloc-report";
  EXPECT_NE(message(wrongSchema).find("schema"), std::string::npos);
  Json noRuns = j;
  noRuns["variants"][1]["reports"] = Json::array();
  EXPECT_NE(message(noRuns).find("variants[1].reports"), std::string::npos);
  Json badRun = j;
  badRun["variants"][0]["reports"][0]["summary"].erase("events");
  EXPECT_NE(message(badRun).find("variants[0].reports[0]"), std::string::npos);
  EXPECT_NE(message(badRun).find("summary.events"), std::string::npos);
}

}  // namespace
}  // namespace gomalloc::reports
