#include "reports/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "reports/render.h"

namespace gomalloc::reports {

namespace {

using Read = std::function<std::optional<double>(const Report&)>;

// Sums a figure over the Go rows of the small size classes; nullopt for reports without Go fields.
// Whether the report has the Go model's per-class fields (the go backend; go-runtime has a heap but not these).
bool hasGoClassFields(const Report& r) {
  return std::any_of(r.sizeClasses.begin(), r.sizeClasses.end(), [](const ClassRow& c) { return c.go.has_value(); });
}

template <typename F>
std::optional<double> sumSmallGo(const Report& r, F f) {
  if (!r.heap || !hasGoClassFields(r)) return std::nullopt;  // absent, never 0
  double sum = 0;
  for (const ClassRow& c : r.sizeClasses)
    if (c.go && c.cls != 0) sum += double(f(c));
  return sum;
}

std::optional<double> hitRate(const Report& r) {
  if (!r.heap || !hasGoClassFields(r)) return std::nullopt;
  double hits = 0, allocs = 0;
  for (const ClassRow& c : r.sizeClasses)
    if (c.go && c.cls != 0) hits += double(c.go->mcacheHits()), allocs += double(c.allocs);
  if (allocs == 0) return std::nullopt;
  return hits / allocs;
}

std::optional<double> fragmentation(const Report& r) {
  if (!r.heap || !hasGoClassFields(r)) return std::nullopt;
  double requested = 0, handedOut = 0;
  for (const ClassRow& c : r.sizeClasses)
    if (c.go) requested += double(c.bytesRequested), handedOut += double(c.go->bytesAllocated);
  if (handedOut == 0) return std::nullopt;
  return 1 - requested / handedOut;
}

template <typename F>
std::optional<double> sumLocks(const Report& r, F f) {
  if (!r.locks) return std::nullopt;
  double sum = 0;
  for (const LockRow& l : *r.locks) sum += double(f(l));
  return sum;
}

std::vector<Metric> buildCatalogue() {
  std::vector<Metric> m;
  auto add = [&](const char* name, const char* field, const char* label, Unit u, Direction d, Noise n, Read read) {
    m.push_back(Metric{name, field, label, u, d, n, std::move(read)});
  };
  const Direction lower = Direction::Lower, higher = Direction::Higher;
  add("ns_per_event", "summary.ns_per_event", "time per event", Unit::Nanoseconds, lower, Noise::Timing,
      [](const Report& r) -> std::optional<double> {
        if (r.summary.events == 0) return std::nullopt;
        return r.summary.nsPerEvent;
      });
  add("wall_time", "summary.wall_seconds", "wall time", Unit::Seconds, lower, Noise::Timing,
      [](const Report& r) -> std::optional<double> { return r.summary.wallSeconds; });
  add("peak_rss", "summary.peak_rss_bytes", "peak RSS", Unit::Bytes, lower, Noise::Timing,
      [](const Report& r) -> std::optional<double> { return double(r.summary.peakRssBytes); });
  add("peak_heap_inuse", "heap.peak.HeapInuse", "peak HeapInuse", Unit::Bytes, lower, Noise::Model,
      [](const Report& r) -> std::optional<double> {
        if (!r.heap) return std::nullopt;
        return double(r.heap->peak.heapInuse);
      });
  add("heap_released", "heap.HeapReleased", "HeapReleased at the end", Unit::Bytes, higher, Noise::Model,
      [](const Report& r) -> std::optional<double> {
        if (!r.heap) return std::nullopt;
        return double(r.heap->final.heapReleased);
      });
  add("gc_cycles", "summary.gc_cycles", "GC cycles", Unit::Count, lower, Noise::Model,
      [](const Report& r) -> std::optional<double> {
        if (!r.heap) return std::nullopt;
        return double(r.summary.gcCycles);
      });
  add("hit_rate", "size_classes[].mcache_hits / size_classes[].allocs", "mcache hit rate", Unit::Ratio, higher,
      Noise::Model, hitRate);
  add("refills", "size_classes[].refills", "mcache refills", Unit::Count, lower, Noise::Model,
      [](const Report& r) { return sumSmallGo(r, [](const ClassRow& c) { return c.go->refills; }); });
  static const char* refillFields[] = {"size_classes[].refills_from.partial_swept",
                                       "size_classes[].refills_from.partial_unswept",
                                       "size_classes[].refills_from.full_unswept", "size_classes[].refills_from.grown"};
  static const char* refillLabels[] = {"refills from partial swept spans", "refills from partial unswept spans",
                                       "refills from full unswept spans", "refills from heap growth"};
  static std::string refillNames[4];
  for (size_t k = 0; k < kRefillSourceKeys.size(); k++) {
    refillNames[k] = std::string("refills.") + kRefillSourceKeys[k];
    add(refillNames[k].c_str(), refillFields[k], refillLabels[k], Unit::Count, lower, Noise::Model,
        [k](const Report& r) { return sumSmallGo(r, [k](const ClassRow& c) { return c.go->refillFrom[k]; }); });
  }
  add("lock_contended", "locks[].contended", "contended lock acquisitions", Unit::Count, lower, Noise::Model,
      [](const Report& r) { return sumLocks(r, [](const LockRow& l) { return l.contended; }); });
  add("lock_wait", "locks[].wait_ns", "lock wait time", Unit::Nanoseconds, lower, Noise::Timing,
      [](const Report& r) { return sumLocks(r, [](const LockRow& l) { return l.waitNs; }); });
  add("internal_fragmentation", "1 - size_classes[].bytes_requested / size_classes[].bytes_allocated",
      "internal fragmentation", Unit::Ratio, lower, Noise::Model, fragmentation);
  return m;
}

std::string bytesText(double b) {
  const double a = std::fabs(b);
  if (a < 1024) return fmt::format("{:.0f} B", b);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  int u = -1;
  double v = b;
  while (std::fabs(v) >= 1024 && u < 3) v /= 1024, u++;
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string nanosText(double ns) {
  const double a = std::fabs(ns);
  if (a < 1e3) return fmt::format("{:.1f} ns", ns);
  if (a < 1e6) return fmt::format("{:.2f} us", ns / 1e3);
  if (a < 1e9) return fmt::format("{:.2f} ms", ns / 1e6);
  return fmt::format("{:.3f} s", ns / 1e9);
}

std::string countText(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e18)
    return (v < 0 ? "-" : "") + groupDigits(uint64_t(std::fabs(v)));
  return fmt::format("{:.1f}", v);
}

}  // namespace

const std::vector<Metric>& metricCatalogue() {
  static const std::vector<Metric> m = buildCatalogue();
  return m;
}

Metric classHitRateMetric(uint64_t size) {
  return Metric{fmt::format("hit_rate.{}B", size), fmt::format("size_classes[size={}].hit_rate", size),
                fmt::format("mcache hit rate, {} B class", size), Unit::Ratio, Direction::Higher, Noise::Model,
                [size](const Report& r) -> std::optional<double> {
                  for (const ClassRow& c : r.sizeClasses)
                    if (c.go && c.cls != 0 && c.size == size && c.allocs) return c.hitRate();
                  return std::nullopt;
                }};
}

std::optional<Metric> findMetric(std::string_view name) {
  for (const Metric& m : metricCatalogue())
    if (m.name == name) return m;
  constexpr std::string_view prefix = "hit_rate.";
  if (name.size() > prefix.size() + 1 && name.substr(0, prefix.size()) == prefix && name.back() == 'B') {
    std::string digits(name.substr(prefix.size(), name.size() - prefix.size() - 1));
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos && digits.size() < 10)
      return classHitRateMetric(std::stoull(digits));
  }
  return std::nullopt;
}

