#include "reports/gate.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "reports/compare.h"
#include "reports/grid.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

namespace {

// The absolute units a limit may be written in, for a metric of unit u, with their factor to the metric's unit.
std::vector<std::pair<std::string_view, double>> limitUnits(Unit u) {
  switch (u) {
    case Unit::Bytes: return {{"TiB", 0x1p40}, {"GiB", 0x1p30}, {"MiB", 0x1p20}, {"KiB", 0x1p10}, {"B", 1}};
    case Unit::Nanoseconds: return {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    case Unit::Seconds: return {{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}};
    case Unit::Ratio: return {{"pp", 0.01}};
    case Unit::Count: return {};
  }
  return {};
}

std::string unitExamples(Unit u) {
  switch (u) {
    case Unit::Bytes: return "+512KiB, +4MiB or +100B";
    case Unit::Nanoseconds: return "+50ns, +2us or +1ms";
    case Unit::Seconds: return "+10ms or +1s";
    case Unit::Ratio: return "+1pp (percentage points)";
    case Unit::Count: return "+2";
  }
  return "";
}

}  // namespace

Limit parseLimit(std::string_view text, std::string_view where, Unit unit) {
  auto bad = [&](const std::string& why) {
    return GateInputError(fmt::format("{}: limit '{}' {} (write 5% for a relative limit, {} for an absolute one)", where,
                                      text, why, unitExamples(unit)));
  };
  if (text.empty()) throw bad("is empty");
  Limit l;
  l.text = std::string(text);
  std::string_view num = text;
  double factor = 1;
  bool unitGiven = false;
  if (num.back() == '%') {
    l.kind = Limit::Relative;
    num.remove_suffix(1);
  } else {
    l.kind = Limit::Absolute;
    if (num.front() == '+') num.remove_prefix(1);
    for (auto& [suffix, f] : limitUnits(unit))
      if (num.size() > suffix.size() && num.substr(num.size() - suffix.size()) == suffix &&
          (std::isdigit(static_cast<unsigned char>(num[num.size() - suffix.size() - 1])) ||
           num[num.size() - suffix.size() - 1] == '.')) {
        num.remove_suffix(suffix.size());
        factor = f;
        unitGiven = true;
        break;
      }
  }
  if (num.empty() || num.front() == '-' || num.front() == '+') throw bad("is not a non-negative number");
  std::string s(num);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    throw bad("is not a number");
  }
  if (used != s.size() || !std::isfinite(v) || v < 0) throw bad("is not a non-negative number");
  if (l.kind == Limit::Absolute && !unitGiven && unit != Unit::Count && v != 0)
    throw bad(fmt::format("has no unit, and the metric is in {}", unitName(unit)));
  l.value = l.kind == Limit::Relative ? v / 100 : v * factor;
  return l;
}

bool beyondLimit(const Limit& l, double base, double worse) {
  if (l.kind == Limit::Relative) return base != 0 ? worse / std::fabs(base) > l.value + 1e-12 : worse > 0;
  return worse > l.value + 1e-9 * std::max(1.0, l.value);
}

namespace {

Metric requireMetric(std::string_view name, std::string_view where) {
  auto m = findMetric(name);
  if (!m) throw GateInputError(fmt::format("{}: unknown metric '{}' (known: {})", where, name, metricNames()));
  return *m;
}

}  // namespace

Rule parseMaxFlag(std::string_view text) {
  const std::string where = fmt::format("--max {}", text);
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw GateInputError(where + ": expected METRIC=LIMIT, e.g. --max peak_rss=5% or --max gc_cycles=+2");
  const Metric m = requireMetric(text.substr(0, eq), where);
  return Rule{m.name, m.direction, parseLimit(text.substr(eq + 1), where, m.unit), std::nullopt, "--max"};
}

