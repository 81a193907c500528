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

TEST(FidelityCli, TheModelMeetsTheBoundsOnTheExamplesWithForcedCollections) {
  ScratchDir dir("fidelity");
  if (auto why = goRuntimeMissing(dir); !why.empty()) GTEST_SKIP() << "go-runtime unavailable: " << why;
  RunResult r = gomalloc("fidelity examples/tiny.json examples/web.json --runs 2 --quiet --format json", dir);
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_EQ(j["traces"].size(), 2u);
  for (const Json& t : j["traces"]) {
    EXPECT_EQ(t["runtime_runs"], 2);
    EXPECT_TRUE(t["gogc_off"].get<bool>());
    bool sawClass = false;
    for (const Json& row : t["rows"]) {
      // What the trace alone decides: allocations per class exactly; the live objects and bytes at every
      // gc event, the runtime's baseline taken off, up to the known divergence of docs/fidelity.md (at most
      // two 16-byte blocks that the runtime holds and the model does not).
      const std::string fig = row["figure"];
      const double diff = std::abs(row["diff"].get<double>());
      const double allowed = fig == "allocs" ? 0 : fig == "HeapObjects" ? 2 : fig == "HeapAlloc" ? 32 : -1;
      if (allowed >= 0) {
        EXPECT_LE(diff, allowed) << row.dump();
      }
      sawClass |= fig == "allocs";
    }
    EXPECT_TRUE(sawClass);
  }
  EXPECT_EQ(r.code, j["traces"][0]["failed"].get<int>() + j["traces"][1]["failed"].get<int>() ? 1 : 0);
  for (const char* format : {"table", "markdown", "html"}) {
    RunResult f = gomalloc(std::string("fidelity examples/tiny.json --runs 1 --quiet --format ") + format, dir);
    EXPECT_TRUE(f.code == 0 || f.code == 1) << format << ": " << f.err;
    EXPECT_NE(f.out.find("HeapObjects"), std::string::npos) << format;
  }
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
