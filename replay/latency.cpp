#include "replay/latency.h"

#include <algorithm>
#include <cmath>

namespace gomalloc::replay::detail {

uint64_t timerOverheadTicks() {
  uint64_t least = ~uint64_t{0};
  for (int i = 0; i < 1000; i++) {
    const uint64_t t0 = ticksNow();
    const uint64_t t1 = ticksNow();
    least = std::min(least, t1 - t0);
  }
  return least;
}

LatencyStats summarizeLatency(const LatencyRecorder* recorders, int n, uint32_t sampleEvery, uint64_t overheadTicks,
                              uint64_t nsSpan, uint64_t ticksSpan) {
  LatencyStats out;
  out.sampleEvery = sampleEvery;
  out.clock = "rdtsc";
  const double nsPerTick = ticksSpan ? double(nsSpan) / double(ticksSpan) : 0;
  out.timerOverheadNs = std::round(double(overheadTicks) * nsPerTick * 10) / 10;
  for (int g = 0; g < kLatencyGroups; g++) {
    LatencyHistogram h;
    for (int p = 0; p < n; p++) {
      const LatencyHistogram& x = recorders[p].groups[size_t(g)];
      for (size_t b = 0; b < h.counts.size(); b++) h.counts[b] += x.counts[b];
      h.max = std::max(h.max, x.max);
    }
    LatencyGroup row;
    row.name = kLatencyGroupNames[size_t(g)];
    for (uint32_t c : h.counts) row.samples += c;
    // A percentile is the midpoint of the bucket that holds it (the exact value below 16 ticks), never above the
    // largest sample; ticks less the timer's overhead, in ns.
    auto ns = [&](uint64_t ticks) {  // (to 0.1 ns: the clock's resolution is coarser)
      return std::round(double(ticks - std::min(ticks, overheadTicks)) * nsPerTick * 10) / 10;
    };
    auto percentile = [&](double q) {
      if (row.samples == 0) return 0.0;
      const uint64_t rank = std::max<uint64_t>(1, uint64_t(q * double(row.samples) + 0.999999));
      uint64_t seen = 0;
      for (int b = 0; b < LatencyHistogram::kBuckets; b++) {
        seen += h.counts[size_t(b)];
        if (seen < rank) continue;
        const uint64_t lo = LatencyHistogram::lowerBound(b);
        const uint64_t hi = b + 1 < LatencyHistogram::kBuckets ? LatencyHistogram::lowerBound(b + 1) : h.max;
        const uint64_t mid = b < LatencyHistogram::kSub || hi <= lo ? lo : lo + (hi - lo) / 2;
        return ns(std::min(mid, h.max));
      }
      return ns(h.max);
    };
    row.p50Ns = percentile(0.5);
    row.p99Ns = percentile(0.99);
    row.p999Ns = percentile(0.999);
    row.maxNs = ns(h.max);
    out.groups.push_back(row);
  }
  return out;
}

}  // namespace gomalloc::replay::detail