void parseRulesFile(const Json& j, const std::string& file, GateOptions& o) {
  auto bad = [&](const std::string& what) { return GateInputError(fmt::format("rules file {}: {}", file, what)); };
  if (!j.is_object()) throw bad("expected a JSON object with a \"rules\" array");
  static const std::set<std::string> topKeys = {"defaults", "alpha", "min_repeats", "rules", "comment"};
  for (auto& [k, v] : j.items())
    if (!topKeys.count(k)) throw bad(fmt::format("unknown key \"{}\" (known: defaults, alpha, min_repeats, rules, comment)", k));
  if (j.contains("defaults")) {
    if (!j["defaults"].is_boolean()) throw bad("\"defaults\" must be true or false");
    o.defaults = j["defaults"].get<bool>();
  }
  if (j.contains("alpha")) {
    if (!j["alpha"].is_number() || j["alpha"].get<double>() <= 0 || j["alpha"].get<double>() >= 1)
      throw bad("\"alpha\" must be a number between 0 and 1");
    o.alpha = j["alpha"].get<double>();
  }
  if (j.contains("min_repeats")) {
    if (!j["min_repeats"].is_number_unsigned() || j["min_repeats"].get<uint64_t>() < 2)
      throw bad("\"min_repeats\" must be an integer, 2 or more");
    o.minRepeats = j["min_repeats"].get<size_t>();
  }
  if (!j.contains("rules")) return;
  if (!j["rules"].is_array()) throw bad("\"rules\" must be an array of {\"metric\": ..., \"max\": ...}");
  static const std::set<std::string> ruleKeys = {"metric", "max", "direction", "significance", "comment"};
  for (size_t i = 0; i < j["rules"].size(); i++) {
    const Json& r = j["rules"][i];
    const std::string where = fmt::format("rules file {}: rules[{}]", file, i);
    if (!r.is_object()) throw GateInputError(where + ": expected an object");
    for (auto& [k, v] : r.items())
      if (!ruleKeys.count(k))
        throw GateInputError(fmt::format("{}: unknown key \"{}\" (known: metric, max, direction, significance, comment)", where, k));
    if (!r.contains("metric") || !r["metric"].is_string()) throw GateInputError(where + ": \"metric\" (a string) is missing");
    if (!r.contains("max") || !(r["max"].is_string() || r["max"].is_number()))
      throw GateInputError(where + ": \"max\" is missing (a limit such as \"5%\" or \"+2\")");
    const Metric m = requireMetric(r["metric"].get<std::string>(), where);
    const std::string limit = r["max"].is_string() ? r["max"].get<std::string>() : r["max"].dump();
    Rule rule{m.name, m.direction, parseLimit(limit, where, m.unit), std::nullopt, file};
    if (r.contains("direction")) {
      auto d = r["direction"].is_string() ? parseDirection(r["direction"].get<std::string>()) : std::nullopt;
      if (!d) throw GateInputError(where + ": \"direction\" must be \"lower\" or \"higher\" (which way is better)");
      rule.direction = *d;
    }
    if (r.contains("significance")) {
      if (!r["significance"].is_boolean()) throw GateInputError(where + ": \"significance\" must be true or false");
      rule.significance = r["significance"].get<bool>();
    }
    o.rules.push_back(rule);
  }
}

const std::vector<DefaultRule>& defaultRules() {
  static const std::vector<DefaultRule> rules = {
      {"ns_per_event", "5%", "5%"},       {"peak_rss", "5%", "5%"},
      {"peak_heap_inuse", "1%", "5%"},    {"gc_cycles", "+0", "+1"},
      {"hit_rate", "1%", "2%"},           {"refills", "1%", "5%"},
      {"internal_fragmentation", "1%", "2%"}, {"lock_contended", "+0", ""},
  };
  return rules;
}

bool GateSide::deterministic() const {
  for (auto& r : runs)
    if (!r.config.deterministic) return false;
  return !runs.empty();
}

Limit negligibleLimit(const Metric& m, bool deterministic) {
  const std::string name = m.name.rfind("hit_rate.", 0) == 0 ? "hit_rate" : m.name;
  for (const DefaultRule& d : defaultRules())
    if (name == d.metric) {
      const char* limit = deterministic ? d.deterministicLimit : d.noisyLimit;
      if (*limit) return parseLimit(limit, "default rules", m.unit);
    }
  return parseLimit(m.noise == Noise::Timing ? "5%" : "1%", "default rules", m.unit);
}

