// gomalloc gate, run as CI runs it: exit codes 0 / 1 / 2, the metric named, JUnit and markdown outputs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

// A deterministic replay report of examples/web.json in dir/name.
std::string replayReport(const ScratchDir& dir, const std::string& name, const std::string& trace = "examples/web.json") {
  const std::string path = (dir / name).string();
  RunResult r = gomalloc("replay " + trace + " --deterministic --format json --quiet -o " + path, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return path;
}

// A copy of report in dir/name with f applied to its JSON.
template <typename F>
std::string changed(const ScratchDir& dir, const std::string& report, const std::string& name, F f) {
  Json j = Json::parse(slurp(report));
  f(j);
  const std::string path = (dir / name).string();
  spit(path, j.dump(2));
  return path;
}

TEST(GateCli, AnUnchangedReportPasses) {
  ScratchDir dir("gate-same");
  const std::string base = replayReport(dir, "base.json");
  RunResult r = gomalloc("gate " + base + " " + base, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("gomalloc gate: PASS"), std::string::npos) << r.out;
  // Another deterministic replay of the same trace: the model figures are identical, timings are not gated.
  const std::string again = replayReport(dir, "again.json");
  r = gomalloc("gate " + base + " " + again, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("gc_cycles"), std::string::npos);
  EXPECT_NE(r.out.find("timing metric: gated with 3+ runs"), std::string::npos);
}

TEST(GateCli, PeakRssUpTenPercentFailsAFivePercentRule) {
  ScratchDir dir("gate-rss");
  const std::string base = replayReport(dir, "base.json");
  const std::string cur = changed(dir, base, "cur.json", [](Json& j) {
    j["summary"]["peak_rss_bytes"] = uint64_t(j["summary"]["peak_rss_bytes"].get<double>() * 1.10);
  });
  RunResult r = gomalloc("gate " + base + " " + cur + " --max peak_rss=5%", dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("gomalloc gate: FAIL"), std::string::npos);
  EXPECT_NE(r.out.find("peak_rss regressed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+10.0%"), std::string::npos) << r.out;
  // A rules file with a looser limit passes.
  spit(dir / "rules.json", R"({"rules": [{"metric": "peak_rss", "max": "12%"}]})");
  r = gomalloc("gate " + base + " " + cur + " --rules " + (dir / "rules.json").string(), dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  // GC cycles up by one fail the deterministic default (+0), and +2 allows them.
  const std::string gc = changed(dir, base, "gc.json", [](Json& j) {
    j["summary"]["gc_cycles"] = j["summary"]["gc_cycles"].get<int>() + 1;
  });
  r = gomalloc("gate " + base + " " + gc, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("gc_cycles regressed"), std::string::npos) << r.out;
  EXPECT_EQ(gomalloc("gate " + base + " " + gc + " --max gc_cycles=+2", dir).code, 0);
}

TEST(GateCli, JunitAndMarkdownOutputsValidate) {
  ScratchDir dir("gate-junit");
  const std::string base = replayReport(dir, "base.json");
  const std::string cur = changed(dir, base, "cur.json", [](Json& j) {
    j["summary"]["peak_rss_bytes"] = j["summary"]["peak_rss_bytes"].get<uint64_t>() * 2;
  });
  const auto junit = dir / "gate.xml", md = dir / "gate.md";
  RunResult r = gomalloc("gate " + base + " " + cur + " --max peak_rss=5% --format markdown -o " + md.string() +
                             " --junit " + junit.string(),
                         dir);
  EXPECT_EQ(r.code, 1) << r.err;
  const std::string x = slurp(junit);
  std::string why;
  EXPECT_TRUE(wellFormedXml(x, &why)) << why << "\n" << x;
  EXPECT_NE(x.find("<testsuites name=\"gomalloc gate\""), std::string::npos);
  EXPECT_NE(x.find("failures=\"1\""), std::string::npos);
  EXPECT_NE(x.find("<testcase classname=\"gomalloc.gate\" name=\"peak_rss\">"), std::string::npos);
  EXPECT_NE(x.find("<failure type=\"regression\" message=\"peak_rss regressed"), std::string::npos);
  const std::string m = slurp(md);
  EXPECT_EQ(m.rfind("### gomalloc gate: FAIL", 0), 0u);
  EXPECT_EQ(markdownTableColumns(m, &why), 9) << why << "\n" << m;
  EXPECT_NE(m.find("- **peak_rss regressed"), std::string::npos);
}

TEST(GateCli, MalformedOrMismatchedReportsExitTwo) {
  ScratchDir dir("gate-bad");
  const std::string base = replayReport(dir, "base.json");
  spit(dir / "garbage.json", "{\"schema\": \"gomalloc-report\", ");
  spit(dir / "other.json", R"({"hello": "world"})");
  const std::string noField = changed(dir, base, "nofield.json", [](Json& j) { j["summary"].erase("allocs"); });
  const std::string steady = replayReport(dir, "steady.json", "examples/steady.jsonl");
  const std::string gogc = changed(dir, base, "gogc.json", [](Json& j) { j["config"]["settings"]["gogc"] = "50"; });
  const std::string concurrent = changed(dir, base, "conc.json", [](Json& j) { j["config"]["deterministic"] = false; });
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {base + " " + (dir / "garbage.json").string(), "garbage.json: not valid JSON"},
      {base + " " + (dir / "missing.json").string(), "missing.json"},
      {(dir / "other.json").string() + " " + base, "other.json: not a gomalloc report"},
      {base + " " + noField, "gate: " + noField + ": summary.allocs: missing"},
      {base + " " + steady, "different traces"},
      {base + " " + gogc, "gogc: 100 vs 50"},
      {base + " " + concurrent, "--deterministic vs concurrent"},
      {base + " " + base + " --max peak_rs=5%", "unknown metric 'peak_rs'"},
      {base + " " + base + " --max peak_rss=five", "limit 'five'"},
      {base + " " + base + " --rules " + (dir / "nope.json").string(), "nope.json"},
      {base + " " + base + " --variant go", "neither"},
  };
  for (auto& c : cases) {
    RunResult r = gomalloc("gate " + c.args, dir);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << "\n" << r.err;
  }
  // Settings may differ when asked.
  EXPECT_NE(gomalloc("gate " + base + " " + gogc + " --allow-settings", dir).code, 2);
}

// Reports are checked against their schema (docs/report.md, "Schema") and read with a size limit: anything
// wrong is exit 2 with the file and the field or the line and column.
TEST(GateCli, InputsAreCheckedAgainstTheSchema) {
  ScratchDir dir("gate-schema");
  const std::string base = replayReport(dir, "base.json");
  const std::string text = slurp(base);
  auto edited = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string t = text;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    spit(dir / name, t);
    return (dir / name).string();
  };
  const std::string noHeap = changed(dir, base, "noheap.json", [](Json& j) { j.erase("heap"); });
  const std::string noClasses = changed(dir, base, "noclasses.json", [](Json& j) { j["size_classes"] = Json::array(); });
  const std::string noLocks = changed(dir, base, "nolocks.json", [](Json& j) { j.erase("locks"); });
  const std::string events = changed(dir, base, "events.json", [](Json& j) { j["summary"]["events"] = "5000"; });
  const std::string backend = changed(dir, base, "backend.json", [](Json& j) { j["config"]["backend"] = "glibc"; });
  const std::string dup = edited("dup.json", "{", "{\n  \"heap\": {},");
  const std::string overflow = edited("overflow.json", "\"events\": 5000,", "\"events\": 1e400,");
  spit(dir / "duprules.json", R"({"rules": [], "rules": []})");
  const std::string duprules = (dir / "duprules.json").string();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {base + " " + noHeap, "gate: " + noHeap + ": heap: missing (required for the go backend)"},
      {noClasses + " " + base, "gate: " + noClasses + ": size_classes: empty, but summary.allocs is"},
      {base + " " + noLocks, "gate: " + noLocks + ": locks: missing (required for the go backend)"},
      {base + " " + events, "gate: " + events + ": summary.events: expected a non-negative integer, found a string \"5000\""},
      {base + " " + backend, "gate: " + backend + ": config.backend: 'glibc' is not one of go, system"},
      {base + " " + dup, fmt::format("gate: {}: line {}, column 3: duplicate key \"heap\" in the top-level object", dup,
                                     std::count(text.begin(), text.begin() + long(text.find("\n  \"heap\"")), '\n') + 3)},
      {base + " " + overflow, "gate: " + overflow + ": not valid JSON: line 13, column 15: number 1e400 is out of range"},
      {base + " /dev/zero", "gate: /dev/zero: larger than 256 MiB, the size limit for reports"},
      {base + " " + dir.path().string(), "gate: " + dir.path().string() + ": is a directory"},
      {base + " " + base + " --rules " + duprules, "gate: rules file " + duprules + ": line 1, column 15: duplicate key \"rules\""},
      {base + " " + base + " --rules /dev/zero", "gate: rules file /dev/zero: larger than 16 MiB, the size limit for rules files"},
  };
  for (auto& c : cases) {
    RunResult r = gomalloc("gate " + c.args, dir);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err.rfind("gomalloc: " + c.message, 0), 0u) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
  // A report through a pipe is read like a file.
  RunResult r = runShell("cat '" + base + "' | '" GOMALLOC_BINARY "' gate " + base + " /dev/fd/4 4<&0", dir);
  EXPECT_EQ(r.code, 0) << r.err;
}

