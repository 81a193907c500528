// Sampled per-op latency (replay/latency.h) and the allocator's own statistics (replay/allocstats.h).
#include <gtest/gtest.h>

#include "replay/basic_backends.h"
#include "replay/replayer.h"
#include "replay/synth.h"

namespace gomalloc::replay {
namespace {

Options options(int procs, bool deterministic, uint32_t sampleEvery) {
  return Options{.procs = procs, .deterministic = deterministic, .rssIntervalMs = 0, .latencySampleEvery = sampleEvery};
}

// One object of each group on two threads, then every one freed.
traces::ReplayProgram oneOfEachGroup() {
  synth::ProgramBuilder b(2);
  std::vector<uint64_t> ids = {b.alloc(0, 8), b.alloc(1, 8, true), b.alloc(0, 100), b.alloc(1, 4096),
                               b.alloc(0, 100000)};
  for (size_t i = 0; i < ids.size(); i++) b.free(uint16_t(i % 2), ids[i]);
  return b.build();
}

TEST(ReplayLatency, EveryOpTimedWhenSampleEveryIsOne) {
  const traces::ReplayProgram p = oneOfEachGroup();
  for (bool det : {true, false}) {
    NullBackend backend(2);
    const Result r = run(p, backend, options(2, det, 1));
    ASSERT_TRUE(r.latency) << det;
    EXPECT_EQ(r.latency->sampleEvery, 1u);
    EXPECT_EQ(r.latency->clock, "rdtsc");
    ASSERT_EQ(r.latency->groups.size(), 5u);
    // tiny: 8 B without pointers; small: 8 B with pointers and 100 B; medium: 4 KiB; large: 100 kB.
    const std::vector<std::pair<std::string, uint64_t>> want = {
        {"tiny", 1}, {"small", 2}, {"medium", 1}, {"large", 1}, {"free", 5}};
    for (size_t g = 0; g < want.size(); g++) {
      const LatencyGroup& x = r.latency->groups[g];
      EXPECT_EQ(x.name, want[g].first);
      EXPECT_EQ(x.samples, want[g].second) << x.name << " det=" << det;
      EXPECT_LE(x.p50Ns, x.p99Ns);
      EXPECT_LE(x.p99Ns, x.p999Ns);
      EXPECT_LE(x.p999Ns, x.maxNs);
    }
  }
}

TEST(ReplayLatency, NoneWhenSamplingIsOff) {
  NullBackend backend(2);
  EXPECT_FALSE(run(oneOfEachGroup(), backend, options(2, true, 0)).latency);
}

// One op in N on average: over many ops the count comes near ops / N, and every P samples.
TEST(ReplayLatency, SamplesAboutOneOpInN) {
  const traces::ReplayProgram p = synth::steady(200000, 2, 1000, 5);
  SystemBackend backend;
  const Result r = run(p, backend, options(2, false, 64));
  ASSERT_TRUE(r.latency);
  uint64_t samples = 0;
  for (const LatencyGroup& g : r.latency->groups) samples += g.samples;
  const double expect = double(r.allocs + r.frees) / 64;
  EXPECT_GT(double(samples), 0.8 * expect);
  EXPECT_LT(double(samples), 1.2 * expect);
}

TEST(ReplayLatency, HistogramBucketsHoldTheirValues) {
  using H = detail::LatencyHistogram;
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{15}, uint64_t{16}, uint64_t{17}, uint64_t{31}, uint64_t{32},
                     uint64_t{1000}, uint64_t{123456789}, uint64_t{1} << 40, ~uint64_t{0} >> 1}) {
    const int b = H::bucketOf(v);
    ASSERT_LT(b + 1, H::kBuckets) << v;
    EXPECT_LE(H::lowerBound(b), v);
    EXPECT_LT(v, H::lowerBound(b + 1));
    if (v >= 16) {
      EXPECT_LE(double(H::lowerBound(b + 1) - H::lowerBound(b)) / double(H::lowerBound(b)), 1.0 / 16 + 1e-9);
    }
  }
  H h;
  for (uint64_t v = 1; v <= 1000; v++) h.add(v);
  EXPECT_EQ(h.max, 1000u);
}

// 1000 objects of 4000 bytes, a gc event, every object freed, a gc event: the system malloc (glibc's here)
// reports its figures at both, in order, with the gc events' indices in the trace.
TEST(ReplayAllocatorStats, SystemReadsItsMallocAtEachGcEventAndAtTheEnd) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer replaces malloc: mallinfo2 is not glibc's";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  GTEST_SKIP() << "a sanitizer replaces malloc: mallinfo2 is not glibc's";
#endif
#endif
  synth::ProgramBuilder b(2);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 1000; i++) ids.push_back(b.alloc(uint16_t(i % 2), 4000));
  b.gc();
  for (size_t i = 0; i < ids.size(); i++) b.free(uint16_t(i % 2), ids[i]);
  b.gc();
  const traces::ReplayProgram p = b.build();
  for (bool det : {true, false}) {
    SystemBackend backend;
    const Result r = run(p, backend, options(2, det, 0));
    ASSERT_TRUE(r.allocatorStats) << det;
    const AllocatorStats& a = *r.allocatorStats;
    if (SystemBackend::detectMallocLibrary() != "glibc") GTEST_SKIP() << "the test runs under another malloc";
    EXPECT_EQ(a.source, "glibc mallinfo2");
    ASSERT_EQ(a.atGc.size(), 2u);
    EXPECT_EQ(a.atGc[0].event, 1000u);
    EXPECT_EQ(a.atGc[0].gc, 0u);
    EXPECT_EQ(a.atGc[1].event, 2001u);
    EXPECT_EQ(a.atGc[1].gc, 1u);
    auto figure = [](const AllocatorFigures& f, const std::string& name) {
      for (auto& [k, v] : f)
        if (k == name) return v;
      ADD_FAILURE() << name << " missing";
      return uint64_t{0};
    };
    const uint64_t atGc0 = figure(a.atGc[0].figures, "uordblks"), atGc1 = figure(a.atGc[1].figures, "uordblks");
    EXPECT_GE(atGc0, atGc1 + 3'900'000) << "the objects are in use at the first gc event and freed at the second";
    EXPECT_LT(figure(a.atEnd, "uordblks"), atGc0 - 3'900'000);
    EXPECT_EQ(a.atEnd.size(), 6u);
  }
}

TEST(ReplayAllocatorStats, NullAndUnknownMallocsHaveNone) {
  NullBackend backend(2);
  EXPECT_FALSE(run(oneOfEachGroup(), backend, options(2, true, 0)).allocatorStats);
  EXPECT_FALSE(AllocatorStatsReader("some-other-malloc").available());
  EXPECT_TRUE(AllocatorStatsReader("glibc").available());
}

}  // namespace
}  // namespace gomalloc::replay