GateSide loadSide(const Json& j, const std::string& file, const std::optional<std::string>& variant) {
  try {
    checkAnySchema(j);
  } catch (const SchemaError& e) {
    throw GateInputError(fmt::format("{}: {}", file, e.what()));
  }
  const std::string schema = j["schema"].get<std::string>();
  GateSide side;
  side.file = file;
  if (schema == kSchema) {
    if (variant)
      throw GateInputError(fmt::format("{}: a replay report has no variants (--variant {} applies to compare reports)",
                                       file, *variant));
    side.timings = hasTimings(j);
    try {
      side.runs.push_back(fromJson(j));
    } catch (const std::runtime_error& e) {
      throw GateInputError(fmt::format("{}: {}", file, e.what()));
    }
    return side;
  }
  for (auto& v : j["variants"])
    for (auto& r : v["reports"]) side.timings = side.timings && hasTimings(r);
  CompareResult c;
  try {
    c = compareFromJson(j);
  } catch (const std::runtime_error& e) {
    throw GateInputError(fmt::format("{}: {}", file, e.what()));
  }
  const std::string want = variant.value_or(c.variants[0].spec.name);
  std::string names;
  for (auto& v : c.variants) {
    names += (names.empty() ? "" : ", ") + v.spec.name;
    if (v.spec.name == want) {
      side.variant = want;
      side.runs = v.runs;
    }
  }
  if (side.runs.empty()) throw GateInputError(fmt::format("{}: no variant '{}' (it has {})", file, want, names));
  return side;
}

void checkCompatible(const GateSide& base, const GateSide& cur, bool allowSettings) {
  for (const GateSide* s : {&base, &cur})
    for (auto& r : s->runs)
      if (r.interrupted)
        throw GateInputError(fmt::format("{}: the replay was interrupted (Ctrl-C), so its figures cover only part of "
                                         "the trace",
                                         s->file));
  const Report& b = base.runs.front();
  const Report& c = cur.runs.front();
  const std::string bn = base.file, cn = cur.file;
  if (b.trace.digest != c.trace.digest)
    throw GateInputError(fmt::format(
        "{} and {} are reports of different traces: digest {} ({}, {} events) vs {} ({}, {} events)", bn, cn,
        b.trace.digest, b.trace.path, b.trace.events, c.trace.digest, c.trace.path, c.trace.events));
  auto mismatch = [&](const std::string& what, const std::string& x, const std::string& y, const std::string& why) {
    return GateInputError(fmt::format("{} and {} were replayed with different {}: {} vs {}; {}", bn, cn, what, x, y, why));
  };
  if (b.config.backend != c.config.backend)
    throw mismatch("allocators", b.config.backend, c.config.backend,
                   "a gate follows one configuration over time (gomalloc compare compares allocators)");
  if (b.config.procs != c.config.procs)
    throw mismatch("numbers of Ps (--procs)", std::to_string(b.config.procs), std::to_string(c.config.procs),
                   "their timings and heap figures are not comparable");
  if (b.config.deterministic != c.config.deterministic)
    throw mismatch("modes", b.config.deterministic ? "--deterministic" : "concurrent",
                   c.config.deterministic ? "--deterministic" : "concurrent",
                   "record both the same way");
  if (b.config.touch != c.config.touch)
    throw mismatch("--touch", b.config.touch, c.config.touch, "RSS depends on it");
  if (allowSettings) return;
  std::map<std::string, std::pair<std::string, std::string>> diff;
  for (auto& [k, v] : b.config.settings) diff[k].first = v;
  for (auto& [k, v] : c.config.settings) diff[k].second = v;
  std::string differ;
  for (auto& [k, v] : diff) {
    if (v.first == v.second || k == "malloc") continue;  // malloc: the library's file name, e.g. its version
    differ += fmt::format("{}{}: {} vs {}", differ.empty() ? "" : ", ", k, v.first.empty() ? "(none)" : v.first,
                          v.second.empty() ? "(none)" : v.second);
  }
  if (!differ.empty())
    throw GateInputError(fmt::format("{} and {} were replayed with different settings ({}); pass --allow-settings to "
                                     "gate across a settings change",
                                     bn, cn, differ));
}

const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::Pass: return "pass";
    case Verdict::Improved: return "improved";
    case Verdict::NotSignificant: return "~";
    case Verdict::Regressed: return "REGRESSED";
    case Verdict::Skipped: return "skipped";
  }
  return "";
}

bool GateResult::failed() const { return count(Verdict::Regressed) > 0; }

size_t GateResult::count(Verdict v) const {
  size_t n = 0;
  for (auto& c : checks) n += c.verdict == v;
  return n;
}

