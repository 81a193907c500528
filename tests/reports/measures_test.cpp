// allocator_stats and latency in the report: JSON both ways, the schema's checks, --no-timings.
#include <gtest/gtest.h>

#include "replay/basic_backends.h"
#include "replay/replayer.h"
#include "replay/synth.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace gomalloc::reports {
namespace {

using Json = nlohmann::ordered_json;

Report systemReport() {
  const traces::ReplayProgram p = replay::synth::steady(20000, 2, 500, 3, 5000);
  replay::SystemBackend backend;
  replay::Options o;
  o.rssIntervalMs = 0;
  o.latencySampleEvery = 8;
  return build(replay::run(p, backend, o), ToolInfo{"gomalloc", "test", "go1.19.8"});
}

TEST(ReportMeasures, RoundTripThroughJson) {
  const Report r = systemReport();
  ASSERT_TRUE(r.allocatorStats);
  ASSERT_TRUE(r.latency);
  EXPECT_FALSE(r.allocatorStats->atGc.empty());
  const Json j = toJson(r);
  EXPECT_NO_THROW(checkReportSchema(j));
  const Report back = fromJson(j);
  ASSERT_TRUE(back.allocatorStats);
  ASSERT_TRUE(back.latency);
  EXPECT_EQ(back.allocatorStats->source, r.allocatorStats->source);
  EXPECT_EQ(back.allocatorStats->atEnd, r.allocatorStats->atEnd);
  ASSERT_EQ(back.allocatorStats->atGc.size(), r.allocatorStats->atGc.size());
  for (size_t i = 0; i < r.allocatorStats->atGc.size(); i++) {
    EXPECT_EQ(back.allocatorStats->atGc[i].event, r.allocatorStats->atGc[i].event);
    EXPECT_EQ(back.allocatorStats->atGc[i].gc, i);
    EXPECT_EQ(back.allocatorStats->atGc[i].figures, r.allocatorStats->atGc[i].figures);
    if (i) {
      EXPECT_LT(r.allocatorStats->atGc[i - 1].event, r.allocatorStats->atGc[i].event);
    }
  }
  EXPECT_EQ(back.latency->sampleEvery, 8u);
  ASSERT_EQ(back.latency->groups.size(), r.latency->groups.size());
  for (size_t g = 0; g < r.latency->groups.size(); g++) {
    EXPECT_EQ(back.latency->groups[g].name, r.latency->groups[g].name);
    EXPECT_EQ(back.latency->groups[g].samples, r.latency->groups[g].samples);
    EXPECT_EQ(back.latency->groups[g].p99Ns, r.latency->groups[g].p99Ns);
  }
  EXPECT_EQ(toJson(back).dump(), j.dump());
}

TEST(ReportMeasures, SchemaChecksTheFigures) {
  Json j = toJson(systemReport());
  Json bad = j;
  bad["allocator_stats"]["at_end"]["arena"] = "12";
  try {
    checkReportSchema(bad);
    ADD_FAILURE() << "accepted";
  } catch (const SchemaError& e) {
    EXPECT_STREQ(e.what(), "allocator_stats.at_end.arena: expected a non-negative integer, found a string \"12\"");
  }
  bad = j;
  bad["latency"]["groups"][0].erase("p99_ns");
  EXPECT_THROW(checkReportSchema(bad), SchemaError);
  bad = j;
  bad["allocator_stats"]["at_gc"][0]["event"] = -1;
  EXPECT_THROW(checkReportSchema(bad), SchemaError);
  EXPECT_THROW(fromJson(bad), std::runtime_error);
  // --no-timings: both go, and the report still passes.
  stripVolatile(j);
  EXPECT_FALSE(j.contains("allocator_stats"));
  EXPECT_FALSE(j.contains("latency"));
  EXPECT_NO_THROW(checkReportSchema(j));
}

}  // namespace
}  // namespace gomalloc::reports
