// What allocator people look for beside RSS: each malloc's own statistics (allocator_stats) and sampled per-op
// latency (latency), for every backend installed here, in JSON, CSV and the table; left out by --no-timings.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

// 2000 objects of 4000 bytes on two threads, a gc event (index 2000), every object freed, a gc event (4001).
std::string writeTrace(const ScratchDir& dir) {
  std::string t = "{\"format\":\"gomalloc-trace\",\"version\":1,\"threads\":2}\n";
  for (int i = 0; i < 2000; i++) t += fmt::format("{{\"op\":\"alloc\",\"thread\":{},\"id\":{},\"size\":4000}}\n", i % 2, i + 1);
  t += "{\"op\":\"gc\"}\n";
  for (int i = 0; i < 2000; i++) t += fmt::format("{{\"op\":\"free\",\"thread\":{},\"id\":{}}}\n", i % 2, i + 1);
  t += "{\"op\":\"gc\"}\n";
  const std::string path = (dir / "fill-and-free.jsonl").string();
  spit(path, t);
  return path;
}

struct Expect {
  const char* allocator;
  const char* source;
  const char* allocated;  // the figure of bytes the program holds (none for mimalloc's process info)
};

uint64_t figure(const Json& o, const char* name) {
  if (!o.contains(name)) {
    ADD_FAILURE() << name << " missing in " << o.dump();
    return 0;
  }
  return o[name].get<uint64_t>();
}

TEST(MeasuresCli, EachMallocsOwnStatisticsAtEachGcEventAndAtTheEnd) {
  ScratchDir dir("measures-allocstats");
  const std::string trace = writeTrace(dir);
  const Expect expects[] = {{"system", "glibc mallinfo2", "uordblks"},
                            {"jemalloc", "jemalloc mallctl", "stats.allocated"},
                            {"tcmalloc", "tcmalloc MallocExtension", "generic.current_allocated_bytes"},
                            {"mimalloc", "mimalloc mi_process_info", nullptr}};
  int ran = 0;
  for (const Expect& e : expects) {
    // A sanitizer replaces malloc in gomalloc itself (system) and cannot be preloaded under (the others).
    if (kSanitized) continue;
    const bool preloaded = std::string(e.allocator) != "system";
    for (const char* mode : {"--deterministic", ""}) {
      RunResult r = gomalloc(fmt::format("replay {} --allocator {} {} --quiet --format json", trace, e.allocator, mode), dir);
      if (preloaded && r.code != 0 && r.err.find("not installed") != std::string::npos) break;
      ASSERT_EQ(r.code, 0) << e.allocator << ": " << r.err;
      ran++;
      const Json j = Json::parse(r.out);
      ASSERT_TRUE(j.contains("allocator_stats")) << e.allocator;
      const Json& a = j["allocator_stats"];
      EXPECT_EQ(a["source"], e.source);
      // Listed in the trace's order, with each gc event's index and ordinal.
      ASSERT_EQ(a["at_gc"].size(), 2u) << e.allocator;
      EXPECT_EQ(a["at_gc"][0]["event"], 2000);
      EXPECT_EQ(a["at_gc"][0]["gc"], 0);
      EXPECT_EQ(a["at_gc"][1]["event"], 4001);
      EXPECT_EQ(a["at_gc"][1]["gc"], 1);
      if (e.allocated) {
        // Every object is live at the first gc event (8 MB) and freed at the second; what is left then and at
        // the end is the harness's own allocations (the window of the trace, its bookkeeping: 0.5-2.5 MB here).
        const uint64_t full = figure(a["at_gc"][0], e.allocated);
        EXPECT_GE(full, 8'000'000u) << e.allocator;
        for (const Json* after : {&a["at_gc"][1], &a["at_end"]}) {
          EXPECT_LE(figure(*after, e.allocated) + 7'000'000, full) << e.allocator << " " << mode;
          EXPECT_LT(figure(*after, e.allocated), 4'000'000u) << e.allocator << " " << mode;
        }
      } else {
        EXPECT_GE(figure(a["at_gc"][0], "current_commit"), 8'000'000u) << e.allocator;
        EXPECT_GT(figure(a["at_end"], "peak_rss"), 0u) << e.allocator;
      }
      // Latency of the preloaded malloc too: the child's report carries it.
      ASSERT_TRUE(j.contains("latency")) << e.allocator;
      EXPECT_GT(j["latency"]["groups"][2]["samples"].get<uint64_t>(), 0u) << e.allocator;  // medium: 4000 B
    }
  }
  if (kSanitized) GTEST_SKIP() << "a sanitizer replaces malloc: no malloc's own statistics to read";
  EXPECT_GT(ran, 0);
}

TEST(MeasuresCli, LatencyPerGroupInJsonTableAndCsv) {
  ScratchDir dir("measures-latency");
  RunResult r = gomalloc("replay examples/web.json --quiet --format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Json l = Json::parse(r.out)["latency"];
  EXPECT_EQ(l["sample_every"], 64);
  EXPECT_EQ(l["clock"], "rdtsc");
  ASSERT_EQ(l["groups"].size(), 5u);
  uint64_t samples = 0;
  for (const Json& g : l["groups"]) {
    samples += g["samples"].get<uint64_t>();
    EXPECT_LE(g["p50_ns"].get<double>(), g["p99_ns"].get<double>());
    EXPECT_LE(g["p99_ns"].get<double>(), g["p999_ns"].get<double>());
    EXPECT_LE(g["p999_ns"].get<double>(), g["max_ns"].get<double>());
  }
  EXPECT_GT(samples, 0u);
  RunResult t = gomalloc("replay examples/web.json --quiet", dir);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("latency   per op, 1 op in 64 timed on average per P"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("p99.9"), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("\nallocator "), std::string::npos) << "the go model has MemStats instead";
  RunResult c = gomalloc("replay examples/web.json --quiet --allocator system --format csv", dir);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("\nlatency,"), std::string::npos);
  EXPECT_NE(c.out.find("\nallocator_stats,end,glibc mallinfo2,"), std::string::npos) << c.out;
  RunResult s = gomalloc("replay examples/web.json --quiet --allocator system", dir);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("allocator glibc mallinfo2 at the end: arena "), std::string::npos) << s.out;
}

// Neither is deterministic: --no-timings leaves both out, and the report still passes gate's schema.
TEST(MeasuresCli, NoTimingsLeavesBothOut) {
  ScratchDir dir("measures-notimings");
  for (const char* a : {"system", "null", "go"}) {
    const std::string out = (dir / fmt::format("{}.json", a)).string();
    RunResult r = gomalloc(fmt::format("replay examples/web.json --allocator {} --deterministic --no-timings --quiet "
                                       "--format json -o {}", a, out), dir);
    ASSERT_EQ(r.code, 0) << r.err;
    const Json j = Json::parse(slurp(out));
    EXPECT_FALSE(j.contains("latency")) << a;
    EXPECT_FALSE(j.contains("allocator_stats")) << a;
    EXPECT_EQ(gomalloc("gate " + out + " " + out, dir).code, 0) << a;
  }
}

}  // namespace
}  // namespace gomalloc::testing
