// The generators: exact event counts, determinism per seed, valid traces, and the pattern each kind promises.
#include <gtest/gtest.h>

#include <map>

#include "tests/traces/trace_test_util.h"
#include "traces/generate.h"
#include "traces/stats.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

std::string genText(GenOptions o, Format f = {Encoding::JsonLines, Compression::None}) {
  std::string out;
  auto w = createWriter(stringSink(out), f, genHeader(o));
  generate(o, *w);
  w->finish();
  return out;
}

TraceStats statsOf(const GenOptions& o) {
  std::string text = genText(o, {Encoding::Binary, Compression::None});
  auto r = openTraceMemory("gen.gmt", text);
  return computeStats(*r);
}

GenOptions opts(const char* kind, uint64_t events = 20000) {
  GenOptions o;
  o.kind = kind;
  o.events = events;
  return o;
}

TEST(TraceGenerate, EveryKindWritesExactlyTheEventsAskedForAndIsValid) {
  for (auto& k : genKinds()) {
    SCOPED_TRACE(std::string(k.name));
    for (uint64_t n : {0ull, 1ull, 2ull, 999ull, 20000ull}) {
      GenOptions o = opts(std::string(k.name).c_str(), n);
      o.gcEvery = 100;
      auto s = statsOf(o);
      EXPECT_EQ(s.events, n);
      EXPECT_EQ(s.gcs, n / 100);
      EXPECT_EQ(s.skippedFrees + s.implicitFrees, 0u);
    }
  }
}

TEST(TraceGenerate, SameSeedSameTraceOtherSeedOtherTrace) {
  for (auto& k : genKinds()) {
    GenOptions o = opts(std::string(k.name).c_str(), 5000);
    std::string a = genText(o), b = genText(o);
    EXPECT_EQ(a, b) << k.name;
    o.seed = 2;
    EXPECT_NE(a, genText(o)) << k.name;
  }
}

TEST(TraceGenerate, ThreadsAndGcDefaultsComeFromTheKind) {
  auto h = genHeader(opts("web"));
  EXPECT_EQ(h.threads, 8u);
  EXPECT_EQ(h.meta["generator"]["gc_every"], 100000);
  GenOptions o = opts("steady");
  o.threads = 3;
  EXPECT_EQ(statsOf(o).threads, 3u);
  EXPECT_THROW(genHeader(opts("nope")), std::invalid_argument);
  o.threads = 0;
  EXPECT_THROW(genHeader(o), std::invalid_argument);
}

TEST(TraceGenerate, SteadyFollowsTheGoSizeMix) {
  auto s = statsOf(opts("steady", 200000));
  uint64_t le16 = 0, le32 = 0, le64 = 0, le128 = 0;
  for (size_t i = 0; i <= 16; i++) le16 += s.smallSizes[i];
  for (size_t i = 17; i <= 32; i++) le32 += s.smallSizes[i];
  for (size_t i = 33; i <= 64; i++) le64 += s.smallSizes[i];
  for (size_t i = 65; i <= 128; i++) le128 += s.smallSizes[i];
  double n = double(s.allocs);
  EXPECT_NEAR(le16 / n, 0.44, 0.02);
  EXPECT_NEAR(le32 / n, 0.28, 0.02);
  EXPECT_NEAR(le64 / n, 0.21, 0.02);
  EXPECT_NEAR(le128 / n, 0.03, 0.01);
  EXPECT_NEAR(1 - (le16 + le32 + le64 + le128) / n, 0.04, 0.01);
  // A fixed live set: the peak is near the target (events/50), not growing with the trace.
  EXPECT_LT(s.peakLiveObjects, 200000u / 50 * 2);
}

TEST(TraceGenerate, ProducerConsumerFreesOnOtherThreads) {
  auto s = statsOf(opts("producer-consumer"));
  EXPECT_EQ(s.crossThreadFrees, s.frees);
}

TEST(TraceGenerate, LargeAllocatesOnlyLargeObjects) {
  auto s = statsOf(opts("large"));
  EXPECT_EQ(s.largeAllocs, s.allocs);
}

TEST(TraceGenerate, LarsonReusesIdsAndFreesAcrossThreads) {
  GenOptions o = opts("larson", 50000);
  std::string text = genText(o);
  auto ev = readText("l.jsonl", text);
  std::map<uint64_t, int> allocsPerId;
  for (auto& e : ev)
    if (e.op == Op::Alloc) allocsPerId[e.id]++;
  bool reused = false;
  for (auto& [id, n] : allocsPerId) reused |= n > 1;
  EXPECT_TRUE(reused);
  EXPECT_GT(statsOf(o).crossThreadFrees, 0u);
}

TEST(TraceGenerate, FragmentationFreesEveryOtherObjectThenAllocatesALargerClass) {
  GenOptions o = opts("fragmentation", 4000);  // n = 250 objects per fill
  auto ev = readText("f.jsonl", genText(o));
  ASSERT_EQ(ev[0].size, 16u);
  ASSERT_EQ(ev[250].op, Op::Free);
  EXPECT_EQ(ev[250].id, ev[0].id);
  EXPECT_EQ(ev[251].id, ev[2].id);
  EXPECT_EQ(ev[250 + 125].op, Op::Alloc);
  EXPECT_EQ(ev[250 + 125].size, 32u);
}

TEST(TraceGenerate, WebHasShortLivedRequestObjects) {
  auto s = statsOf(opts("web", 50000));
  uint64_t shortLived = 0, died = 0;
  for (size_t k = 0; k < 64; k++) {
    died += s.lifetimeLog2[k];
    if (k < 10) shortLived += s.lifetimeLog2[k];  // under 1024 events
  }
  EXPECT_GT(double(shortLived) / double(died), 0.9);
  EXPECT_GT(s.liveAtEnd, 0u);
}

}  // namespace
}  // namespace gomalloc::traces
