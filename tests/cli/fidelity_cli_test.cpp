// gomalloc fidelity as a user runs it: the model against the real Go 1.19 runtime on the bundled examples,
// every format, and the exit codes. Skipped where the go-runtime backend cannot run (Go 1.19 not installed).
#include <fmt/format.h>
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

// With the pacer (no gc events), GOGC=100 and 50, on every generator kind: what the trace alone decides is
// exact (allocations per class), and the model's GC cycles and peak HeapInuse stay within a distance of the
// runtime's median that guards against a regression. fidelity's own bounds (the runtime's range +-1 cycle,
// 10% of the peak) are tighter; docs/fidelity.md says where they hold and where not, and why.
TEST(FidelityCli, ThePacerOnEveryGeneratorKindStaysWhereDocsFidelitySays) {
  ScratchDir dir("fidelity-pacer");
  if (auto why = goRuntimeMissing(dir); !why.empty()) GTEST_SKIP() << "go-runtime unavailable: " << why;
  struct Kind {
    const char* name;
    int events;
    double cycles, peak;  // the largest |model - runtime median| / median allowed
  };
  // At these sizes, with other tests running beside, the runtime varies more than at 1 M events
  // (docs/fidelity.md has those figures): the bounds below are on the runtime's range widened by a share,
  // wider for large, whose 30 000 events make few cycles of very different lengths.
  // The peak is the highest of a few cycles' heaps: at these sizes it moved by up to 60% over the runtime's
  // range from one sweep to the next (fragmentation at GOGC=50), so its bound only catches gross regressions.
  const Kind kinds[] = {{"steady", 300000, 0.35, 1.0},           {"web", 300000, 0.35, 1.0},
                        {"producer-consumer", 300000, 0.35, 1.0}, {"fragmentation", 300000, 0.35, 1.0},
                        {"larson", 300000, 0.35, 1.0},            {"large", 30000, 1.2, 1.0}};
  for (const Kind& k : kinds) {
    const std::string path = (dir / (std::string(k.name) + ".gmt")).string();
    ASSERT_EQ(gomalloc(fmt::format("gen {} --events {} --gc-every 0 --threads 1 --seed 1 -o {}", k.name, k.events, path), dir).code, 0);
    for (const char* gogc : {"100", "50"}) {
      const RunResult r = gomalloc(fmt::format("fidelity {} --gogc {} --runs 3 --quiet --format json", path, gogc), dir);
      ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;
      const Json t = Json::parse(r.out)["traces"][0];
      for (const Json& row : t["rows"]) {
        const std::string fig = row["figure"], point = row["point"];
        const double model = row["model"], lo = row["runtime_min"], hi = row["runtime_max"];
        if (fig == "allocs") {
          EXPECT_TRUE(row["ok"].get<bool>()) << k.name << " GOGC=" << gogc << ": " << row.dump();
        }
        // Within the runtime's runs' range, widened by the tolerance at each end (the runtime's peak on the
        // smallest heaps is bimodal from run to run: producer-consumer at GOGC=50, 1.0 to 1.7 MiB).
        const double tol = fig == "gc_cycles" ? k.cycles : k.peak;
        if (point == "run" && (fig == "gc_cycles" || fig == "peak HeapInuse")) {
          EXPECT_GE(model, std::min(lo * (1 - tol), lo - 1)) << k.name << " GOGC=" << gogc << ": " << row.dump();
          EXPECT_LE(model, std::max(hi * (1 + tol), hi + 1)) << k.name << " GOGC=" << gogc << ": " << row.dump();
        }
      }
    }
  }
}

TEST(FidelityCli, BadInputIsExitTwo) {
  ScratchDir dir("fidelity-bad");
  EXPECT_EQ(gomalloc("fidelity examples/tiny.json --gogc fast", dir).code, 2);
  EXPECT_EQ(gomalloc("fidelity examples/tiny.json --runs 0", dir).code, 2);
  EXPECT_EQ(gomalloc("fidelity", dir).code, 2);
  const RunResult set = gomalloc("fidelity examples/tiny.json --set gc_mark_events=many", dir);
  EXPECT_EQ(set.code, 2);  // before any replay
  EXPECT_NE(set.err.find("gc_mark_events=many"), std::string::npos) << set.err;
  RunResult r = gomalloc("fidelity examples/tiny.json -o examples/tiny.json", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("it is the input"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gomalloc::testing
