// gomalloc replay, run as a user runs it: the time the trace took to load is reported beside the replay's.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

TEST(ReplayCli, ReportsTheLoadTimeApartFromTheReplay) {
  ScratchDir dir("replay-load");
  for (const char* alloc : {"go", otherAllocator()}) {  // (a preloaded backend: the child's figure comes through)
    RunResult r = gomalloc(std::string("replay examples/web.json --quiet --format json --allocator ") + alloc, dir);
    ASSERT_EQ(r.code, 0) << alloc << ": " << r.err;
    const Json s = Json::parse(r.out)["summary"];
    EXPECT_GT(s["load_seconds"].get<double>(), 0) << alloc;
    EXPECT_GT(s["wall_seconds"].get<double>(), 0) << alloc;
  }
  RunResult t = gomalloc("replay examples/web.json --quiet", dir);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("(loading before it: "), std::string::npos) << t.out;
  // --no-timings drops it with the other timings.
  RunResult n = gomalloc("replay examples/web.json --quiet --deterministic --format json --no-timings", dir);
  ASSERT_EQ(n.code, 0) << n.err;
  EXPECT_FALSE(Json::parse(n.out)["summary"].contains("load_seconds"));
}

// gc_mark_events counts events in trace order, which only a deterministic replay has: refused before any work.
TEST(ReplayCli, MarkEventsNeedDeterministic) {
  ScratchDir dir("replay-mark-events");
  RunResult r = gomalloc("replay examples/web.json --quiet --set gc_mark_events=500", dir);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("gomalloc: replay: gc_mark_events"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--deterministic"), std::string::npos) << r.err;
  EXPECT_EQ(gomalloc("replay examples/web.json --quiet --deterministic --set gc_mark_events=500,20", dir).code, 0);
}

// The table: a gctrace-style line per GC cycle (examples/large.gmt has more than 13: the first 10 and the last 3,
// the rest counted) and at most 15 size classes; --all-classes and --all-gc-cycles show all; the HTML timeline in
// trace events or wall time. Flags for another format are refused before any work.
TEST(ReplayCli, TableListsGcCyclesAndTopClasses) {
  ScratchDir dir("replay-table");
  const std::string trace = (dir / "t.gmt").string();
  ASSERT_EQ(gomalloc("gen steady --events 60000 --threads 2 --seed 7 --gc-every 3000 -o " + trace, dir).code, 0);
  const std::string common = "replay " + trace + " --quiet --deterministic ";
  RunResult t = gomalloc(common, dir);
  ASSERT_EQ(t.code, 0) << t.err;
  const Json j = Json::parse(gomalloc(common + "--format json --no-timings", dir).out);
  const size_t cycles = j["gc_cycles"].size(), classes = j["size_classes"].size();
  ASSERT_GT(cycles, 13u);
  EXPECT_NE(t.out.find(fmt::format("GC cycles ({}; gctrace:", cycles)), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(fmt::format("... {} cycles left out", cycles - 13)), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("  forced\n"), std::string::npos) << t.out;
  if (classes > 15) {
    EXPECT_NE(t.out.find(fmt::format("size classes (the 15 of {} used", classes)), std::string::npos) << t.out;
  }
  RunResult all = gomalloc(common + "--all-classes --all-gc-cycles", dir);
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.out.find("size classes (used)"), std::string::npos);
  EXPECT_EQ(all.out.find("left out"), std::string::npos);
  size_t lines = 0;
  for (size_t p = 0; (p = all.out.find("  forced\n", p)) != std::string::npos; p++) lines++;
  EXPECT_EQ(lines, j["summary"]["forced_gc_cycles"].get<size_t>());

  for (const char* axis : {"events", "time"}) {
    RunResult h = gomalloc(common + "--format html --x-axis " + axis, dir);
    ASSERT_EQ(h.code, 0) << h.err;
    EXPECT_NE(h.out.find(std::string(axis) == "events" ? "trace events done" : "time since the replay started"),
              std::string::npos);
  }
  for (const char* bad : {"--all-classes --format json", "--all-gc-cycles --format csv", "--x-axis time",
                          "--x-axis frames --format html"}) {
    RunResult r = gomalloc(common + bad, dir);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find("gomalloc: replay: "), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace gomalloc::testing
