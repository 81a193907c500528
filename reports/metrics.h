// The metrics that compare and gate read out of a report, each with a short name (used by `gate --max`
// and rules files), the report field it reads, its unit, which way is better, and whether it is reproducible.
// docs/compare.md lists them; keep the two in step.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/report.h"

namespace gomalloc::reports {

enum class Unit { Nanoseconds, Seconds, Bytes, Count, Ratio };
enum class Direction { Lower, Higher };  // which way is better
// Timing: depends on time or on the kernel; differs on every run. Model: a figure of the allocator that a
// --deterministic replay reproduces exactly (it varies with scheduling in concurrent mode).
enum class Noise { Timing, Model };

struct Metric {
  std::string name;   // short name: peak_rss, hit_rate.48B
  std::string field;  // the report field(s) it reads (docs/report.md)
  std::string label;  // for people: "peak RSS"
  Unit unit = Unit::Count;
  Direction direction = Direction::Lower;
  Noise noise = Noise::Model;
  // The value in a report; nullopt where the report has no such figure (e.g. Go-only metrics of other backends).
  std::function<std::optional<double>(const Report&)> read;
};

// The fixed metrics, in display order.
const std::vector<Metric>& metricCatalogue();
// The per-class mcache hit rate of the class whose objects are `size` bytes (short name hit_rate.<size>B).
Metric classHitRateMetric(uint64_t size);
// A metric by short name (the catalogue, or hit_rate.<size>B); nullopt when unknown.
std::optional<Metric> findMetric(std::string_view name);
// Every short name, for error messages.
std::string metricNames();

const char* unitName(Unit u);            // ns, s, bytes, count, ratio
const char* directionName(Direction d);  // lower, higher
const char* noiseName(Noise n);          // timing, model
std::optional<Direction> parseDirection(std::string_view s);

// Whether a metric's values vary from run to run for these reports: timing metrics always, model metrics
// unless every report was a --deterministic replay.
bool isNoisy(const Metric& m, bool allDeterministic);

// "1.23 us", "10.5 MiB", "1,234", "93.1%".
std::string formatValue(double v, Unit u);
// A signed difference in the metric's unit: "+512.0 KiB", "-3", "+1.2 pp" (percentage points for ratios).
std::string formatDelta(double d, Unit u);
// "+7.8%", "-0.3%", "0%"; for a zero baseline "new" (or "0%" when both are zero).
std::string formatRelative(double base, double value);

}  // namespace gomalloc::reports
