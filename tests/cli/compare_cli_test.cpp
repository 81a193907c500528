// gomalloc compare, run as a user runs it: variants in child processes, every format, bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

TEST(CompareCli, GoGogc50AndMimallocOnABundledTrace) {
  ScratchDir dir("compare-table");
  const std::string other = otherAllocator();
  RunResult r = gomalloc("compare examples/web.json --allocator go --variant gogc50:gogc=50 --allocator " + other + " --quiet", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(other + ": allocator " + other), std::string::npos) << r.out;
  for (const char* s : {"go (baseline)", "gogc50", "vs go", "gogc50: allocator go, gogc=50",
                        "ns_per_event", "wall_time", "peak_rss", "peak_heap_inuse", "heap_released", "gc_cycles",
                        "hit_rate", "refills.grown", "lock_wait", "internal_fragmentation", "hit_rate.16B"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_NE(r.out.find("(n=1)"), std::string::npos);  // single runs: not tested
}

TEST(CompareCli, RepeatFiveMarksSignificance) {
  ScratchDir dir("compare-repeat");
  // larson: gogc=50 runs GC cycles where the default runs none, on every run.
  RunResult r = gomalloc("compare examples/larson.gmt --allocator go --variant gogc50:gogc=50 --repeat 5 --quiet "
                         "--format json -o " + (dir / "c.json").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(slurp(dir / "c.json"));
  EXPECT_EQ(j["schema"], "gomalloc-compare");
  EXPECT_EQ(j["options"]["repeat"], 5);
  ASSERT_EQ(j["variants"].size(), 2u);
  for (auto& v : j["variants"]) EXPECT_EQ(v["reports"].size(), 5u);
  bool sawTilde = false, sawGc = false;
  for (auto& m : j["metrics"]) {
    const Json& cell = m["variants"][1];
    if (!cell.contains("text")) continue;
    const std::string text = cell["text"];
    if (text.rfind("~ (p=", 0) == 0) sawTilde = true;
    if (m["name"] == "gc_cycles") {
      sawGc = true;
      EXPECT_TRUE(cell["significant"].get<bool>()) << text;
      EXPECT_LT(cell["p_value"].get<double>(), 0.05);
      EXPECT_NE(text.find("(p=0.008)"), std::string::npos) << text;
    }
  }
  EXPECT_TRUE(sawGc);
  EXPECT_TRUE(sawTilde);  // e.g. refills from partial unswept spans: 0 in every run of both
}

TEST(CompareCli, EveryFormatAndAConfigFileVariant) {
  ScratchDir dir("compare-formats");
  spit(dir / "low.json", R"({"name": "lowgc", "gogc": 25})");
  spit(dir / "locked.json", R"({"mcentral": "locked"})");
  const std::string base = "compare examples/tiny.json --deterministic --quiet --allocator go --config " +
                           (dir / "low.json").string() + " --config " + (dir / "locked.json").string();
  RunResult table = gomalloc(base, dir);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("lowgc: allocator go, config"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("locked: allocator go, config"), std::string::npos);  // the file's stem

  RunResult csv = gomalloc(base + " --format csv", dir);
  ASSERT_EQ(csv.code, 0);
  EXPECT_EQ(csv.out.rfind("metric,field,unit,direction,variant,n,median", 0), 0u);
  EXPECT_NE(csv.out.find(",lowgc,1,"), std::string::npos);

  RunResult md = gomalloc(base + " --format markdown", dir);
  ASSERT_EQ(md.code, 0);
  std::string why;
  EXPECT_EQ(markdownTableColumns(md.out, &why), 6) << why;  // metric, go, lowgc, vs, locked, vs

  const auto html = dir / "c.html";
  RunResult h = gomalloc(base + " --format html -o " + html.string(), dir);
  ASSERT_EQ(h.code, 0);
  const std::string page = slurp(html);
  EXPECT_NE(page.find("data-series=\"rss:lowgc\""), std::string::npos);
  // Written atomically: nothing else is left in the directory.
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(CompareCli, BadInputExitsTwoAndSaysWhy) {
  ScratchDir dir("compare-bad");
  spit(dir / "broken.json", "{\"gogc\": ");
  spit(dir / "dup.json", R"({"gogc": 50, "gogc": 60})");
  spit(dir / "huge.json", R"({"gogc": 1e400})");
  spit(dir / "wrapped.json", R"({"gogc": 18446744073709551615})");
  spit(dir / "type.json", R"({"gogc": 50.5})");
  spit(dir / "name.json", R"({"name": 7, "gogc": 50})");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"compare nope.json --allocator go", "cannot read trace nope.json"},
      {"compare examples/bad-syntax.json --allocator go --variant x:gogc=50", "bad-syntax.json"},
      {"compare examples/tiny.json --variant x:gogc=fast", "--variant x:gogc=fast"},
      {"compare examples/tiny.json --variant x:nosuch=1", "nosuch"},
      {"compare examples/tiny.json --config missing.json", "missing.json"},
      {"compare examples/tiny.json --config " + (dir / "broken.json").string(),
       "config file " + (dir / "broken.json").string() + ": not valid JSON: line 1, column 10"},
      {"compare examples/tiny.json --config " + (dir / "dup.json").string(),
       "config file " + (dir / "dup.json").string() + ": line 1, column 14: duplicate key \"gogc\" in the top-level object"},
      {"compare examples/tiny.json --config " + (dir / "huge.json").string(),
       "config file " + (dir / "huge.json").string() + ": not valid JSON: line 1, column 10: number 1e400 is out of range"},
      {"compare examples/tiny.json --config " + (dir / "wrapped.json").string(),
       "setting gogc=18446744073709551615: expected an integer"},  // not -1 (gogc=off)
      {"compare examples/tiny.json --config " + (dir / "type.json").string(), "config file " + (dir / "type.json").string() +
       ": gogc has a value of the wrong type"},
      {"compare examples/tiny.json --config " + (dir / "name.json").string(), "\"name\" must be a non-empty string"},
      {"compare examples/tiny.json --config /dev/zero", "config file /dev/zero: larger than 16 MiB, the size limit for config files"},
      {"compare examples/tiny.json --config " + dir.path().string(), "config file " + dir.path().string() + ": is a directory"},
      // replay reads --config the same way.
      {"replay examples/tiny.json --config " + (dir / "dup.json").string(), "duplicate key \"gogc\""},
      {"replay examples/tiny.json --config /dev/zero", "config file /dev/zero: larger than 16 MiB"},
      {"compare examples/tiny.json", "compare needs variants"},
      {"compare examples/tiny.json --allocator go --variant go:gogc=50", "two variants are named 'go'"},
      {"compare examples/tiny.json --allocator dlmalloc", "dlmalloc"},
      {"compare examples/tiny.json --allocator go --repeat 0", "repeat"},
  };
  for (auto& c : cases) {
    RunResult r = gomalloc(c.args + " --quiet", dir);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
}

// A compare JSON (one trace or a suite) without what differs from run to run: timing metrics' rows and every
// report's time- and kernel-dependent fields (reports::stripVolatile's list, the --no-timings fields).
Json deterministicPart(Json j) {
  auto one = [](Json& c) {
    Json kept = Json::array();
    for (auto& m : c["metrics"])
      if (m["kind"] == "model") kept.push_back(m);
    c["metrics"] = kept;
    for (auto& v : c["variants"])
      for (auto& r : v["reports"]) {
        for (const char* k : {"wall_seconds", "ns_per_event", "events_per_second", "load_seconds", "peak_rss_bytes",
                              "peak_rss_scope", "rss_start_bytes", "rss_end_bytes"})
          r["summary"].erase(k);
        r.erase("timeline");
        r.erase("latency");
        r.erase("allocator_stats");
        for (auto& p : r["procs"])
          for (const char* k : {"busy_seconds", "barrier_wait_seconds", "dependency_wait_seconds"}) p.erase(k);
        if (r.contains("locks"))
          for (auto& l : r["locks"])
            for (const char* k : {"wait_ns", "max_wait_ns", "hold_ns"}) l.erase(k);
      }
  };
  if (j["schema"] == "gomalloc-compare-suite") {
    for (auto& c : j["results"]) one(c);
    Json kept = Json::array();
    for (auto& m : j["summary"]["metrics"])
      if (m["kind"] == "model") kept.push_back(m);
    j["summary"]["metrics"] = kept;
  } else {
    one(j);
  }
  return j;
}

const std::string kSuite = "compare examples/tiny.json examples/web.json --allocator go --variant gogc50:gogc=50 "
                           "--repeat 2 --deterministic --quiet";

TEST(CompareCli, ThreeShardsInSeparateProcessesMergeIntoTheSingleRun) {
  ScratchDir dir("compare-shards");
  const std::string d = dir.path().string();
  RunResult single = gomalloc(kSuite + " --format json -o " + d + "/single.json", dir);
  ASSERT_EQ(single.code, 0) << single.err;
  // The three shards at once, as three processes (a job array would run them on three machines).
  const std::string exe = "'" GOMALLOC_BINARY "' ";
  std::string jobs;
  for (int i = 1; i <= 3; i++)
    jobs += exe + kSuite + " --shard " + std::to_string(i) + "/3 -o " + d + "/part-" + std::to_string(i) + ".json & ";
  RunResult shards = runShell("(" + jobs + "wait)", dir);
  ASSERT_EQ(shards.code, 0) << shards.err;
  EXPECT_TRUE(shards.err.empty()) << shards.err;
  for (int i = 1; i <= 3; i++) {
    const Json part = Json::parse(slurp(dir / ("part-" + std::to_string(i) + ".json")));
    EXPECT_EQ(part["schema"], "gomalloc-compare-part");
    EXPECT_EQ(part["shard"]["index"], i);
    EXPECT_EQ(part["matrix"]["runs"], 8);  // 2 traces x 2 rounds x 2 variants
    EXPECT_EQ(part["runs"].size(), i == 3 ? 2u : 3u);
  }
  // Any order of the parts.
  RunResult merged = gomalloc("compare --merge " + d + "/part-3.json " + d + "/part-1.json " + d +
                                  "/part-2.json --format json -o " + d + "/merged.json",
                              dir);
  ASSERT_EQ(merged.code, 0) << merged.err;
  const Json a = Json::parse(slurp(dir / "single.json")), b = Json::parse(slurp(dir / "merged.json"));
  EXPECT_EQ(a["schema"], "gomalloc-compare-suite");
  ASSERT_EQ(a["results"].size(), 2u);
  EXPECT_EQ(deterministicPart(a).dump(1), deterministicPart(b).dump(1));
  // The timings are pooled as one run pools them: every run of every variant, in round order.
  for (size_t t = 0; t < 2; t++)
    for (size_t v = 0; v < 2; v++) EXPECT_EQ(b["results"][t]["variants"][v]["reports"].size(), 2u);

  // The other formats render the merge as they render a run: the table has the per-trace tables and the summary.
  RunResult table = gomalloc("compare --merge " + d + "/part-1.json " + d + "/part-2.json " + d + "/part-3.json", dir);
  ASSERT_EQ(table.code, 0) << table.err;
  for (const char* s : {"trace: examples/tiny.json", "trace: examples/web.json", "summary: geometric mean over 2 traces",
                        "gogc50 vs go", "gc_cycles"})
    EXPECT_NE(table.out.find(s), std::string::npos) << s << "\n" << table.out;
}

TEST(CompareCli, OneTraceShardsMergeIntoTheOneTraceReport) {
  ScratchDir dir("compare-shards-one");
  const std::string d = dir.path().string();
  const std::string base = "compare examples/tiny.json --allocator go --variant gogc50:gogc=50 --deterministic --quiet";
  ASSERT_EQ(gomalloc(base + " --format json -o " + d + "/single.json", dir).code, 0);
  for (int i = 1; i <= 2; i++)
    ASSERT_EQ(gomalloc(base + " --shard " + std::to_string(i) + "/2 -o " + d + "/p" + std::to_string(i) + ".json", dir).code, 0);
  RunResult merged = gomalloc("compare --merge " + d + "/p1.json " + d + "/p2.json --format json", dir);
  ASSERT_EQ(merged.code, 0) << merged.err;
  const Json a = Json::parse(slurp(dir / "single.json")), b = Json::parse(merged.out);
  EXPECT_EQ(b["schema"], "gomalloc-compare");  // one trace: the compare schema as before
  EXPECT_EQ(deterministicPart(a).dump(1), deterministicPart(b).dump(1));
}

TEST(CompareCli, BadShardsAndPartsExitTwoNamingTheFile) {
  ScratchDir dir("compare-shards-bad");
  const std::string d = dir.path().string();
  const std::string base = "compare examples/tiny.json --allocator go --variant gogc50:gogc=50 --deterministic --quiet";
  for (int i = 1; i <= 3; i++)
    ASSERT_EQ(gomalloc(base + " --shard " + std::to_string(i) + "/3 -o " + d + "/p" + std::to_string(i) + ".json", dir).code, 0);
  ASSERT_EQ(gomalloc(base + " --repeat 2 --shard 3/3 -o " + d + "/other.json", dir).code, 0);
  ASSERT_EQ(gomalloc(base + " --shard 2/4 -o " + d + "/four.json", dir).code, 0);
  ASSERT_EQ(gomalloc(base + " --format json -o " + d + "/report.json", dir).code, 0);  // a compare report, not a part
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {base + " --shard 0/3", "compare: --shard 0/3: I must be from 1 to 3 (shards are numbered from 1)"},
      {base + " --shard 4/3", "compare: --shard 4/3: I must be from 1 to 3"},
      {base + " --shard 1-3", "compare: --shard 1-3: expected I/N"},
      {base + " --shard 1/3 --format table", "compare: --shard writes a part file (JSON)"},
      {"compare --merge " + d + "/p1.json " + d + "/p3.json", "compare: --merge: part 2/3 missing; given: 1/3 (" + d + "/p1.json), 3/3"},
      {"compare --merge " + d + "/p1.json " + d + "/p2.json " + d + "/p2.json " + d + "/p3.json",
       "compare: --merge: " + d + "/p2.json: part 2/3 again (" + d + "/p2.json is part 2/3 too)"},
      {"compare --merge " + d + "/p1.json " + d + "/p2.json " + d + "/other.json",
       "compare: --merge: " + d + "/other.json: not a part of the same compare as " + d +
           "/p1.json: matrix.options.repeat is 1 there, 2 here"},
      {"compare --merge " + d + "/p1.json " + d + "/four.json", "compare: --merge: " + d + "/four.json: part 2/4, but"},
      {"compare --merge " + d + "/p1.json " + d + "/nope.json", d + "/nope.json"},
      {"compare --merge " + d + "/report.json",
       "compare: --merge: " + d + "/report.json: schema 'gomalloc-compare' is not gomalloc-compare-part"},
      {"compare --merge " + d + "/p1.json --allocator go", "compare: --merge takes the runs and their settings from the part files; --allocator"},
  };
  for (auto& c : cases) {
    RunResult r = gomalloc(c.args, dir);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
}

}  // namespace
}  // namespace gomalloc::testing
