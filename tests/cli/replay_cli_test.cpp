// gomalloc replay, run as a user runs it: the time the trace took to load is reported beside the replay's.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace gomalloc::testing
