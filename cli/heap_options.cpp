#include "cli/heap_options.h"

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "reports/json_input.h"

namespace gomalloc::cli {

void HeapOptions::addTo(CLI::App* sub, bool withGogc) {
  sub->add_option("--preset", preset, "Allocator preset: go1.19 (default) or go1.13");
  sub->add_option("--config", configFile, "Go-model settings from a JSON file (see docs/config.md)");
  sub->add_option("--set", sets, "Set one Go-model setting, key=value (repeatable)");
  if (withGogc) sub->add_option("--gogc", gogc, "GOGC (a percentage, or off); same as --set gogc=N");
}

nlohmann::ordered_json applyConfigFile(core::Config& cfg, const std::string& path) {
  nlohmann::ordered_json file;
  try {
    file = reports::readJsonFile(path, reports::kConfigInput);
  } catch (const reports::JsonInputError& e) {
    throw UsageError(e.what());
  }
  if (!file.is_object()) throw UsageError("config file " + path + ": expected a JSON object of settings");
  const nlohmann::json j = file;  // keys in sorted order, as they have always been applied
  // 18446744073709551615 stays itself (as a long long it would be -1, i.e. gogc=off).
  auto integer = [](const nlohmann::json& v) {
    return v.is_number_unsigned() ? std::to_string(v.get<uint64_t>()) : std::to_string(v.get<int64_t>());
  };
  // The preset goes first so that the other keys refine it.
  auto apply = [&](const std::string& key, const nlohmann::json& v) {
    std::string text;
    if (v.is_string()) text = v.get<std::string>();
    else if (v.is_boolean()) text = v.get<bool>() ? "true" : "false";
    else if (v.is_number_integer()) text = integer(v);
    else if (v.is_array()) {
      for (auto& e : v) {
        if (!e.is_number_integer()) throw UsageError("config file " + path + ": " + key + " must hold integers");
        text += (text.empty() ? "" : ",") + integer(e);
      }
    } else {
      throw UsageError("config file " + path + ": " + key + " has a value of the wrong type");
    }
    try {
      cfg.set(key, text);
    } catch (const std::logic_error& e) {  // invalid_argument, out_of_range
      throw UsageError("config file " + path + ": " + e.what());
    }
  };
  if (j.contains("preset")) apply("preset", j["preset"]);
  for (auto& [k, v] : j.items())
    if (k != "preset" && k != "name") apply(k, v);
  return file;
}

core::Config HeapOptions::resolve() const {
  core::Config cfg;
  try {
    if (!preset.empty()) cfg = core::Config::preset_(preset);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--preset: ") + e.what());
  }
  if (!configFile.empty()) applyConfigFile(cfg, configFile);
  try {
    if (!gogc.empty()) cfg.set("gogc", gogc);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--gogc: ") + e.what());
  }
  for (auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos) throw UsageError("--set " + s + ": expected key=value");
    try {
      cfg.set(s.substr(0, eq), s.substr(eq + 1));
    } catch (const std::invalid_argument& e) {
      throw UsageError("--set " + s + ": " + e.what());
    }
  }
  return cfg;
}

}  // namespace gomalloc::cli
