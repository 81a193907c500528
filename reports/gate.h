// gomalloc gate: checks a current report against a baseline, metric by metric, each with a direction and a
// limit; the verdicts decide a CI job (exit 0 pass, 1 regression, 2 bad input). Either input may be a replay
// report or a compare report (every run of one variant is a sample). docs/compare.md documents the rules.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "reports/metrics.h"
#include "reports/report.h"
#include "reports/stats.h"

namespace gomalloc::reports {

// Bad or incompatible input: the gate exits 2 with this message.
struct GateInputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Limit {
  enum Kind { Relative, Absolute } kind = Relative;
  double value = 0;  // Relative: a fraction (0.05 for "5%"); Absolute: in the metric's unit (bytes, ns, s, a ratio)
  std::string text;  // as written
};
// "5%" (relative) or an absolute limit in a unit of the metric's: "+2" (counts only: a bare number is a count),
// "+512KiB" / "4MiB" / "100B" (bytes), "+50ns" / "2us" / "1ms" / "1s" (times), "+1pp" (ratios, percentage
// points); "0" or "+0" for any metric. Throws GateInputError on anything else, a bare number for a metric that
// is not a count included.
Limit parseLimit(std::string_view text, std::string_view where, Unit unit);
// Whether a change `worse` (positive: the wrong way) from a baseline of base passes the limit.
bool beyondLimit(const Limit& l, double base, double worse);
// How far a metric may move before compare shows the change as worse or better and before gate calls it a
// regression or an improvement by default: the default rule's limit (deterministic or not), else 5% for timing
// metrics and 1% for the others; hit_rate.<size>B follows hit_rate. docs/compare.md states it.
Limit negligibleLimit(const Metric& m, bool deterministic);

struct Rule {
  std::string metric;
  Direction direction = Direction::Lower;
  Limit limit;
  std::optional<bool> significance;  // rules file "significance": false compares medians even with repeats
  std::string origin;                // "default", the rules file, or "--max"
};

struct GateOptions {
  std::vector<Rule> rules;   // explicit rules (rules file, then --max), later ones replacing earlier ones
  bool defaults = true;      // add the default rules for metrics the explicit rules do not name
  double alpha = 0.05;
  size_t minRepeats = 3;     // runs on each side before a noisy metric is tested
  bool allowSettings = false;
};
// Reads a rules file's JSON into o (rules appended). Throws GateInputError naming the file and the entry.
void parseRulesFile(const nlohmann::ordered_json& j, const std::string& file, GateOptions& o);
// "METRIC=LIMIT" from --max. Throws GateInputError.
Rule parseMaxFlag(std::string_view text);

// The default rules: name, limit when every report is --deterministic, limit otherwise (empty: no rule).
struct DefaultRule {
  const char* metric;
  const char* deterministicLimit;
  const char* noisyLimit;
};
const std::vector<DefaultRule>& defaultRules();

// One side of the gate: the runs of one replay or of one variant of a compare report.
struct GateSide {
  std::string file;
  std::string variant;  // compare reports: the variant's name
  std::vector<Report> runs;
  bool timings = true;  // false for a --no-timings report: the timing metrics are not there
  bool deterministic() const;
};
// j is a replay report or a compare report; variant picks a compare report's variant (default: its baseline).
GateSide loadSide(const nlohmann::ordered_json& j, const std::string& file, const std::optional<std::string>& variant);
// Throws GateInputError saying why two sides cannot be compared (different traces, backends, Ps, modes,
// touch, settings unless allowSettings, interrupted replays).
void checkCompatible(const GateSide& base, const GateSide& cur, bool allowSettings);

enum class Verdict { Pass, Improved, NotSignificant, Regressed, Skipped };
const char* verdictName(Verdict v);  // pass, improved, ~, REGRESSED, skipped

struct Check {
  Rule rule;
  Metric metric;
  stats::Spread base, cur;
  double delta = 0;                 // cur - base medians
  std::optional<double> relative;   // delta / |base|
  bool tested = false;
  stats::UTest test;
  Verdict verdict = Verdict::Skipped;
  std::string note;  // why skipped, or how it was decided
};

struct GateResult {
  GateSide base, cur;
  std::vector<Check> checks;
  double alpha = 0.05;
  bool failed() const;
  size_t count(Verdict v) const;
};
GateResult evaluate(const GateSide& base, const GateSide& cur, const GateOptions& o);

std::string renderGateTable(const GateResult& g);
std::string renderGateMarkdown(const GateResult& g);
std::string renderGateJunit(const GateResult& g);
// "schema": "gomalloc-gate", "version": 1 (docs/compare.md).
inline constexpr const char* kGateSchema = "gomalloc-gate";
inline constexpr int kGateVersion = 1;
nlohmann::ordered_json gateToJson(const GateResult& g);

}  // namespace gomalloc::reports
