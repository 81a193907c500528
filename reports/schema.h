// The schema of the JSON reports gomalloc reads back (gate's inputs, compare's child reports): replay reports
// ("gomalloc-report") and compare reports ("gomalloc-compare"). It requires every section and field the readers
// use, by backend (go reports have heap, locks and the Go fields of size_classes; the others must not), checks
// the type of every field it knows, and accepts fields it does not know (added within a version). Reports made
// with --no-timings (reports::stripVolatile) pass: a report has the time- and kernel-dependent fields all or
// none. docs/report.md ("Schema") documents the rules.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace gomalloc::reports {

// what(): the field's path and what is wrong: "heap: missing (required for the go backend)",
// "summary.events: expected a non-negative integer, found a string (\"12\")".
struct SchemaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A replay report. Throws SchemaError naming the first field that is wrong.
void checkReportSchema(const nlohmann::ordered_json& j);
// A compare report, each of its replay reports included ("variants[1].reports[0].heap: missing ...").
void checkCompareSchema(const nlohmann::ordered_json& j);
// Either, by its "schema" field; throws SchemaError ("not a gomalloc report ...") for anything else.
void checkAnySchema(const nlohmann::ordered_json& j);

// Whether a replay report has the time- and kernel-dependent fields (false for --no-timings reports). Only
// meaningful for a report that passed checkReportSchema.
bool hasTimings(const nlohmann::ordered_json& report);

}  // namespace gomalloc::reports
