// gomalloc compare: the same trace replayed under several allocator configurations ("variants"), each run
// in a child process of its own, repeated and interleaved; then one row per metric, one column per variant,
// with the median, the spread, the delta to the baseline (the first variant) and a Mann-Whitney U test.
// The data lives here (and renders to table, markdown, csv, json); cli/cmd_compare.cpp runs the children.
// docs/compare.md documents the formats.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reports/metrics.h"
#include "reports/report.h"
#include "reports/stats.h"

namespace gomalloc::reports {

inline constexpr const char* kCompareSchema = "gomalloc-compare";
inline constexpr int kCompareVersion = 2;        // 2: variants[].settings and the reports in them are typed
inline constexpr int kOldestCompareVersion = 1;  // the oldest compare report this build reads

struct VariantSpec {
  std::string name;
  std::string allocator = "go";                            // go, system, jemalloc, tcmalloc, mimalloc
  std::vector<std::pair<std::string, std::string>> sets;  // Go-model settings (--variant NAME:k=v,...)
  std::string configFile;                                  // --config FILE.json
};

// "NAME" or "NAME:key=value,key=value". Throws std::invalid_argument saying what is wrong.
VariantSpec parseVariant(std::string_view text);

struct CompareOptions {
  std::string trace;
  int repeat = 1;
  int procs = 0;  // 0: the replay's default
  bool deterministic = false;
  std::string touch = "pages";
  bool lenient = false;
  double alpha = 0.05;
};

// The arguments of one child run (after the executable): `replay TRACE --format json -o OUT --quiet ...`.
std::vector<std::string> replayArgs(const CompareOptions& o, const VariantSpec& v, const std::string& out);

struct VariantRuns {
  VariantSpec spec;
  std::vector<Report> runs;  // in the order they ran
};

struct CompareResult {
  ToolInfo tool;
  CompareOptions options;
  std::vector<VariantRuns> variants;  // the first is the baseline
};

// Runs o.repeat rounds; each round runs every variant once, in order (A B C A B C ...), through
// run(variant index, round). Checks that every report is of the same trace (std::runtime_error otherwise).
CompareResult runCompare(const CompareOptions& o, const std::vector<VariantSpec>& variants, const ToolInfo& tool,
                         const std::function<Report(size_t variant, int round)>& run);

// One variant's figures for one metric.
struct Cell {
  bool present = false;          // the variant's reports have this metric
  std::vector<double> samples;   // one per run
  stats::Spread spread;          // median, min, max, quartiles of the samples
  // Against the baseline (not for the baseline itself):
  double delta = 0;              // median - baseline median
  std::optional<double> relative;  // delta / |baseline median|; nullopt when the baseline median is 0
  bool tested = false;           // a Mann-Whitney U test ran (noisy metric, 2 or more runs on both sides)
  stats::UTest test;
  bool significant = false;      // tested: p < alpha; exact metrics: the medians differ
  // +1 worse, -1 better, 0 neither: significant (or exact) and past the metric's negligibleLimit (gate.h), the
  // threshold gate's default rules use.
  int verdict = 0;
};

struct Row {
  Metric metric;
  bool noisy = false;  // isNoisy(metric, every run deterministic)
  std::vector<Cell> cells;  // one per variant
};

// The catalogue's metrics present in some variant, then the per-class hit rates by class size.
std::vector<Row> summarize(const CompareResult& c);
bool allDeterministic(const CompareResult& c);
// Whether a per-class row is shown in tables (its class has at least 1% of the baseline's allocations).
bool shownInTables(const CompareResult& c, const Row& row);

// The spread of a noisy metric's runs: " ±4%" (half the min-max range, relative to the median), " (0..2)" when
// the median is 0; empty for single runs, exact metrics and identical runs.
std::string spreadText(const Row& row, const Cell& cell);
// "+7.8% (p=0.008)", "~ (p=0.310)", "+3.1% (n=1)", "0%"; empty for the baseline and absent cells.
std::string deltaText(const Row& row, size_t variant);

std::string renderCompareTable(const CompareResult& c);
std::string renderCompareMarkdown(const CompareResult& c);
std::string renderCompareCsv(const CompareResult& c);
nlohmann::ordered_json compareToJson(const CompareResult& c);
// {"name", "version", "go_model"}: the tool section of compare, suite and part files, both ways.
nlohmann::ordered_json toolJson(const ToolInfo& t);
ToolInfo toolFromJson(const nlohmann::ordered_json& j);  // throws nlohmann::json::exception
// {"repeat", "procs", "deterministic", "touch", "lenient", "alpha"} (not the trace), both ways.
nlohmann::ordered_json optionsJson(const CompareOptions& o);
CompareOptions optionsFromJson(const nlohmann::ordered_json& j);  // throws nlohmann::json::exception
// Throws std::runtime_error naming the field that is wrong ("compare JSON: variants[1].reports[0]: ...").
CompareResult compareFromJson(const nlohmann::ordered_json& j);

}  // namespace gomalloc::reports
