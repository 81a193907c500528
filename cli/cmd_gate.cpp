// gomalloc gate BASELINE.json CURRENT.json: checks the current report against the baseline, metric by metric
// (reports/gate.h; docs/compare.md). Exit 0 when every rule holds, 1 when any regresses, 2 on bad input.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/app.h"
#include "reports/compare.h"
#include "reports/gate.h"
#include "reports/json_input.h"

namespace gomalloc::cli {
namespace {

struct GateCliOptions {
  std::string baseline, current, rules, format = "table", output = "-", junit;
  std::vector<std::string> max;
  std::string variant, baselineVariant, currentVariant;
  bool allowSettings = false, noDefaults = false;
  bool junitGiven = false;  // --junit was given (an empty path is then an error, not "no JUnit file")
};

// Reports and rules files: size-limited, duplicate keys refused, parse errors with the line and column.
nlohmann::ordered_json readJson(const std::string& file, const reports::JsonInput& what) {
  try {
    return reports::readJsonFile(file, what);
  } catch (const reports::JsonInputError& e) {
    throw UsageError(std::string("gate: ") + e.what(), 2);
  }
}

bool isCompare(const nlohmann::ordered_json& j) {
  return j.is_object() && j.contains("schema") && j["schema"] == reports::kCompareSchema;
}

int runGate(const GateCliOptions& o) {
  std::vector<std::string> outputs = {o.output};
  if (!o.junit.empty() || o.junitGiven) outputs.push_back(o.junit);
  checkOutputs(outputs, {o.baseline, o.current, o.rules});
  try {
    const nlohmann::ordered_json bj = readJson(o.baseline, reports::kReportInput);
    const nlohmann::ordered_json cj = readJson(o.current, reports::kReportInput);
    if (!o.variant.empty() && !isCompare(bj) && !isCompare(cj))
      throw UsageError(fmt::format("gate: --variant {}: neither {} nor {} is a compare report", o.variant, o.baseline, o.current));
    auto pick = [&](const nlohmann::ordered_json& j, const std::string& own) -> std::optional<std::string> {
      if (!own.empty()) return own;
      if (!o.variant.empty() && isCompare(j)) return o.variant;
      return std::nullopt;
    };
    reports::GateOptions opts;
    opts.allowSettings = o.allowSettings;
    if (!o.rules.empty()) reports::parseRulesFile(readJson(o.rules, reports::kRulesInput), o.rules, opts);
    if (o.noDefaults) opts.defaults = false;
    for (auto& m : o.max) opts.rules.push_back(reports::parseMaxFlag(m));
    const reports::GateSide base = reports::loadSide(bj, o.baseline, pick(bj, o.baselineVariant));
    const reports::GateSide cur = reports::loadSide(cj, o.current, pick(cj, o.currentVariant));
    reports::checkCompatible(base, cur, o.allowSettings);
    const reports::GateResult result = reports::evaluate(base, cur, opts);
    if (result.checks.empty()) throw UsageError("gate: no rules to check (the defaults are off and no --max or rules given)");
    // The files first, then the verdict: an output that cannot be written is never reported beside a PASS, and its
    // exit code (kExitFailed) is never 1, which means a regression.
    if (o.junitGiven) writeOutput(o.junit, reports::renderGateJunit(result));
    writeOutput(o.output, o.format == "markdown" ? reports::renderGateMarkdown(result)
                          : o.format == "json"   ? reports::gateToJson(result).dump(2) + "\n"
                                                 : reports::renderGateTable(result));
    return result.failed() ? kExitRegression : 0;
  } catch (const reports::GateInputError& e) {
    throw UsageError(std::string("gate: ") + e.what(), 2);
  }
}

}  // namespace

void registerGate(Registry& r) {
  auto o = std::make_shared<GateCliOptions>();
  auto* sub = r.app.add_subcommand(
      "gate", "Check a report against a baseline: exit 0 when every rule holds, 1 on a regression, 2 on bad input");
  sub->add_option("baseline", o->baseline, "The baseline: a replay or compare report (JSON)")->required();
  sub->add_option("current", o->current, "The report to check: a replay or compare report (JSON)")->required();
  sub->add_option("--rules", o->rules, "Rules from a JSON file (docs/compare.md)");
  sub->add_option("--max", o->max,
                  "A rule, METRIC=LIMIT: peak_rss=5% (relative), peak_rss=+4MiB or gc_cycles=+2 (absolute, in a unit "
                  "of the metric's; a bare number is a count); repeatable")
      ->allow_extra_args(false);
  sub->add_flag("--no-defaults", o->noDefaults, "Check only the rules given (--rules, --max)");
  sub->add_option("--variant", o->variant, "The variant to read from compare reports (default: their baseline)");
  sub->add_option("--baseline-variant", o->baselineVariant, "The variant to read from a compare report as baseline");
  sub->add_option("--current-variant", o->currentVariant, "The variant to read from a compare report as current");
  sub->add_flag("--allow-settings", o->allowSettings, "Gate across different Go-model settings");
  sub->add_option("--format", o->format, "table (default), markdown (a CI job summary) or json")
      ->check(CLI::IsMember({"table", "markdown", "json"}));
  sub->add_option("-o,--output", o->output, "Write the table to this file (atomically) instead of stdout");
  auto* junit = sub->add_option("--junit", o->junit, "Also write JUnit XML (one test case per metric) to this file");
  r.add(sub, [o, junit] {
    o->junitGiven = junit->count() > 0;
    return runGate(*o);
  });
}

}  // namespace gomalloc::cli
