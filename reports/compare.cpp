#include "reports/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "core/config.h"
#include "reports/gate.h"
#include "reports/grid.h"
#include "reports/render.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

VariantSpec parseVariant(std::string_view text) {
  VariantSpec v;
  const size_t colon = text.find(':');
  v.name = std::string(text.substr(0, colon));
  if (v.name.empty()) throw std::invalid_argument(fmt::format("--variant {}: the variant needs a name (NAME:key=value,...)", text));
  for (char c : v.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+'))
      throw std::invalid_argument(
          fmt::format("--variant {}: a name may hold letters, digits and - _ . + only (got '{}')", text, v.name));
  if (colon == std::string_view::npos) return v;
  // key=value pairs separated by commas; a piece without '=' continues the previous value (size_classes=8,16,...).
  std::string_view rest = text.substr(colon + 1);
  core::Config probe;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view piece = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      if (v.sets.empty()) throw std::invalid_argument(fmt::format("--variant {}: expected key=value after ':'", text));
      v.sets.back().second += "," + std::string(piece);
      continue;
    }
    if (eq == 0) throw std::invalid_argument(fmt::format("--variant {}: '{}' has no key", text, piece));
    v.sets.emplace_back(std::string(piece.substr(0, eq)), std::string(piece.substr(eq + 1)));
  }
  for (auto& [k, val] : v.sets) {
    try {
      probe.set(k, val);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("--variant {}: {}", text, e.what()));
    }
  }
  return v;
}

std::vector<std::string> replayArgs(const CompareOptions& o, const VariantSpec& v, const std::string& out) {
  std::vector<std::string> a = {"replay", o.trace, "--format", "json", "-o", out, "--quiet", "--allocator",
                                v.allocator, "--touch", o.touch};
  if (o.procs > 0) a.insert(a.end(), {"--procs", std::to_string(o.procs)});
  if (o.deterministic) a.push_back("--deterministic");
  if (o.lenient) a.push_back("--lenient");
  if (!v.configFile.empty()) a.insert(a.end(), {"--config", v.configFile});
  for (auto& [k, val] : v.sets) a.insert(a.end(), {"--set", k + "=" + val});
  return a;
}

CompareResult runCompare(const CompareOptions& o, const std::vector<VariantSpec>& variants, const ToolInfo& tool,
                         const std::function<Report(size_t, int)>& run) {
  if (variants.empty()) throw std::invalid_argument("compare needs at least one variant");
  CompareResult c{tool, o, {}};
  for (auto& v : variants) c.variants.push_back(VariantRuns{v, {}});
  for (int round = 0; round < o.repeat; round++) {
    for (size_t i = 0; i < variants.size(); i++) {
      Report r = run(i, round);
      const Report* first = c.variants[0].runs.empty() ? nullptr : &c.variants[0].runs[0];
      if (first && r.trace.digest != first->trace.digest)
        throw std::runtime_error(fmt::format("variant {} (run {}) replayed a trace with digest {}, not {}",
                                             variants[i].name, round + 1, r.trace.digest, first->trace.digest));
      c.variants[i].runs.push_back(std::move(r));
    }
  }
  return c;
}

bool allDeterministic(const CompareResult& c) {
  for (auto& v : c.variants)
    for (auto& r : v.runs)
      if (!r.config.deterministic) return false;
  return true;
}

