// Issue 14, as a user meets it: outputs are checked before any work, exit 1 means a regression and nothing else,
// every message starts "gomalloc: COMMAND: ", gate reads --no-timings reports and wants units, the JSON outputs
// carry schema and version, and flags that do not apply are refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

std::string replayJson(const ScratchDir& dir, const std::string& name, const std::string& extra = "") {
  const std::string out = (dir / name).string();
  RunResult r = gomalloc("replay examples/tiny.json --quiet --deterministic --format json -o " + out + " " + extra, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return out;
}

TEST(Consistency, EveryOutputIsCheckedBeforeAnyInputIsRead) {
  ScratchDir dir("ux-outputs");
  const std::string base = replayJson(dir, "b.json");
  // The inputs do not exist: a message about the output proves it was checked first.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"replay", "replay missing.gmt -o nodir/r.json"},
      {"replay", "replay missing.gmt --format html -o nodir/r.html"},
      {"compare", "compare missing.gmt --allocator go -o nodir/x"},
      {"gate", "gate missing.json missing2.json -o nodir/g.txt"},
      {"gate", "gate " + base + " " + base + " --junit nodir/g.xml"},
      {"fidelity", "fidelity missing.gmt -o nodir/f.json"},
      {"gen", "gen web -o nodir/w.gmt"},
      {"convert", "convert missing.json nodir/c.gmt"},
      {"import", "import heaptrack missing.ht -o nodir/i.gmt"},
  };
  for (auto& [cmd, args] : cases) {
    RunResult r = gomalloc(args, dir);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "gomalloc: " + cmd + ": cannot write nodir/")) << args << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "the directory nodir does not exist")) << args << ": " << r.err;
    EXPECT_FALSE(contains(r.out, "PASS")) << args;
  }
}

TEST(Consistency, ExitOneMeansARegressionAndNothingElse) {
  ScratchDir dir("ux-exit");
  const std::string base = replayJson(dir, "b.json");
  // A JUnit file that fails while it is written (after the check): not 1, and no PASS printed beside it.
  RunResult full = gomalloc("gate " + base + " " + base + " --junit /dev/full", dir);
  EXPECT_EQ(full.code, 3) << full.err;
  EXPECT_TRUE(contains(full.err, "gomalloc: gate: cannot write /dev/full")) << full.err;
  EXPECT_FALSE(contains(full.out, "PASS")) << full.out;
  // Standard output lost: 3 as well, for every command.
  RunResult lost = runShell("( '" GOMALLOC_BINARY "' gate " + base + " " + base + " >/dev/full )", dir);
  EXPECT_EQ(lost.code, 3) << lost.err;
  RunResult pass = gomalloc("gate " + base + " " + base, dir);
  EXPECT_EQ(pass.code, 0) << pass.err;
}

TEST(Consistency, GateReadsNoTimingsReports) {
  ScratchDir dir("ux-notimings");
  const std::string a = replayJson(dir, "a.json", "--no-timings"), b = replayJson(dir, "b.json", "--no-timings");
  RunResult r = gomalloc("gate " + a + " " + b, dir);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_TRUE(contains(r.out, "PASS")) << r.out;
  EXPECT_TRUE(contains(r.out, "timing rules do not apply")) << r.out;
}

TEST(Consistency, AGateLimitOnBytesNeedsAUnit) {
  ScratchDir dir("ux-units");
  const std::string base = replayJson(dir, "b.json");
  RunResult bare = gomalloc("gate " + base + " " + base + " --max peak_rss=5", dir);
  EXPECT_EQ(bare.code, 2);
  EXPECT_TRUE(contains(bare.err, "gomalloc: gate: --max peak_rss=5: limit '5' has no unit")) << bare.err;
  RunResult ok = gomalloc("gate " + base + " " + base + " --max peak_rss=+4MiB --max gc_cycles=2", dir);
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(contains(ok.out, "+4MiB up")) << ok.out;
  RunResult json = gomalloc("gate " + base + " " + base + " --format json", dir);
  ASSERT_EQ(json.code, 0) << json.err;
  const Json j = Json::parse(json.out);
  EXPECT_EQ(j["schema"], "gomalloc-gate");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["result"], "pass");
}

