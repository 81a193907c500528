// Memory and limits, as a user meets them: --memory-limit on every backend, max_heap_bytes, replays under
// ulimit -v, and the default number of Ps for a trace with more threads than Ps.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

// n objects of size bytes on thread 0, never freed (a replay that keeps growing).
std::string neverFreedTrace(int n, uint64_t size) {
  std::string t = R"({"format": "gomalloc-trace", "version": 1, "threads": 1, "events": [)";
  for (int i = 0; i < n; i++)
    t += std::string(i ? ",\n" : "\n") + R"({"op": "alloc", "thread": 0, "id": )" + std::to_string(i + 1) +
         R"(, "size": )" + std::to_string(size) + R"(, "ts": )" + std::to_string(i * 10) + "}";
  return t + "\n]}\n";
}

// Runs the gomalloc binary after a shell command (ulimit) in the same shell.
RunResult gomallocUnder(const std::string& shell, const std::string& args, const ScratchDir& dir) {
  return runShell(shell + " && '" GOMALLOC_BINARY "' " + args, dir);
}

// Backends that run in this test's build: preloaded ones only without sanitizers.
std::vector<std::string> allBackends() {
  std::vector<std::string> b = {"go", "system", "null"};
  if (!kSanitized) b.push_back("mimalloc");
  return b;
}

TEST(LimitsCli, AReplayThatWouldPassTheMemoryLimitFailsWithExit1AndNoReport) {
  ScratchDir dir("limits-pass");
  spit(dir / "big.json", neverFreedTrace(3, uint64_t{48} << 20));  // 144 MiB live (never allocated here)
  for (const std::string& alloc : allBackends()) {
    for (const char* mode : {"--deterministic", ""}) {
      const auto out = dir / "report.json";
      RunResult r = gomalloc("replay '" + (dir / "big.json").string() + "' --quiet --memory-limit 64MiB --allocator " +
                                 alloc + " " + mode + " --format json -o '" + out.string() + "'",
                             dir);
      EXPECT_EQ(r.code, 1) << alloc << ": " << r.err;
      const std::string want = alloc == "go" ? "past max_heap_bytes (64 MiB, from --memory-limit); raise it with --set "
                                               "max_heap_bytes=SIZE or replay fewer live objects"
                                             : "past --memory-limit (64 MiB); raise it with --memory-limit SIZE or "
                                               "replay fewer live objects";
      EXPECT_NE(r.err.find("the trace holds up to 144 MiB live at once, " + want), std::string::npos)
          << alloc << ": " << r.err;
      EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err;
      EXPECT_FALSE(std::filesystem::exists(out)) << alloc << ": a report was written";
      EXPECT_TRUE(r.out.empty()) << r.out;
    }
  }
}

TEST(LimitsCli, MaxHeapBytesBoundsTheGoHeapAndOverridesTheMemoryLimit) {
  ScratchDir dir("limits-maxheap");
  spit(dir / "big.json", neverFreedTrace(3, uint64_t{48} << 20));
  const std::string trace = "'" + (dir / "big.json").string() + "' --quiet --touch none ";
  RunResult r = gomalloc("replay " + trace + "--set max_heap_bytes=64MiB", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("past max_heap_bytes (64 MiB); raise it with --set max_heap_bytes=SIZE"), std::string::npos)
      << r.err;
  // An explicit max_heap_bytes is go's limit whatever --memory-limit says.
  RunResult ok = gomalloc("replay " + trace + "--memory-limit 64MiB --set max_heap_bytes=256MiB --format json", dir);
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(Json::parse(ok.out)["config"]["settings"]["max_heap_bytes"], "256MiB");
}

TEST(LimitsCli, TheGrowthGuardStopsAReplayTheTraceOrderCheckLetsThrough) {
  // 48 MiB objects freed at once: 48 MiB live in trace order, but the Go heap frees only at the sweep after
  // the next GC cycle, and GOGC=off never has one: the heap grows until max_heap_bytes stops it.
  ScratchDir dir("limits-growth");
  std::string t = R"({"format": "gomalloc-trace", "version": 1, "threads": 1, "events": [)";
  for (int i = 0; i < 4; i++)
    t += std::string(i ? "," : "") + R"({"op": "alloc", "thread": 0, "id": 1, "size": 50331648}, )" +
         R"({"op": "free", "thread": 0, "id": 1})";
  spit(dir / "churn.json", t + "]}\n");
  RunResult r = gomalloc("replay '" + (dir / "churn.json").string() +
                             "' --quiet --touch none --gogc off --memory-limit 128MiB --deterministic",
                         dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("the heap would grow past max_heap_bytes (128 MiB, from --memory-limit): it has mapped 96 MiB "
                       "and needs 48 MiB more"),
            std::string::npos)
      << r.err;
  // The four objects take 192 MiB: a limit of 192 MiB holds them.
  RunResult ok = gomalloc("replay '" + (dir / "churn.json").string() +
                              "' --quiet --touch none --gogc off --memory-limit 192MiB --deterministic --format json",
                          dir);
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(Json::parse(ok.out)["heap"]["HeapSys"], 192 << 20);
}

