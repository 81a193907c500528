// gomalloc compare over several traces (a suite) and across machines (shards).
// The runs of a compare form a matrix, trace x round x variant, flattened in the order one machine runs it
// (trace by trace; within a trace round by round, A B C A B C ...). `--shard I/N` runs the runs whose index k
// has k mod N == I - 1 and writes them to a part file; `--merge` checks that the parts are the N parts of one
// matrix and assembles them exactly as one machine's run is assembled (assembleSuite), so the result is the
// same. A suite adds a summary: per metric, the geometric mean over traces of each variant's median relative
// to the baseline's. The data lives here; cli/cmd_compare.cpp runs the children. docs/compare.md documents
// the formats.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reports/compare.h"

namespace gomalloc::reports {

inline constexpr const char* kSuiteSchema = "gomalloc-compare-suite";
inline constexpr int kSuiteVersion = 1;
inline constexpr const char* kPartSchema = "gomalloc-compare-part";
inline constexpr int kPartVersion = 1;

using Settings = std::vector<std::pair<std::string, std::string>>;

struct MatrixTrace {
  std::string path, digest;  // digest: empty until known (a one-machine run learns it from the first report)
  uint64_t events = 0;
};

// Everything that decides what the runs are: a part file carries it, and parts merge only when theirs agree.
struct Matrix {
  std::vector<MatrixTrace> traces;
  std::vector<VariantSpec> variants;  // the first is the baseline
  std::vector<Settings> resolved;     // per variant: its effective Go-model settings (empty for other backends)
  CompareOptions options;             // options.trace is unused (each trace's path is in traces)
  std::string memoryLimit;            // passed to every run ("" for the default)
  size_t runs() const { return traces.size() * variants.size() * size_t(options.repeat); }
};

// Run k of the matrix, in canonical order.
struct RunIndex {
  size_t trace = 0, variant = 0;
  int round = 0;
  bool operator==(const RunIndex&) const = default;
};
RunIndex runAt(const Matrix& m, size_t k);

// --shard I/N: I from 1 to N.
struct Shard {
  int index = 1, count = 1;
};
// "2/3". Throws std::invalid_argument saying what is wrong ("--shard 0/3: I must be from 1 to 3").
Shard parseShard(std::string_view text);
// The run indices of shard s among `runs` runs: k with k mod count == index - 1, ascending.
std::vector<size_t> shardRuns(size_t runs, Shard s);

struct MatrixRun {
  size_t k = 0;  // the run's index in canonical order
  Report report;
};

// Runs the given run indices in order through run(). Every report must be of its trace: of the matrix's digest
// when known, else of the first report of that trace (std::runtime_error otherwise).
std::vector<MatrixRun> runMatrix(const Matrix& m, const std::vector<size_t>& which,
                                 const std::function<Report(const RunIndex&)>& run);

struct SuiteResult {
  ToolInfo tool;
  std::vector<CompareResult> traces;  // one per trace, in command-line order
};

// Puts every run in its place: runs must hold each of the matrix's runs once (std::runtime_error otherwise).
// A variant's runs are in round order whatever order `runs` has, so one machine's run and a merge give the same.
SuiteResult assembleSuite(const Matrix& m, const ToolInfo& tool, std::vector<MatrixRun> runs);

// ---- the suite summary ----

struct SummaryCell {
  size_t traces = 0;  // traces whose medians entered the mean (both present and positive)
  double ratio = 0;   // geometric mean of median(variant) / median(baseline); meaningful when traces > 0
};
struct SummaryRow {
  Metric metric;
  std::vector<SummaryCell> cells;  // one per variant after the baseline
};
// The catalogue's metrics present in some trace (per-class hit rates are left out: classes differ by trace).
std::vector<SummaryRow> summarizeSuite(const SuiteResult& s);
// "0.870x (-13.0%)", with " [1 of 2 traces]" when some were left out; "-" when none entered.
std::string summaryText(const SummaryCell& cell, size_t traces);

std::string renderSuiteTable(const SuiteResult& s);
std::string renderSuiteMarkdown(const SuiteResult& s);
std::string renderSuiteCsv(const SuiteResult& s);
nlohmann::ordered_json suiteToJson(const SuiteResult& s);

// ---- part files ----

struct Part {
  ToolInfo tool;
  Matrix matrix;
  Shard shard;
  std::vector<MatrixRun> runs;
};
nlohmann::ordered_json partToJson(const Part& p);
// Throws std::runtime_error naming the field that is wrong ("runs[2].report.summary.events: missing").
Part partFromJson(const nlohmann::ordered_json& j);

// What --merge refuses: what() names the file(s).
struct MergeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The parts (file name, part), in any order: exactly the N parts of one matrix, each once, each holding its
// shard's runs. Returns the matrix and every run, for assembleSuite.
std::pair<Matrix, std::vector<MatrixRun>> mergeParts(const std::vector<std::pair<std::string, Part>>& parts,
                                                     ToolInfo* tool);

}  // namespace gomalloc::reports
