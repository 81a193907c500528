// gomalloc replay/compare/gate with --allocator go-runtime: the trace replayed in the real Go 1.19 runtime.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "reports/schema.h"
#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

bool goRuntimeBuilt() { return fs::exists(fs::path(GOMALLOC_BINARY).parent_path() / "gomalloc-goruntime"); }

#define REQUIRE_GO_RUNTIME()                                                                           \
  if (!goRuntimeBuilt())                                                                               \
  GTEST_SKIP() << "gomalloc-goruntime is not built: Go 1.19 (Debian golang-1.19-go) was not installed " \
                  "when this tree was configured"

// With a goal: the cycles the runtime's pacer started, with gctrace's figures and the pacer line's exact bytes.
TEST(GoRuntimeCli, GcCyclesOfThePacerHaveTheirGoal) {
  REQUIRE_GO_RUNTIME();
  ScratchDir dir("goruntime-cycles");
  const auto trace = (dir / "steady.gmt").string();
  ASSERT_EQ(gomalloc("gen steady --events 300000 --threads 1 --gc-every 0 -o " + trace, dir).code, 0);
  const RunResult r = gomalloc("replay " + trace + " --allocator go-runtime --gogc 10 --quiet --format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_NO_THROW(reports::checkReportSchema(j));
  ASSERT_EQ(j["gc_cycles"].size(), j["summary"]["gc_cycles"].get<size_t>());
  size_t paced = 0;
  for (const Json& c : j["gc_cycles"]) {
    if (c["forced"]) continue;
    paced++;
    EXPECT_TRUE(c["concurrent"].get<bool>());
    ASSERT_TRUE(c.contains("goal")) << c.dump();
    EXPECT_GT(c["goal"].get<uint64_t>(), 0u);
    EXPECT_LE(c["heap_start"].get<uint64_t>(), c["heap_end"].get<uint64_t>()) << c.dump();
  }
  EXPECT_GT(paced, 0u) << r.out.substr(0, 3000);
  // The table lists them.
  const RunResult t = gomalloc("replay " + trace + " --allocator go-runtime --gogc 10 --quiet", dir);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("GC cycles ("), std::string::npos) << t.out;
}