GateResult evaluate(const GateSide& base, const GateSide& cur, const GateOptions& o) {
  GateResult g{base, cur, {}, o.alpha};
  const bool det = base.deterministic() && cur.deterministic();
  std::vector<Rule> rules;
  auto place = [&](const Rule& r) {
    for (auto& x : rules)
      if (x.metric == r.metric) {
        x = r;
        return;
      }
    rules.push_back(r);
  };
  if (o.defaults)
    for (const DefaultRule& d : defaultRules()) {
      const char* limit = det ? d.deterministicLimit : d.noisyLimit;
      if (!*limit) continue;
      const Metric m = requireMetric(d.metric, "default rules");
      rules.push_back(Rule{m.name, m.direction, parseLimit(limit, "default rules", m.unit), std::nullopt, "default"});
    }
  for (const Rule& r : o.rules) place(r);

  for (const Rule& rule : rules) {
    Check c;
    c.rule = rule;
    c.metric = requireMetric(rule.metric, rule.origin);
    if (c.metric.noise == Noise::Timing && !(base.timings && cur.timings)) {
      c.verdict = Verdict::Skipped;
      c.note = fmt::format("timing metric: the {} report was made with --no-timings",
                           base.timings ? "current" : cur.timings ? "baseline" : "baseline and the current");
      g.checks.push_back(std::move(c));
      continue;
    }
    std::vector<double> bs, cs;
    for (auto& r : base.runs)
      if (auto v = c.metric.read(r)) bs.push_back(*v);
    for (auto& r : cur.runs)
      if (auto v = c.metric.read(r)) cs.push_back(*v);
    c.base = stats::spread(bs);
    c.cur = stats::spread(cs);
    if (bs.empty() || cs.empty()) {
      c.verdict = Verdict::Skipped;
      c.note = fmt::format("not in the {} report{}", bs.empty() && cs.empty() ? "baseline or the current" : bs.empty() ? "baseline" : "current",
                           c.metric.noise == Noise::Model ? " (Go backend figures)" : "");
      g.checks.push_back(std::move(c));
      continue;
    }
    c.delta = c.cur.median - c.base.median;
    if (c.base.median != 0) c.relative = c.delta / std::fabs(c.base.median);
    bool needTest = isNoisy(c.metric, det) && rule.significance.value_or(true);
    if (needTest && (bs.size() < o.minRepeats || cs.size() < o.minRepeats)) {
      if (rule.origin == "default") {
        c.verdict = Verdict::Skipped;
        c.note = fmt::format("{}: gated with {}+ runs on each side (gomalloc compare --repeat N); has {} and {}",
                             c.metric.noise == Noise::Timing ? "timing metric" : "varies between concurrent replays",
                             o.minRepeats, bs.size(), cs.size());
        g.checks.push_back(std::move(c));
        continue;
      }
      needTest = false;
      c.note = fmt::format("medians compared without a significance test ({} and {} runs)", bs.size(), cs.size());
    }
    const double worse = rule.direction == Direction::Lower ? c.delta : -c.delta;
    const bool exceeds = beyondLimit(rule.limit, c.base.median, worse);
    bool significant = true;
    if (needTest) {
      c.tested = true;
      c.test = stats::mannWhitney(bs, cs);
      significant = c.test.p < o.alpha;
    }
    if (exceeds) c.verdict = significant ? Verdict::Regressed : Verdict::NotSignificant;
    else  // an improvement, too, counts only past the limit (a negligible change is neither)
      c.verdict = worse < 0 && significant && beyondLimit(rule.limit, c.base.median, -worse) ? Verdict::Improved
                                                                                           : Verdict::Pass;
    if (c.verdict == Verdict::NotSignificant)
      c.note = fmt::format("beyond the limit but not significant (p={:.3f} >= {})", c.test.p, o.alpha);
    if (c.verdict == Verdict::Regressed && c.base.median == 0 && rule.limit.kind == Limit::Relative)
      c.note = "the baseline is 0, so any increase exceeds a relative limit";
    g.checks.push_back(std::move(c));
  }
  return g;
}

