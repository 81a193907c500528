// gomalloc fidelity as a user runs it: the model against the real Go 1.19 runtime on the bundled examples,
// every format, and the exit codes. Skipped where the go-runtime backend cannot run (Go 1.19 not installed).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

// Whether --allocator go-runtime works here; the reason when not.
std::string goRuntimeMissing(const ScratchDir& dir) {
  RunResult r = gomalloc("replay examples/tiny.json --allocator go-runtime --procs 1 --quiet --format json", dir);
  return r.code == 0 ? "" : r.err;
}

// With forced collections (GOGC=off) every bound of docs/fidelity.md holds on every bundled example and
// every generator kind: allocations per class, HeapObjects, HeapAlloc and HeapInuse at every gc event.
void expectEveryBoundHolds(const RunResult& r, size_t traces) {
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_EQ(j["traces"].size(), traces);
  for (const Json& t : j["traces"]) {
    EXPECT_TRUE(t["gogc_off"].get<bool>());
    bool sawClass = false, sawInuse = false;
    for (const Json& row : t["rows"]) {
      EXPECT_TRUE(row["ok"].get<bool>()) << t["trace"] << ": " << row.dump();
      sawClass |= row["figure"] == "allocs";
      sawInuse |= row["figure"] == "HeapInuse";
    }
    EXPECT_TRUE(sawClass && sawInuse) << t["trace"];
  }
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(FidelityCli, TheModelMeetsTheBoundsOnTheExamplesWithForcedCollections) {
  ScratchDir dir("fidelity");
  if (auto why = goRuntimeMissing(dir); !why.empty()) GTEST_SKIP() << "go-runtime unavailable: " << why;
  const RunResult r = gomalloc(
      "fidelity examples/tiny.json examples/web.json examples/steady.jsonl examples/producer-consumer.json "
      "examples/larson.gmt --runs 2 --quiet --format json",
      dir);
  expectEveryBoundHolds(r, 5);
  for (const char* format : {"table", "markdown", "html"}) {
    RunResult f = gomalloc(std::string("fidelity examples/tiny.json --runs 1 --quiet --format ") + format, dir);
    EXPECT_EQ(f.code, 0) << format << ": " << f.err;
    EXPECT_NE(f.out.find("HeapObjects"), std::string::npos) << format;
  }
}

TEST(FidelityCli, TheModelMeetsTheBoundsOnEveryGeneratorKindWithForcedCollections) {
  ScratchDir dir("fidelity-kinds");
  if (auto why = goRuntimeMissing(dir); !why.empty()) GTEST_SKIP() << "go-runtime unavailable: " << why;
  std::string traces;
  for (const char* kind : {"steady", "web", "producer-consumer", "fragmentation", "large", "larson"}) {
    const std::string path = (dir / (std::string(kind) + ".gmt")).string();
    ASSERT_EQ(gomalloc(std::string("gen ") + kind + " --events 20000 --gc-every 2000 --seed 3 -o " + path, dir).code, 0);
    traces += " " + path;
  }
  expectEveryBoundHolds(gomalloc("fidelity" + traces + " --runs 2 --quiet --format json", dir), 6);
}

TEST(FidelityCli, BadInputIsExitTwo) {
  ScratchDir dir("fidelity-bad");
  EXPECT_EQ(gomalloc("fidelity examples/tiny.json --gogc fast", dir).code, 2);
  EXPECT_EQ(gomalloc("fidelity examples/tiny.json --runs 0", dir).code, 2);
  EXPECT_EQ(gomalloc("fidelity", dir).code, 2);
  RunResult r = gomalloc("fidelity examples/tiny.json -o examples/tiny.json", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("it is the input"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gomalloc::testing
