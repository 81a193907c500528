// Renderers of a Report: table (a compact human summary), json (the documented schema, docs/report.md) and
// csv (several tables, each with its own header row; the first column names the table). Plus the way back
// from JSON, used to relabel the reports of preloaded backends and by tools that compare reports.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "reports/report.h"

namespace gomalloc::reports {

enum class Format { Table, Json, Csv };
std::optional<Format> parseFormat(std::string_view s);

nlohmann::ordered_json toJson(const Report& r);
// Throws std::runtime_error naming the first field that is missing or of the wrong type, or a schema or
// version this build does not read.
Report fromJson(const nlohmann::ordered_json& j);
// A setting's value as JSON (reports of version 2 on): true and false as booleans, integers and decimal numbers as
// numbers, anything else (off, 64MiB, go1.19, a list of sizes) as a string.
nlohmann::ordered_json settingToJson(const std::string& text);
// The setting's text again (as the text report and --set write it); a string as it is (version 1 wrote strings
// only). Throws std::runtime_error for an object, an array or null.
std::string settingFromJson(const nlohmann::ordered_json& v);

std::string renderJson(const Report& r);
// The table's length: by default the top kTableClasses size classes by allocations (in size order) and, of the GC
// cycles, the first kTableFirstGcs and the last kTableLastGcs; each table says what it left out (JSON has all).
inline constexpr size_t kTableClasses = 15, kTableFirstGcs = 10, kTableLastGcs = 3;
struct TableOptions {
  bool allClasses = false;    // every size class used (replay --all-classes)
  bool allGcCycles = false;   // every GC cycle (replay --all-gc-cycles)
};
std::string renderTable(const Report& r, const TableOptions& o = {});
std::string renderCsv(const Report& r);
std::string render(const Report& r, Format f, const TableOptions& table = {});

// Removes from a report's JSON every field that depends on time or on the kernel (wall time, rates, per-P
// times, lock wait and hold times, RSS figures, the timeline), leaving what a deterministic replay reproduces
// exactly. For CI diffs (`gomalloc replay --deterministic --no-timings`) and tests.
void stripVolatile(nlohmann::ordered_json& j);

// The allocator_stats and latency sections (measures_json.cpp), both ways; the readers throw std::runtime_error
// ("report JSON: latency.groups[0].p50_ns: expected a number").
nlohmann::ordered_json allocatorStatsToJson(const replay::AllocatorStats& a);
replay::AllocatorStats allocatorStatsFromJson(const nlohmann::ordered_json& j);
nlohmann::ordered_json latencyToJson(const replay::LatencyStats& l);
replay::LatencyStats latencyFromJson(const nlohmann::ordered_json& j);

// 1234567 -> "1,234,567" (text.cpp).
std::string groupDigits(uint64_t n);

}  // namespace gomalloc::reports