namespace {

std::string changeOf(const Check& c) {
  if (c.verdict == Verdict::Skipped && (c.base.n == 0 || c.cur.n == 0)) return "-";
  std::string s = c.relative ? formatRelative(c.base.median, c.cur.median)
                             : (c.delta == 0 ? std::string("0%") : formatDelta(c.delta, c.metric.unit));
  if (c.relative && c.metric.unit != Unit::Ratio && c.delta != 0) s += " (" + formatDelta(c.delta, c.metric.unit) + ")";
  return s;
}

std::string sideValue(const stats::Spread& s, Unit u) {
  if (s.n == 0) return "-";
  std::string v = formatValue(s.median, u);
  if (s.n > 1) v += fmt::format(" (n={})", s.n);
  return v;
}

std::string limitOf(const Check& c) {
  return fmt::format("{} {}", c.rule.limit.text, c.rule.direction == Direction::Lower ? "up" : "down");
}

Grid gateGrid(const GateResult& g, bool withField) {
  Grid grid;
  grid.header = {"metric"};
  if (withField) grid.header.push_back("field");
  for (const char* h : {"baseline", "current", "change", "limit", "p", "verdict", "note"}) grid.header.push_back(h);
  grid.rightAligned = {false};
  if (withField) grid.rightAligned.push_back(false);
  for (bool r : {true, true, true, true, true, false, false}) grid.rightAligned.push_back(r);
  for (const Check& c : g.checks) {
    std::vector<std::string> row = {c.metric.name};
    if (withField) row.push_back(c.metric.field);
    row.push_back(sideValue(c.base, c.metric.unit));
    row.push_back(sideValue(c.cur, c.metric.unit));
    row.push_back(changeOf(c));
    row.push_back(limitOf(c));
    row.push_back(c.tested ? fmt::format("{:.3f}", c.test.p) : "");
    row.push_back(verdictName(c.verdict));
    row.push_back(c.note);
    grid.rows.push_back(std::move(row));
  }
  return grid;
}

std::string sideText(const GateSide& s) {
  std::string t = s.file;
  if (!s.variant.empty()) t += fmt::format(" (variant {})", s.variant);
  return t + fmt::format(", {} run{}", s.runs.size(), s.runs.size() == 1 ? "" : "s");
}

std::string headline(const GateResult& g) {
  const size_t reg = g.count(Verdict::Regressed);
  return fmt::format("{}: {} regressed, {} passed, {} improved, {} not significant, {} skipped",
                     reg ? "FAIL" : "PASS", reg, g.count(Verdict::Pass), g.count(Verdict::Improved),
                     g.count(Verdict::NotSignificant), g.count(Verdict::Skipped));
}

std::string context(const GateResult& g) {
  const Report& r = g.base.runs.front();
  return fmt::format("trace {} ({} events, digest {}); {} backend, {} Ps, {}, touch={}", r.trace.path,
                     formatValue(double(r.trace.events), Unit::Count),
                     r.trace.digest, r.config.backend, r.config.procs,
                     r.config.deterministic ? "deterministic" : "concurrent", r.config.touch);
}

// Said under the context when a side has no timings.
std::string timingsLine(const GateResult& g) {
  if (g.base.timings && g.cur.timings) return "";
  return fmt::format("timing rules do not apply: {} made with --no-timings, so ns_per_event, wall_time, peak_rss "
                     "and lock_wait are skipped",
                     g.base.timings ? "the current report was" : g.cur.timings ? "the baseline was" : "both reports were");
}

std::string regressionLine(const Check& c) {
  return fmt::format("{} regressed: {} -> {} ({}), limit {} ({} is better)", c.metric.name,
                     formatValue(c.base.median, c.metric.unit), formatValue(c.cur.median, c.metric.unit), changeOf(c),
                     c.rule.limit.text, directionName(c.rule.direction));
}

}  // namespace

std::string renderGateTable(const GateResult& g) {
  std::string s = "gomalloc gate: " + headline(g) + "\n";
  s += "baseline: " + sideText(g.base) + "\ncurrent:  " + sideText(g.cur) + "\n" + context(g) + "\n";
  if (const std::string t = timingsLine(g); !t.empty()) s += t + "\n";
  s += "\n";
  s += renderText(gateGrid(g, false));
  for (const Check& c : g.checks)
    if (c.verdict == Verdict::Regressed) s += "\n" + regressionLine(c);
  if (g.failed()) s += "\n";
  s += fmt::format("\nlimit: how far the metric may move the wrong way; ~ = beyond the limit but not significant "
                   "(Mann-Whitney U, alpha {})\n",
                   g.alpha);
  return s;
}

