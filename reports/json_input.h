// Reading the JSON files a user hands gomalloc (reports for gate, rules files, Go-model config files): one
// function with a size limit, duplicate-key detection and error messages that name the file, the line and the
// column. docs/report.md ("Schema") documents the rules.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gomalloc::reports {

// A file that cannot be read or is not acceptable JSON. what() names the file (with the input's kind when it has
// one: "config file c.json: ...") and, for a parse error, the line and column.
struct JsonInputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What is being read: a name for messages ("" for reports, whose file name says enough) and the size limit.
struct JsonInput {
  const char* kind;     // "rules file", "config file"; "" for reports
  const char* plural;   // "reports", "rules files", "config files": in the size-limit message
  uint64_t limit;       // bytes
};
// Reports from `compare --repeat 50` with many variants are a few MB; rules and config files a few hundred bytes.
inline constexpr JsonInput kReportInput{"", "reports", uint64_t{256} << 20};
inline constexpr JsonInput kRulesInput{"rules file", "rules files", uint64_t{16} << 20};
inline constexpr JsonInput kConfigInput{"config file", "config files", uint64_t{16} << 20};

// Objects and arrays nested deeper than this are refused (reports nest about 10 levels).
inline constexpr int kMaxJsonDepth = 100;

// Reads path (a regular file, a pipe, a device; not a directory), at most in.limit bytes, and parses it.
// Throws JsonInputError on a file that cannot be read, is too large, is not valid JSON (line and column
// named), holds a number out of a double's range, nests deeper than kMaxJsonDepth, or repeats a key in an
// object (the object's path named: "duplicate key \"heap\" in the top-level object").
nlohmann::ordered_json readJsonFile(const std::string& path, const JsonInput& in);

// The same checks on text in memory; name stands for the file in messages.
nlohmann::ordered_json parseJsonChecked(std::string_view text, const std::string& name);

// "256 MiB", "16 MiB", "1.5 KiB": a size limit for messages.
std::string limitText(uint64_t bytes);

}  // namespace gomalloc::reports
