// Per-op latency, sampled: one op in kLatencySampleEvery on average per P is timed with the CPU's time-stamp
// counter (rdtsc, calibrated to ns over the replay) into per-P log-linear histograms that never allocate, merged
// after the replay into percentiles per group of ops (docs/report.md, "latency"). The other ops pay one counter
// decrement and a branch not taken.
#pragma once

#include <x86intrin.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace gomalloc::replay {

// The mean gap between two timed ops of a P (the default; Options::latencySampleEvery).
inline constexpr uint32_t kLatencySampleEvery = 64;

struct LatencyGroup {
  std::string name;     // tiny, small, medium, large, free
  uint64_t samples = 0;
  double p50Ns = 0, p99Ns = 0, p999Ns = 0, maxNs = 0;
};

struct LatencyStats {
  uint32_t sampleEvery = 0;     // one op in sampleEvery on average, per P
  std::string clock;            // "rdtsc"
  double timerOverheadNs = 0;   // the cost of reading the clock twice, subtracted from each sample
  std::vector<LatencyGroup> groups;  // every group, in the order of kLatencyGroupNames (samples 0 if none)
};

namespace detail {

// tiny: < 16 B without pointers (Go's tiny allocator); small: up to 1 KiB; medium: up to 32 KiB (Go's largest
// size class); large: more; free: every free.
enum LatencyGroupId : uint8_t { kTiny, kSmall, kMedium, kLarge, kFree, kLatencyGroups };
inline constexpr std::array<const char*, kLatencyGroups> kLatencyGroupNames = {"tiny", "small", "medium", "large",
                                                                               "free"};
inline LatencyGroupId latencyGroup(bool isFree, uint64_t size, bool scan) {
  if (isFree) return kFree;
  if (size < 16 && !scan) return kTiny;
  return size <= 1024 ? kSmall : size <= 32768 ? kMedium : kLarge;
}

// Buckets: values below 16 exactly, then 16 per power of two (at most 1/16 = 6.25% wide).
struct LatencyHistogram {
  static constexpr int kSub = 16;
  static constexpr int kBuckets = (64 - 3) * kSub;
  std::array<uint32_t, kBuckets> counts{};
  uint64_t max = 0;

  static int bucketOf(uint64_t v) {
    if (v < kSub) return int(v);
    const int e = 63 - __builtin_clzll(v);  // >= 4
    return (e - 3) * kSub + int((v >> (e - 4)) & (kSub - 1));
  }
  // The smallest value of bucket b, and the first of the next.
  static uint64_t lowerBound(int b) {
    if (b < kSub) return uint64_t(b);
    const int e = b / kSub + 3;
    return uint64_t(kSub + b % kSub) << (e - 4);
  }
  void add(uint64_t v) {
    counts[size_t(bucketOf(v))]++;
    if (v > max) max = v;
  }
};

// One P's histograms and its sampling state (the P's thread only).
struct LatencyRecorder {
  std::array<LatencyHistogram, kLatencyGroups> groups;
  uint32_t rng = 0;        // xorshift32 state
  uint32_t meanGap = kLatencySampleEvery;
  // The next gap: 1..2*meanGap-1, uniformly (mean meanGap), so that the timed ops do not line up with a
  // pattern the trace repeats.
  uint32_t nextGap() {
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return meanGap <= 1 ? 1 : 1 + rng % (2 * meanGap - 1);
  }
};

// Reads of the time-stamp counter that the CPU does not move across the timed op (lfence on both sides).
inline uint64_t ticksNow() {
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

// The ticks of reading the clock twice with nothing between (the least of many tries).
uint64_t timerOverheadTicks();

// Merges the Ps' histograms: ticks are converted to ns with ticks/ns measured over the replay (nsSpan over
// ticksSpan), and overheadTicks is subtracted from each sample.
LatencyStats summarizeLatency(const LatencyRecorder* recorders, int n, uint32_t sampleEvery, uint64_t overheadTicks,
                              uint64_t nsSpan, uint64_t ticksSpan);

}  // namespace detail
}  // namespace gomalloc::replay
