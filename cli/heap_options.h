// The Go-model heap's settings on the command line: --preset, --config FILE.json, --set key=value, --gogc.
// Shared by every command that builds a heap (classes, replay, compare).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace gomalloc::cli {

struct HeapOptions {
  std::string preset;
  std::string configFile;
  std::vector<std::string> sets;
  std::string gogc;

  // Adds the flags to a subcommand. withGogc adds --gogc as a shorthand for --set gogc=N.
  void addTo(CLI::App* sub, bool withGogc = true);
  // Preset first, then the config file's keys, then --gogc, then each --set in order.
  // Throws UsageError naming the file or flag that is wrong.
  core::Config resolve() const;
};

// Applies a JSON config file ({"gogc": 50, "mcentral": "locked", "size_classes": [8, 16, ...]}) and returns it
// (compare reads its "name"). Read with reports::readJsonFile (size limit, duplicate keys, line and column);
// throws UsageError (exit 2) naming the file.
nlohmann::ordered_json applyConfigFile(core::Config& cfg, const std::string& path);

}  // namespace gomalloc::cli