TEST(Consistency, EveryMessageNamesTheCommand) {
  ScratchDir dir("ux-messages");
  const std::string base = replayJson(dir, "b.json");
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"validate /tmp", "gomalloc: validate: cannot read /tmp"},
      {"validate examples/bad-fields.json", "gomalloc: validate: examples/bad-fields.json: event 0"},
      {"replay examples/tiny.json --procs 0", "gomalloc: replay: --procs: Value 0 not in range"},
      {"gate " + base + " /tmp", "gomalloc: gate: /tmp: "},
      {"gate " + base + " examples/tiny.json", "gomalloc: gate: examples/tiny.json: "},
      {"nosuch", "gomalloc: unknown command 'nosuch'"},
      {"replay examples/tiny.json --gogc -1", "gomalloc: replay: --gogc: "},
      {"replay examples/tiny.json --allocator system --verify", "gomalloc: replay: --verify runs the Go model's"},
  };
  for (const Case& c : cases) {
    RunResult r = gomalloc(c.args, dir);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_TRUE(contains(r.err, c.expect)) << c.args << ": " << r.err;
    EXPECT_FALSE(contains(r.err, "[json.exception")) << c.args << ": " << r.err;
    for (size_t at = 0, nl; at < r.err.size(); at = nl + 1) {  // every line of a message has the prefix
      nl = r.err.find('\n', at);
      if (nl == std::string::npos) nl = r.err.size();
      const std::string line = r.err.substr(at, nl - at);
      if (!line.empty() && line.rfind("Run 'gomalloc ", 0) != 0) {
        EXPECT_EQ(line.rfind("gomalloc: ", 0), 0u) << c.args << ": " << line;
      }
    }
  }
  RunResult help = gomalloc("help", dir);
  EXPECT_EQ(help.code, 0) << help.err;
  EXPECT_TRUE(contains(help.out, "replay")) << help.out;
  RunResult helpReplay = gomalloc("help replay", dir);
  EXPECT_EQ(helpReplay.code, 0) << helpReplay.err;
  EXPECT_TRUE(contains(helpReplay.out, "--allocator")) << helpReplay.out;
}

TEST(Consistency, OneNameAndOneNumberFormatForEachFigure) {
  ScratchDir dir("ux-names");
  RunResult info = gomalloc("info examples/web.json --format json", dir);
  ASSERT_EQ(info.code, 0) << info.err;
  const Json i = Json::parse(info.out);
  EXPECT_EQ(i["schema"], "gomalloc-info");
  EXPECT_EQ(i["version"], 1);
  RunResult rep = gomalloc("replay examples/web.json --quiet --deterministic --format json", dir);
  ASSERT_EQ(rep.code, 0) << rep.err;
  const Json r = Json::parse(rep.out);
  EXPECT_EQ(i["bytes_requested"], r["summary"]["bytes_requested"]);
  EXPECT_FALSE(i.contains("bytes_allocated"));
  // Typed settings.
  EXPECT_EQ(r["config"]["settings"]["gogc"], Json(100));
  EXPECT_EQ(r["config"]["settings"]["page_cache"], Json(true));
  EXPECT_EQ(r["version"], 2);
  // The table: grouped digits and binary units, the name replay uses.
  RunResult table = gomalloc("info examples/web.json", dir);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "5,000: 2,570 alloc")) << table.out;
  EXPECT_TRUE(contains(table.out, "requested          2.3 MiB in 2,570 allocs")) << table.out;
  RunResult classes = gomalloc("classes --format json", dir);
  ASSERT_EQ(classes.code, 0) << classes.err;
  EXPECT_EQ(Json::parse(classes.out)["schema"], "gomalloc-classes");
}

// The README's first compare example shows what GOGC=50 does: its heap is above the pacer's 4 MiB minimum.
TEST(Consistency, TheReadmeCompareExampleShowsAChange) {
  ScratchDir dir("ux-readme");
  RunResult r = gomalloc("compare examples/large.gmt --deterministic --variant go --variant gogc50:gogc=50 --quiet "
                         "--format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(r.out);
  for (auto& m : j["metrics"])
    if (m["name"] == "gc_cycles" || m["name"] == "peak_heap_inuse") {
      EXPECT_NE(m["variants"][1]["delta"], Json(0)) << m.dump();
      EXPECT_EQ(m["variants"][1]["verdict"], m["name"] == "gc_cycles" ? "worse" : "better") << m.dump();
    }
}

}  // namespace
}  // namespace gomalloc::testing