// Every backend's reports pass the schema: gate accepts each against itself; --no-timings reports pass it too,
// and the gate then says it needs the timings they leave out.
TEST(GateCli, EveryBackendsReportsPassTheSchema) {
  ScratchDir dir("gate-backends");
  for (const char* a : {"go", "system", "null", "mimalloc", "jemalloc", "tcmalloc"}) {
    const bool preloaded = std::string(a) != "go" && std::string(a) != "system" && std::string(a) != "null";
    if (preloaded && kSanitized) continue;
    for (const char* mode : {"--deterministic", "", "--no-timings"}) {
      const std::string out = (dir / fmt::format("{}{}.json", a, mode)).string();
      RunResult rr = gomalloc(fmt::format("replay examples/web.json --allocator {} {} --format json --quiet -o {}", a, mode, out), dir);
      if (preloaded && rr.code != 0 && rr.err.find("not installed") != std::string::npos) break;
      ASSERT_EQ(rr.code, 0) << a << " " << mode << "\n" << rr.err;
      RunResult g = gomalloc("gate " + out + " " + out, dir);
      EXPECT_EQ(g.code, 0) << a << " " << mode << "\n" << g.err;
      if (std::string(mode) == "--no-timings") {  // gated without its timing rules, and said so
        EXPECT_NE(g.out.find("timing rules do not apply"), std::string::npos) << a << "\n" << g.out;
      }
    }
  }
}