TEST(GoRuntimeCli, ReportFollowsTheSchemaAndGatesAgainstItself) {
  REQUIRE_GO_RUNTIME();
  ScratchDir dir("goruntime-cli");
  const auto trace = (dir / "steady.gmt").string(), a = (dir / "a.json").string(), b = (dir / "b.json").string();
  ASSERT_EQ(gomalloc("gen steady --events 20000 --gc-every 2000 -o " + trace, dir).code, 0);
  for (const auto& out : {a, b}) {
    const RunResult r = gomalloc("replay " + trace + " --allocator go-runtime --gogc off --quiet --format json -o " + out, dir);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const Json j = Json::parse(slurp(a));
  EXPECT_NO_THROW(reports::checkReportSchema(j));
  EXPECT_EQ(j["config"]["backend"], "go-runtime");
  EXPECT_EQ(j["config"]["settings"]["gogc"], "off");
  EXPECT_EQ(j["config"]["settings"]["go_version"].get<std::string>().rfind("go1.19", 0), 0u);
  EXPECT_TRUE(j["heap"].contains("baseline"));
  EXPECT_FALSE(j["heap"].contains("HeapLive"));  // the model's own figures: absent, not zero
  EXPECT_FALSE(j.contains("locks"));
  EXPECT_FALSE(j["size_classes"][0].contains("hit_rate"));
  EXPECT_EQ(j["summary"]["gc_cycles"], 10);
  EXPECT_EQ(j["summary"]["forced_gc_cycles"], 10);
  size_t gcPoints = 0;
  for (auto& t : j["timeline"]) gcPoints += t["event"] == "gc";
  EXPECT_EQ(gcPoints, 10u);
  // gc_cycles from the runtime's gctrace: the 10 forced cycles after its baseline, with no goal (GOGC=off) and
  // no events, trigger or HeapInuse (absent, not 0).
  ASSERT_EQ(j["gc_cycles"].size(), 10u);
  const uint64_t numGC = j["heap"]["NumGC"].get<uint64_t>();
  for (size_t i = 0; i < 10; i++) {
    const Json& c = j["gc_cycles"][i];
    EXPECT_EQ(c["cycle"], numGC - 9 + i);
    EXPECT_EQ(c["forced"], true);
    EXPECT_EQ(c["concurrent"], false);
    for (const char* k : {"heap_start", "heap_end", "heap_marked"}) EXPECT_TRUE(c.contains(k)) << k << c.dump();
    for (const char* k : {"goal", "end_event", "trigger", "next_goal", "heap_inuse_before"})
      EXPECT_FALSE(c.contains(k)) << k << c.dump();
  }
  // The child's count of ops: a gc event once per goroutine (every trace thread's stream holds a copy).
  for (auto& t : j["timeline"]) EXPECT_TRUE(t.contains("events")) << t.dump();
  EXPECT_EQ(j["timeline"].back()["events"].get<uint64_t>(),
            j["summary"]["events"].get<uint64_t>() + 10 * (j["trace"]["threads"].get<uint64_t>() - 1));
  // The schema's go-runtime rules: baseline required; the model's figures and locks refused.
  for (const char* breakage : {"no baseline", "HeapLive", "locks", "hit_rate"}) {
    Json bad = j;
    const std::string what = breakage;
    if (what == "no baseline") bad["heap"].erase("baseline");
    if (what == "HeapLive") bad["heap"]["HeapLive"] = 0;
    if (what == "locks") bad["locks"] = Json::array();
    if (what == "hit_rate") bad["size_classes"][0]["hit_rate"] = 0.5;
    EXPECT_THROW(reports::checkReportSchema(bad), reports::SchemaError) << breakage;
  }
  Json relabelled = j;  // a go report must not have the runtime's fields
  relabelled["config"]["backend"] = "go";
  EXPECT_THROW(reports::checkReportSchema(relabelled), reports::SchemaError);

  const RunResult gate = gomalloc("gate " + a + " " + b, dir);
  EXPECT_EQ(gate.code, 0) << gate.out << gate.err;
  for (const char* format : {"table", "csv", "html"}) {
    const RunResult r = gomalloc("replay examples/tiny.json --allocator go-runtime --quiet --format " +
                                     std::string(format),
                                 dir);
    EXPECT_EQ(r.code, 0) << format << ": " << r.err;
  }
}

TEST(GoRuntimeCli, CompareTakesItAsAnAllocator) {
  REQUIRE_GO_RUNTIME();
  ScratchDir dir("goruntime-compare");
  const RunResult r = gomalloc("compare examples/tiny.json --allocator go --allocator go-runtime --quiet --format json -o " +
                                   (dir / "c.json").string(),
                               dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(slurp(dir / "c.json"));
  EXPECT_NO_THROW(reports::checkCompareSchema(j));
  EXPECT_EQ(j["variants"][1]["allocator"], "go-runtime");
}

TEST(GoRuntimeCli, UsageErrors) {
  REQUIRE_GO_RUNTIME();
  ScratchDir dir("goruntime-usage");
  RunResult r = gomalloc("replay examples/tiny.json --allocator go-runtime --deterministic", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--deterministic"), std::string::npos) << r.err;
  r = gomalloc("replay examples/tiny.json --allocator go-runtime --set mcentral=locked", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--gogc"), std::string::npos) << r.err;
  r = gomalloc("replay examples/tiny.json --allocator go-runtime --set gogc=50 --quiet --format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["config"]["settings"]["gogc"], Json(50));  // typed (report version 2)
}

// The real runtime's heap is bounded by --memory-limit: with GOGC=off it keeps every dead object until a gc
// event, and past the limit the replay stops with one clear line (not the runtime's goroutine dump), exit 1.
TEST(GoRuntimeCli, MemoryLimitBoundsTheRealRuntimesHeap) {
  REQUIRE_GO_RUNTIME();
  ScratchDir dir("goruntime-limit");
  const auto trace = (dir / "large.gmt").string(), out = (dir / "r.json").string();
  ASSERT_EQ(gomalloc("gen large --events 4000 --gc-every 0 -o " + trace, dir).code, 0);
  const RunResult r =
      gomalloc("replay " + trace + " --allocator go-runtime --gogc off --memory-limit 128MiB --quiet -o " + out, dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("the real Go runtime's heap grew past it"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--memory-limit (128 MiB)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("goroutine "), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // At GOGC=100 the runtime collects, and the same trace fits.
  EXPECT_EQ(gomalloc("replay " + trace + " --allocator go-runtime --memory-limit 1GiB --quiet -o " + out, dir).code, 0);
}

TEST(GoRuntimeCli, MissingChildProgramSaysWhatToInstall) {
  // A gomalloc binary with no gomalloc-goruntime next to it: what a build without Go 1.19 gives.
  ScratchDir dir("goruntime-missing");
  const fs::path exe = dir / "gomalloc";
  std::error_code ec;
  fs::create_hard_link(GOMALLOC_BINARY, exe, ec);
  if (ec) fs::copy_file(GOMALLOC_BINARY, exe);
  const RunResult r = runShell("'" + exe.string() + "' replay examples/tiny.json --allocator go-runtime", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("golang-1.19-go"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bash scripts/setup.sh"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace gomalloc::testing