std::string renderGateMarkdown(const GateResult& g) {
  std::string s = "### gomalloc gate: " + headline(g) + "\n\n";
  s += "- baseline: " + sideText(g.base) + "\n- current: " + sideText(g.cur) + "\n- " + context(g) + "\n";
  if (const std::string t = timingsLine(g); !t.empty()) s += "- " + t + "\n";
  s += "\n";
  s += renderMarkdown(gateGrid(g, true));
  bool any = false;
  for (const Check& c : g.checks)
    if (c.verdict == Verdict::Regressed) {
      s += (any ? "" : "\n") + std::string("- **") + regressionLine(c) + "**\n";
      any = true;
    }
  return s;
}

std::string renderGateJunit(const GateResult& g) {
  const size_t failures = g.count(Verdict::Regressed), skipped = g.count(Verdict::Skipped);
  const std::string suite = "gomalloc gate: " + g.base.runs.front().trace.path;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += fmt::format("<testsuites name=\"gomalloc gate\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
                   g.checks.size(), failures, skipped);
  s += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
                   xmlEscape(suite), g.checks.size(), failures, skipped);
  for (const Check& c : g.checks) {
    const std::string detail = fmt::format("{} ({}): baseline {}, current {}, change {}, limit {}{}{}", c.metric.name,
                                           c.metric.field, sideValue(c.base, c.metric.unit),
                                           sideValue(c.cur, c.metric.unit), changeOf(c), limitOf(c),
                                           c.tested ? fmt::format(", p={:.3f}", c.test.p) : "",
                                           c.note.empty() ? "" : "; " + c.note);
    s += fmt::format("    <testcase classname=\"gomalloc.gate\" name=\"{}\">", xmlEscape(c.metric.name));
    if (c.verdict == Verdict::Regressed)
      s += fmt::format("\n      <failure type=\"regression\" message=\"{}\">{}</failure>\n    ",
                       xmlEscape(regressionLine(c)), xmlEscape(detail));
    else if (c.verdict == Verdict::Skipped)
      s += fmt::format("\n      <skipped message=\"{}\"/>\n    ", xmlEscape(c.note));
    else
      s += fmt::format("\n      <system-out>{}: {}</system-out>\n    ", verdictName(c.verdict), xmlEscape(detail));
    s += "</testcase>\n";
  }
  s += "  </testsuite>\n</testsuites>\n";
  return s;
}

Json gateToJson(const GateResult& g) {
  auto side = [](const GateSide& s) {
    return Json{{"file", s.file}, {"variant", s.variant}, {"runs", s.runs.size()}, {"timings", s.timings}};
  };
  auto number = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  auto spreadJson = [&](const stats::Spread& sp) {
    return sp.n == 0 ? Json(nullptr) : Json{{"median", number(sp.median)}, {"n", sp.n}};
  };
  Json j;
  j["schema"] = kGateSchema;
  j["version"] = kGateVersion;
  j["result"] = g.failed() ? "fail" : "pass";
  j["counts"] = Json{{"regressed", g.count(Verdict::Regressed)}, {"passed", g.count(Verdict::Pass)},
                     {"improved", g.count(Verdict::Improved)},   {"not_significant", g.count(Verdict::NotSignificant)},
                     {"skipped", g.count(Verdict::Skipped)}};
  j["baseline"] = side(g.base);
  j["current"] = side(g.cur);
  j["alpha"] = g.alpha;
  Json checks = Json::array();
  for (const Check& c : g.checks) {
    Json x{{"metric", c.metric.name},
           {"field", c.metric.field},
           {"unit", unitName(c.metric.unit)},
           {"better", directionName(c.rule.direction)},
           {"limit", c.rule.limit.text},
           {"origin", c.rule.origin},
           {"baseline", spreadJson(c.base)},
           {"current", spreadJson(c.cur)}};
    const bool both = c.base.n > 0 && c.cur.n > 0;
    x["delta"] = both ? number(c.delta) : Json(nullptr);
    x["delta_pct"] = both && c.relative ? number(100 * *c.relative) : Json(nullptr);
    x["p_value"] = c.tested ? number(c.test.p) : Json(nullptr);
    x["verdict"] = c.verdict == Verdict::NotSignificant ? "not_significant" : c.verdict == Verdict::Regressed ? "regressed" : verdictName(c.verdict);
    x["note"] = c.note;
    checks.push_back(std::move(x));
  }
  j["checks"] = checks;
  return j;
}

}  // namespace gomalloc::reports