TEST(GateCli, ReadsCompareReports) {
  ScratchDir dir("gate-compare");
  const std::string cmp = (dir / "cmp.json").string();
  RunResult c = gomalloc("compare examples/web.json --allocator go --variant gogc50:gogc=50 --repeat 3 --deterministic "
                         "--quiet --format json -o " + cmp,
                         dir);
  ASSERT_EQ(c.code, 0) << c.err;
  RunResult r = gomalloc("gate " + cmp + " " + cmp, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("(variant go), 3 runs"), std::string::npos) << r.out;
  // With three runs a side, timings are tested (and three runs can never be significant at 5%).
  EXPECT_NE(r.out.find("ns_per_event"), std::string::npos);
  r = gomalloc("gate " + cmp + " " + cmp + " --current-variant gogc50", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("gogc: 100 vs 50"), std::string::npos) << r.err;
  // web.json's heap stays below the first GC goal either way, but with pacer=go1.19 GOGC=50's trigger (goal
  // less the runway) is below its peak: two more cycles.
  r = gomalloc("gate " + cmp + " " + cmp + " --current-variant gogc50 --allow-settings --max gc_cycles=+2", dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  r = gomalloc("gate " + cmp + " " + cmp + " --variant nope", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no variant 'nope' (it has go, gogc50)"), std::string::npos) << r.err;
  // A replay report against a compare report's baseline variant.
  const std::string single = replayReport(dir, "single.json");
  r = gomalloc("gate " + cmp + " " + single, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace gomalloc::testing