std::string metricNames() {
  std::string s;
  for (const Metric& m : metricCatalogue()) s += (s.empty() ? "" : ", ") + m.name;
  return s + ", hit_rate.<size>B";
}

const char* unitName(Unit u) {
  switch (u) {
    case Unit::Nanoseconds: return "ns";
    case Unit::Seconds: return "s";
    case Unit::Bytes: return "bytes";
    case Unit::Count: return "count";
    case Unit::Ratio: return "ratio";
  }
  return "";
}

const char* directionName(Direction d) { return d == Direction::Lower ? "lower" : "higher"; }
const char* noiseName(Noise n) { return n == Noise::Timing ? "timing" : "model"; }

std::optional<Direction> parseDirection(std::string_view s) {
  if (s == "lower") return Direction::Lower;
  if (s == "higher") return Direction::Higher;
  return std::nullopt;
}

bool isNoisy(const Metric& m, bool allDeterministic) { return m.noise == Noise::Timing || !allDeterministic; }

std::string formatValue(double v, Unit u) {
  if (std::isnan(v)) return "-";
  switch (u) {
    case Unit::Nanoseconds: return nanosText(v);
    case Unit::Seconds: return nanosText(v * 1e9);
    case Unit::Bytes: return bytesText(v);
    case Unit::Count: return countText(v);
    case Unit::Ratio: return fmt::format("{:.1f}%", 100 * v);
  }
  return "";
}

std::string formatDelta(double d, Unit u) {
  const char* sign = d > 0 ? "+" : d < 0 ? "-" : "";
  if (u == Unit::Ratio) return fmt::format("{}{:.2f} pp", sign, 100 * std::fabs(d));
  return sign + formatValue(std::fabs(d), u);
}

std::string formatRelative(double base, double value) {
  if (base == 0) return value == 0 ? "0%" : "new";
  const double rel = (value - base) / std::fabs(base);
  if (std::fabs(rel) < 0.0005) return rel == 0 ? "0%" : fmt::format("{:+.2f}%", 100 * rel);
  return fmt::format("{:+.1f}%", 100 * rel);
}

}  // namespace gomalloc::reports