std::vector<Row> summarize(const CompareResult& c) {
  const bool det = allDeterministic(c);
  std::vector<Metric> metrics = metricCatalogue();
  std::set<uint64_t> sizes;
  for (auto& v : c.variants)
    for (auto& r : v.runs)
      for (auto& row : r.sizeClasses)
        if (row.go && row.cls != 0 && row.allocs) sizes.insert(row.size);
  for (uint64_t s : sizes) metrics.push_back(classHitRateMetric(s));

  std::vector<Row> rows;
  for (const Metric& m : metrics) {
    Row row{m, isNoisy(m, det), {}};
    bool any = false;
    for (auto& v : c.variants) {
      Cell cell;
      for (auto& r : v.runs)
        if (auto x = m.read(r)) cell.samples.push_back(*x);
      cell.present = !cell.samples.empty();
      cell.spread = stats::spread(cell.samples);
      any = any || cell.present;
      row.cells.push_back(std::move(cell));
    }
    if (!any) continue;
    const Cell& base = row.cells[0];
    for (size_t i = 1; i < row.cells.size(); i++) {
      Cell& cell = row.cells[i];
      if (!base.present || !cell.present) continue;
      cell.delta = cell.spread.median - base.spread.median;
      if (base.spread.median != 0) cell.relative = cell.delta / std::fabs(base.spread.median);
      if (row.noisy) {
        cell.tested = base.samples.size() >= 2 && cell.samples.size() >= 2;
        if (cell.tested) {
          cell.test = stats::mannWhitney(base.samples, cell.samples);
          cell.significant = cell.test.p < c.options.alpha;
        }
      } else {
        cell.significant = cell.delta != 0;
      }
      if (cell.significant && (!row.noisy || cell.tested)) {
        const double worse = m.direction == Direction::Lower ? cell.delta : -cell.delta;
        const Limit limit = negligibleLimit(m, det);
        if (beyondLimit(limit, base.spread.median, worse)) cell.verdict = 1;
        else if (beyondLimit(limit, base.spread.median, -worse)) cell.verdict = -1;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool shownInTables(const CompareResult& c, const Row& row) {
  if (row.metric.name.rfind("hit_rate.", 0) != 0) return true;
  // Per-class rows: the class must hold at least 1% of some variant's allocations (first run).
  for (auto& v : c.variants) {
    if (v.runs.empty()) continue;
    const Report& r = v.runs.front();
    uint64_t total = 0, mine = 0;
    for (auto& cr : r.sizeClasses) {
      total += cr.allocs;
      if (cr.go && cr.cls != 0 && row.metric.name == classHitRateMetric(cr.size).name) mine = cr.allocs;
    }
    if (total && mine * 100 >= total) return true;
  }
  return false;
}

namespace {

std::string valueText(const Row& row, const Cell& cell) {
  if (!cell.present) return "-";
  return formatValue(cell.spread.median, row.metric.unit) + spreadText(row, cell);
}

std::string changeText(const Row& row, size_t i) {
  const Cell& base = row.cells[0];
  const Cell& cell = row.cells[i];
  if (cell.relative) return formatRelative(base.spread.median, cell.spread.median);
  return cell.delta == 0 ? "0%" : formatDelta(cell.delta, row.metric.unit);
}

std::string describe(const VariantSpec& v) {
  std::string s = "allocator " + v.allocator;
  if (!v.configFile.empty()) s += ", config " + v.configFile;
  for (auto& [k, val] : v.sets) s += ", " + k + "=" + val;
  return s;
}

Grid compareGrid(const CompareResult& c, size_t* hidden) {
  Grid g;
  g.header.push_back("metric");
  g.rightAligned.push_back(false);
  for (size_t i = 0; i < c.variants.size(); i++) {
    g.header.push_back(i == 0 ? c.variants[i].spec.name + " (baseline)" : c.variants[i].spec.name);
    g.rightAligned.push_back(true);
    if (i > 0) {
      g.header.push_back("vs " + c.variants[0].spec.name);
      g.rightAligned.push_back(true);
    }
  }
  *hidden = 0;
  for (const Row& row : summarize(c)) {
    if (!shownInTables(c, row)) {
      (*hidden)++;
      continue;
    }
    std::vector<std::string> cells = {row.metric.name};
    for (size_t i = 0; i < row.cells.size(); i++) {
      cells.push_back(valueText(row, row.cells[i]));
      if (i > 0) cells.push_back(deltaText(row, i));
    }
    g.rows.push_back(std::move(cells));
  }
  return g;
}

std::string headerLines(const CompareResult& c) {
  const Report* first = c.variants.empty() || c.variants[0].runs.empty() ? nullptr : &c.variants[0].runs[0];
  std::string s;
  if (first)
    s += fmt::format("trace: {} ({} events, digest {})\n", c.options.trace,
                     formatValue(double(first->trace.events), Unit::Count), first->trace.digest);
  s += fmt::format("runs: {} per variant{}; {} replays, touch={}, {}\n", c.options.repeat,
                   c.options.repeat > 1 ? ", interleaved" : "", c.options.deterministic ? "deterministic" : "concurrent",
                   c.options.touch, first ? fmt::format("{} Ps", first->config.procs) : std::string("-"));
  for (size_t i = 0; i < c.variants.size(); i++)
    s += fmt::format("{}: {}{}\n", c.variants[i].spec.name, describe(c.variants[i].spec), i == 0 ? " (baseline)" : "");
  return s;
}

std::string footnotes(const CompareResult& c, size_t hidden) {
  std::string s;
  const bool det = allDeterministic(c);
  s += fmt::format(
      "~ = no significant difference (two-sided Mann-Whitney U test, alpha {}); p < 0.05 needs 4 or more runs per "
      "variant.\n",
      c.options.alpha);
  if (c.options.repeat < 2) s += "(n=1): a single run per variant, so timings are not tested; use --repeat 5.\n";
  s += det ? "Every replay was --deterministic: model figures (counts, heap bytes, rates) are exact, deltas plain.\n"
           : "Concurrent replays: model figures vary with scheduling and are tested like timings.\n";
  s += "A change is worse or better only past the gate's default limit for its metric (5% for timings and 1% for the "
       "others without one; docs/compare.md); json says which in \"verdict\".\n";
  if (hidden) s += fmt::format("{} per-class hit-rate rows under 1% of allocations left out (json and csv have all).\n", hidden);
  return s;
}

std::string num(double v) {
  if (std::isnan(v) || std::isinf(v)) return "";
  return fmt::format("{}", v);
}

Json jsonNum(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

std::string spreadText(const Row& row, const Cell& cell) {
  const stats::Spread& sp = cell.spread;
  if (!cell.present || !row.noisy || cell.samples.size() < 2 || !(sp.max > sp.min)) return "";
  if (sp.median == 0)
    return fmt::format(" ({}..{})", formatValue(sp.min, row.metric.unit), formatValue(sp.max, row.metric.unit));
  const double h = 100 * sp.relativeHalfRange();
  return h < 0.1 ? fmt::format(" ±{:.2f}%", h) : h < 1 ? fmt::format(" ±{:.1f}%", h) : fmt::format(" ±{:.0f}%", h);
}

std::string deltaText(const Row& row, size_t i) {
  if (i == 0 || i >= row.cells.size() || !row.cells[0].present || !row.cells[i].present) return "";
  const Cell& cell = row.cells[i];
  const std::string change = changeText(row, i);
  if (!row.noisy) return change;
  if (!cell.tested)
    return fmt::format("{} (n={})", change, std::min(row.cells[0].samples.size(), cell.samples.size()));
  if (!cell.significant) return fmt::format("~ (p={:.3f})", cell.test.p);
  return fmt::format("{} (p={:.3f})", change, cell.test.p);
}

std::string renderCompareTable(const CompareResult& c) {
  size_t hidden = 0;
  Grid g = compareGrid(c, &hidden);
  return "gomalloc compare\n" + headerLines(c) + "\n" + renderText(g) + "\n" + footnotes(c, hidden);
}

std::string renderCompareMarkdown(const CompareResult& c) {
  size_t hidden = 0;
  Grid g = compareGrid(c, &hidden);
  const std::string head = headerLines(c);
  std::string s = "### gomalloc compare\n\n";
  size_t start = 0;
  while (start < head.size()) {
    size_t nl = head.find('\n', start);
    s += "- " + head.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  s += "\n" + renderMarkdown(g) + "\n";
  std::string notes = footnotes(c, hidden);
  for (size_t p = 0; (p = notes.find('~', p)) != std::string::npos; p += 2) notes.insert(p, "\\");
  return s + notes;
}

std::string renderCompareCsv(const CompareResult& c) {
  std::string s = "metric,field,unit,direction,variant,n,median,min,max,q1,q3,delta,delta_pct,p_value,significant\n";
  for (const Row& row : summarize(c)) {
    for (size_t i = 0; i < row.cells.size(); i++) {
      const Cell& cell = row.cells[i];
      if (!cell.present) continue;
      const stats::Spread& sp = cell.spread;
      const bool vs = i > 0 && row.cells[0].present;
      s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csvField(row.metric.name),
                       csvField(row.metric.field), unitName(row.metric.unit), directionName(row.metric.direction),
                       csvField(c.variants[i].spec.name), sp.n, num(sp.median), num(sp.min), num(sp.max), num(sp.q1),
                       num(sp.q3), vs ? num(cell.delta) : "", vs && cell.relative ? num(100 * *cell.relative) : "",
                       cell.tested ? num(cell.test.p) : "", vs ? (cell.significant ? "true" : "false") : "");
    }
  }
  return s;
}

Json toolJson(const ToolInfo& t) { return Json{{"name", t.name}, {"version", t.version}, {"go_model", t.goModel}}; }

ToolInfo toolFromJson(const Json& j) {
  return ToolInfo{j.at("name").get<std::string>(), j.at("version").get<std::string>(), j.at("go_model").get<std::string>()};
}

Json optionsJson(const CompareOptions& o) {
  return Json{{"repeat", o.repeat}, {"procs", o.procs},     {"deterministic", o.deterministic},
              {"touch", o.touch},   {"lenient", o.lenient}, {"alpha", o.alpha}};
}

CompareOptions optionsFromJson(const Json& j) {
  CompareOptions o;
  o.repeat = j.at("repeat").get<int>();
  o.procs = j.at("procs").get<int>();
  o.deterministic = j.at("deterministic").get<bool>();
  o.touch = j.at("touch").get<std::string>();
  o.lenient = j.at("lenient").get<bool>();
  o.alpha = j.at("alpha").get<double>();
  return o;
}

Json compareToJson(const CompareResult& c) {
  Json j;
  j["schema"] = kCompareSchema;
  j["version"] = kCompareVersion;
  j["tool"] = toolJson(c.tool);
  const Report* first = c.variants.empty() || c.variants[0].runs.empty() ? nullptr : &c.variants[0].runs[0];
  j["trace"] = Json{{"path", c.options.trace},
                    {"digest", first ? first->trace.digest : ""},
                    {"events", first ? first->trace.events : 0}};
  j["options"] = optionsJson(c.options);
  j["baseline"] = c.variants.empty() ? "" : c.variants[0].spec.name;
  Json metrics = Json::array();
  for (const Row& row : summarize(c)) {
    Json m{{"name", row.metric.name},
           {"field", row.metric.field},
           {"unit", unitName(row.metric.unit)},
           {"direction", directionName(row.metric.direction)},
           {"kind", noiseName(row.metric.noise)},
           {"noisy", row.noisy}};
    Json cells = Json::array();
    for (size_t i = 0; i < row.cells.size(); i++) {
      const Cell& cell = row.cells[i];
      Json x{{"variant", c.variants[i].spec.name}, {"n", cell.samples.size()}};
      if (cell.present) {
        x["median"] = jsonNum(cell.spread.median);
        x["min"] = jsonNum(cell.spread.min);
        x["max"] = jsonNum(cell.spread.max);
        x["q1"] = jsonNum(cell.spread.q1);
        x["q3"] = jsonNum(cell.spread.q3);
        x["samples"] = cell.samples;
      }
      if (i > 0 && cell.present && row.cells[0].present) {
        x["delta"] = jsonNum(cell.delta);
        x["delta_pct"] = cell.relative ? jsonNum(100 * *cell.relative) : Json(nullptr);
        x["p_value"] = cell.tested ? jsonNum(cell.test.p) : Json(nullptr);
        x["significant"] = cell.significant;
        x["verdict"] = cell.verdict > 0 ? "worse" : cell.verdict < 0 ? "better" : "same";
        x["text"] = deltaText(row, i);
      }
      cells.push_back(x);
    }
    m["variants"] = cells;
    metrics.push_back(m);
  }
  j["metrics"] = metrics;
  Json variants = Json::array();
  for (auto& v : c.variants) {
    Json settings = Json::object();
    for (auto& [k, val] : v.spec.sets) settings[k] = settingToJson(val);
    Json runs = Json::array();
    for (auto& r : v.runs) runs.push_back(toJson(r));
    variants.push_back(Json{{"name", v.spec.name},
                            {"allocator", v.spec.allocator},
                            {"config_file", v.spec.configFile},
                            {"settings", settings},
                            {"reports", runs}});
  }
  j["variants"] = variants;
  return j;
}

CompareResult compareFromJson(const Json& j) {
  auto bad = [](const std::string& what) -> std::runtime_error { return std::runtime_error("compare JSON: " + what); };
  if (!j.is_object()) throw bad("expected an object");
  if (!j.contains("schema") || !j["schema"].is_string()) throw bad("schema: missing");
  if (j["schema"] != kCompareSchema)
    throw bad(fmt::format("schema '{}' is not {}", j["schema"].get<std::string>(), kCompareSchema));
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() < kOldestCompareVersion ||
      j["version"].get<int>() > kCompareVersion)
    throw bad(fmt::format("version {} (this build reads versions {} to {})", j.value("version", Json()).dump(),
                          kOldestCompareVersion, kCompareVersion));
  CompareResult c;
  try {
    c.tool = toolFromJson(j.at("tool"));
    c.options = optionsFromJson(j.at("options"));
    c.options.trace = j.at("trace").at("path").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("tool, trace or options: ") + e.what());
  }
  if (!j.contains("variants") || !j["variants"].is_array() || j["variants"].empty())
    throw bad("variants: expected a non-empty array");
  for (size_t i = 0; i < j["variants"].size(); i++) {
    const Json& v = j["variants"][i];
    const std::string where = fmt::format("variants[{}]", i);
    VariantRuns vr;
    try {
      vr.spec.name = v.at("name").get<std::string>();
      vr.spec.allocator = v.at("allocator").get<std::string>();
      vr.spec.configFile = v.at("config_file").get<std::string>();
      for (auto& [k, val] : v.at("settings").items()) vr.spec.sets.emplace_back(k, settingFromJson(val));
    } catch (const std::exception& e) {  // nlohmann's, or settingFromJson's
      throw bad(where + ": " + e.what());
    }
    if (!v.contains("reports") || !v["reports"].is_array() || v["reports"].empty())
      throw bad(where + ".reports: expected a non-empty array of reports");
    for (size_t k = 0; k < v["reports"].size(); k++) {
      try {
        vr.runs.push_back(fromJson(v["reports"][k]));
      } catch (const std::runtime_error& e) {
        throw bad(fmt::format("{}.reports[{}]: {}", where, k, e.what()));
      }
    }
    c.variants.push_back(std::move(vr));
  }
  return c;
}

}  // namespace gomalloc::reports
