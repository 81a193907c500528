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