TEST(LimitsCli, TheDefaultFollowsTheMachineAndReportsSayAuto) {
  ScratchDir dir("limits-auto");
  RunResult r = gomalloc("replay examples/tiny.json --quiet --deterministic --format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["config"]["settings"]["max_heap_bytes"], "auto");
  // A compare passes the limit to every replay.
  spit(dir / "big.json", neverFreedTrace(3, uint64_t{48} << 20));
  RunResult c = gomalloc("compare '" + (dir / "big.json").string() +
                             "' --quiet --allocator system --allocator go --memory-limit 64MiB",
                         dir);
  EXPECT_EQ(c.code, 1) << c.err;
  EXPECT_NE(c.err.find("past --memory-limit (64 MiB)"), std::string::npos) << c.err;
}

TEST(LimitsCli, BadLimitsAreUsageErrors) {
  ScratchDir dir("limits-bad");
  for (const char* v : {"0", "lots", "12KiB", "1.5GiB"}) {
    for (const char* cmd : {"replay", "compare"}) {
      RunResult r = gomalloc(std::string(cmd) + " examples/tiny.json --allocator go --memory-limit " + v, dir);
      EXPECT_EQ(r.code, 2) << cmd << " " << v << ": " << r.err;
      EXPECT_NE(r.err.find("expected auto or a size"), std::string::npos) << r.err;
    }
  }
  RunResult s = gomalloc("replay examples/tiny.json --set max_heap_bytes=6MiB", dir);
  EXPECT_EQ(s.code, 2) << s.err;
  EXPECT_NE(s.err.find("max_heap_bytes"), std::string::npos) << s.err;
}

TEST(LimitsCli, ReplaysRunUnderAnAddressSpaceLimit) {
  if (kSanitized) GTEST_SKIP() << "sanitizers reserve terabytes of address space: they cannot run under ulimit -v";
  ScratchDir dir("limits-ulimit");
  for (const std::string& alloc : allBackends()) {
    RunResult r = gomallocUnder("ulimit -v 2000000", "replay examples/tiny.json --quiet --allocator " + alloc, dir);
    EXPECT_EQ(r.code, 0) << alloc << ": " << r.err;
  }
  RunResult w = gomallocUnder("ulimit -v 2000000", "replay examples/web.json --quiet", dir);
  EXPECT_EQ(w.code, 0) << w.err;
  // A window the limit cannot hold names the setting to lower.
  RunResult big = gomallocUnder("ulimit -v 2000000", "replay examples/tiny.json --quiet --set max_heap_bytes=64GiB", dir);
  EXPECT_EQ(big.code, 3) << big.err;  // the machine's limit: the work could not be done (not a bound of gomalloc's)
  EXPECT_NE(big.err.find("lower max_heap_bytes (64 GiB) or raise the address-space limit (ulimit -v)"),
            std::string::npos)
      << big.err;
}

TEST(LimitsCli, TracesWithMoreThreadsThanPsReplayByDefault) {
  ScratchDir dir("limits-threads");
  const std::string trace = (dir / "threads.gmt").string();
  RunResult g = gomalloc("gen steady --threads 65536 --events 200000 --seed 3 -o '" + trace + "'", dir);
  ASSERT_EQ(g.code, 0) << g.err;
  for (const char* args : {"--allocator go --deterministic", "--allocator null"}) {
    RunResult r = gomalloc("replay '" + trace + "' --quiet --touch first --format json " + args, dir);
    ASSERT_EQ(r.code, 0) << args << ": " << r.err;
    const Json j = Json::parse(r.out);
    EXPECT_EQ(j["config"]["procs"], 1024) << args;
    EXPECT_GT(j["trace"]["threads"].get<int>(), 50000) << args;  // (threads without events are not counted)
  }
  // An explicit --procs above the maximum is still a usage error.
  RunResult over = gomalloc("replay '" + trace + "' --quiet --procs 1025", dir);
  EXPECT_EQ(over.code, 2) << over.err;
}

}  // namespace
}  // namespace gomalloc::testing
