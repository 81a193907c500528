#include "reports/suite.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "reports/grid.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

// ---- the matrix ----

RunIndex runAt(const Matrix& m, size_t k) {
  const size_t v = m.variants.size(), perTrace = v * size_t(m.options.repeat);
  return RunIndex{k / perTrace, k % v, int(k % perTrace / v)};
}

Shard parseShard(std::string_view text) {
  auto whole = [](std::string_view s, int* out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  };
  const size_t slash = text.find('/');
  Shard s;
  if (slash == std::string_view::npos || !whole(text.substr(0, slash), &s.index) ||
      !whole(text.substr(slash + 1), &s.count))
    throw std::invalid_argument(fmt::format("--shard {}: expected I/N, two whole numbers (e.g. 2/3: the second of 3 parts)", text));
  if (s.count < 1 || s.count > 100000)
    throw std::invalid_argument(fmt::format("--shard {}: N must be from 1 to 100000", text));
  if (s.index < 1 || s.index > s.count)
    throw std::invalid_argument(
        fmt::format("--shard {}: I must be from 1 to {} (shards are numbered from 1)", text, s.count));
  return s;
}

std::vector<size_t> shardRuns(size_t runs, Shard s) {
  std::vector<size_t> out;
  for (size_t k = size_t(s.index - 1); k < runs; k += size_t(s.count)) out.push_back(k);
  return out;
}

std::vector<MatrixRun> runMatrix(const Matrix& m, const std::vector<size_t>& which,
                                 const std::function<Report(const RunIndex&)>& run) {
  if (m.variants.empty()) throw std::invalid_argument("compare needs at least one variant");
  std::vector<std::string> digests(m.traces.size());
  for (size_t t = 0; t < m.traces.size(); t++) digests[t] = m.traces[t].digest;
  std::vector<MatrixRun> out;
  for (size_t k : which) {
    const RunIndex at = runAt(m, k);
    Report r = run(at);
    std::string& want = digests[at.trace];
    if (want.empty()) want = r.trace.digest;
    if (r.trace.digest != want)
      throw std::runtime_error(fmt::format("variant {} (run {}) replayed a trace with digest {}, not {}",
                                           m.variants[at.variant].name, at.round + 1, r.trace.digest, want));
    out.push_back(MatrixRun{k, std::move(r)});
  }
  return out;
}

SuiteResult assembleSuite(const Matrix& m, const ToolInfo& tool, std::vector<MatrixRun> runs) {
  const size_t total = m.runs();
  std::vector<std::optional<Report>> slot(total);
  for (MatrixRun& r : runs) {
    if (r.k >= total) throw std::runtime_error(fmt::format("run {} is outside the matrix ({} runs)", r.k, total));
    if (slot[r.k]) throw std::runtime_error(fmt::format("run {} is there twice", r.k));
    slot[r.k] = std::move(r.report);
  }
  SuiteResult s{tool, {}};
  for (size_t t = 0; t < m.traces.size(); t++) {
    CompareResult c{tool, m.options, {}};
    c.options.trace = m.traces[t].path;
    for (auto& v : m.variants) c.variants.push_back(VariantRuns{v, {}});
    s.traces.push_back(std::move(c));
  }
  for (size_t k = 0; k < total; k++) {  // canonical order: round by round, so each variant's runs are in round order
    if (!slot[k]) throw std::runtime_error(fmt::format("run {} is missing", k));
    const RunIndex at = runAt(m, k);
    s.traces[at.trace].variants[at.variant].runs.push_back(std::move(*slot[k]));
  }
  return s;
}

// ---- the summary ----

std::vector<SummaryRow> summarizeSuite(const SuiteResult& s) {
  std::vector<std::vector<Row>> perTrace;
  for (auto& c : s.traces) perTrace.push_back(summarize(c));
  const size_t variants = s.traces.empty() ? 0 : s.traces[0].variants.size();
  std::vector<SummaryRow> out;
  for (const Metric& m : metricCatalogue()) {
    SummaryRow row{m, std::vector<SummaryCell>(variants > 0 ? variants - 1 : 0)};
    std::vector<double> logSums(row.cells.size(), 0);
    bool any = false;
    for (auto& rows : perTrace)
      for (const Row& r : rows) {
        if (r.metric.name != m.name) continue;
        any = true;
        const Cell& base = r.cells[0];
        for (size_t i = 1; i < r.cells.size(); i++) {
          const Cell& cell = r.cells[i];
          if (!base.present || !cell.present || !(base.spread.median > 0) || !(cell.spread.median > 0)) continue;
          logSums[i - 1] += std::log(cell.spread.median / base.spread.median);
          row.cells[i - 1].traces++;
        }
      }
    if (!any) continue;
    for (size_t i = 0; i < row.cells.size(); i++)
      if (row.cells[i].traces) row.cells[i].ratio = std::exp(logSums[i] / double(row.cells[i].traces));
    out.push_back(std::move(row));
  }
  return out;
}

std::string summaryText(const SummaryCell& cell, size_t traces) {
  if (cell.traces == 0) return "-";
  std::string s = fmt::format("{:.3f}x ({})", cell.ratio, formatRelative(1, cell.ratio));
  if (cell.traces < traces) s += fmt::format(" [{} of {} traces]", cell.traces, traces);
  return s;
}

namespace {

Grid summaryGrid(const SuiteResult& s) {
  Grid g;
  g.header.push_back("metric");
  g.rightAligned.push_back(false);
  const auto& vs = s.traces.at(0).variants;
  for (size_t i = 1; i < vs.size(); i++) {
    g.header.push_back(vs[i].spec.name + " vs " + vs[0].spec.name);
    g.rightAligned.push_back(true);
  }
  for (const SummaryRow& row : summarizeSuite(s)) {
    std::vector<std::string> cells = {row.metric.name};
    for (auto& cell : row.cells) cells.push_back(summaryText(cell, s.traces.size()));
    g.rows.push_back(std::move(cells));
  }
  return g;
}

std::string summaryHeading(const SuiteResult& s) {
  return fmt::format("summary: geometric mean over {} traces of each variant's median / {}'s (the baseline)",
                     s.traces.size(), s.traces.at(0).variants.at(0).spec.name);
}

const char* kSummaryNote =
    "A trace enters a metric's mean when both medians are above 0; [n of N traces] says when some did not "
    "(a zero or a metric the backend lacks).\n";

Json jsonNum(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

std::string renderSuiteTable(const SuiteResult& s) {
  std::string out;
  for (auto& c : s.traces) out += renderCompareTable(c) + "\n";
  if (s.traces[0].variants.size() < 2) return out;
  return out + summaryHeading(s) + "\n\n" + renderText(summaryGrid(s)) + "\n" + kSummaryNote;
}

std::string renderSuiteMarkdown(const SuiteResult& s) {
  std::string out;
  for (auto& c : s.traces) out += renderCompareMarkdown(c) + "\n";
  if (s.traces[0].variants.size() < 2) return out;
  return out + "### " + summaryHeading(s) + "\n\n" + renderMarkdown(summaryGrid(s)) + "\n" + kSummaryNote;
}

std::string renderSuiteCsv(const SuiteResult& s) {
  std::string out;
  for (size_t t = 0; t < s.traces.size(); t++) {
    const std::string csv = renderCompareCsv(s.traces[t]);
    size_t start = 0;
    for (size_t line = 0; start < csv.size(); line++) {
      const size_t nl = csv.find('\n', start);
      if (line > 0 || t == 0) out += (line == 0 ? std::string("trace") : csvField(s.traces[t].options.trace)) + "," +
                                     csv.substr(start, nl - start) + "\n";
      start = nl + 1;
    }
  }
  const auto& vs = s.traces[0].variants;
  for (const SummaryRow& row : summarizeSuite(s))
    for (size_t i = 0; i < row.cells.size(); i++) {
      const SummaryCell& cell = row.cells[i];
      if (!cell.traces) continue;
      out += fmt::format("(geomean),{},{},ratio,{},{},{},{},,,,,,{},,\n", csvField(row.metric.name),
                         csvField(row.metric.field), directionName(row.metric.direction),
                         csvField(vs[i + 1].spec.name), cell.traces, cell.ratio, 100 * (cell.ratio - 1));
    }
  return out;
}

Json suiteToJson(const SuiteResult& s) {
  Json j;
  j["schema"] = kSuiteSchema;
  j["version"] = kSuiteVersion;
  j["tool"] = toolJson(s.tool);
  Json results = Json::array(), traces = Json::array();
  for (auto& c : s.traces) {
    Json one = compareToJson(c);
    traces.push_back(one["trace"]);
    results.push_back(std::move(one));
  }
  j["options"] = results.at(0)["options"];
  j["baseline"] = results.at(0)["baseline"];
  j["traces"] = traces;
  Json metrics = Json::array();
  const auto& vs = s.traces[0].variants;
  for (const SummaryRow& row : summarizeSuite(s)) {
    Json cells = Json::array();
    for (size_t i = 0; i < row.cells.size(); i++) {
      const SummaryCell& cell = row.cells[i];
      cells.push_back(Json{{"variant", vs[i + 1].spec.name},
                           {"traces", cell.traces},
                           {"ratio", cell.traces ? jsonNum(cell.ratio) : Json(nullptr)},
                           {"text", summaryText(cell, s.traces.size())}});
    }
    metrics.push_back(Json{{"name", row.metric.name},
                           {"unit", unitName(row.metric.unit)},
                           {"direction", directionName(row.metric.direction)},
                           {"kind", noiseName(row.metric.noise)},
                           {"variants", cells}});
  }
  j["summary"] = Json{{"mean", "geometric"}, {"of", "median(variant) / median(baseline), per trace"},
                      {"metrics", metrics}};
  j["results"] = results;
  return j;
}

// ---- part files ----

namespace {

Json settingsJson(const Settings& s) {
  Json o = Json::object();
  for (auto& [k, v] : s) o[k] = settingToJson(v);
  return o;
}

Json matrixToJson(const Matrix& m) {
  Json traces = Json::array(), variants = Json::array();
  for (auto& t : m.traces) traces.push_back(Json{{"path", t.path}, {"digest", t.digest}, {"events", t.events}});
  for (size_t i = 0; i < m.variants.size(); i++) {
    const VariantSpec& v = m.variants[i];
    variants.push_back(Json{{"name", v.name},
                            {"allocator", v.allocator},
                            {"config_file", v.configFile},
                            {"settings", settingsJson(v.sets)},
                            {"resolved", settingsJson(i < m.resolved.size() ? m.resolved[i] : Settings{})}});
  }
  Json options = optionsJson(m.options);
  options["memory_limit"] = m.memoryLimit;
  return Json{{"traces", traces},
              {"variants", variants},
              {"options", options},
              {"order", "trace, then round, then variant; run k belongs to shard k mod N + 1"},
              {"runs", m.runs()}};
}

Settings settingsFrom(const Json& o) {
  if (!o.is_object()) throw std::runtime_error("expected an object of settings");
  Settings s;
  for (auto& [k, v] : o.items()) {
    try {
      s.emplace_back(k, settingFromJson(v));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(k + ": " + e.what());
    }
  }
  return s;
}

Matrix matrixFromJson(const Json& j) {
  Matrix m;
  for (auto& t : j.at("traces"))
    m.traces.push_back(
        MatrixTrace{t.at("path").get<std::string>(), t.at("digest").get<std::string>(), t.at("events").get<uint64_t>()});
  for (auto& v : j.at("variants")) {
    VariantSpec spec;
    spec.name = v.at("name").get<std::string>();
    spec.allocator = v.at("allocator").get<std::string>();
    spec.configFile = v.at("config_file").get<std::string>();
    spec.sets = settingsFrom(v.at("settings"));
    m.variants.push_back(std::move(spec));
    m.resolved.push_back(settingsFrom(v.at("resolved")));
  }
  m.options = optionsFromJson(j.at("options"));
  m.memoryLimit = j["options"].at("memory_limit").get<std::string>();
  if (m.traces.empty() || m.variants.empty() || m.options.repeat < 1)
    throw std::runtime_error("no traces, no variants or repeat below 1");
  if (j.at("runs").get<uint64_t>() != m.runs())
    throw std::runtime_error(fmt::format("runs is {}, but the matrix has {}", j["runs"].dump(), m.runs()));
  return m;
}

// The first place where a and b differ ("variants[1].resolved.gogc"), empty when they are equal.
std::string firstDifference(const Json& a, const Json& b, const std::string& path) {
  if (a.type() != b.type()) return path;
  if (a.is_object()) {
    for (auto& [k, v] : a.items()) {
      const std::string p = path.empty() ? k : path + "." + k;
      if (!b.contains(k)) return p;
      if (std::string d = firstDifference(v, b[k], p); !d.empty()) return d;
    }
    for (auto& [k, v] : b.items())
      if (!a.contains(k)) return path.empty() ? k : path + "." + k;
    return "";
  }
  if (a.is_array()) {
    for (size_t i = 0; i < std::min(a.size(), b.size()); i++)
      if (std::string d = firstDifference(a[i], b[i], fmt::format("{}[{}]", path, i)); !d.empty()) return d;
    return a.size() == b.size() ? "" : fmt::format("{} (length {} against {})", path, a.size(), b.size());
  }
  return a == b ? "" : path;
}

std::string valueAt(const Json& j, const std::string& path) {
  // For messages: the value at a dotted path with [i] indices, when it can be found.
  const Json* cur = &j;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') i++;
    if (path[i] == '[') {
      const size_t end = path.find(']', i);
      const size_t n = std::stoul(path.substr(i + 1, end - i - 1));
      if (!cur->is_array() || n >= cur->size()) return "?";
      cur = &(*cur)[n];
      i = end + 1;
      continue;
    }
    const size_t end = path.find_first_of(".[ ", i);
    const std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!cur->is_object() || !cur->contains(key)) return "(absent)";
    cur = &(*cur)[key];
    if (end == std::string::npos || path[end] == ' ') break;
    i = end;
  }
  const std::string s = cur->dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

}  // namespace

Json partToJson(const Part& p) {
  Json runs = Json::array();
  for (auto& r : p.runs) {
    const RunIndex at = runAt(p.matrix, r.k);
    runs.push_back(Json{{"run", r.k},
                        {"trace", at.trace},
                        {"variant", p.matrix.variants[at.variant].name},
                        {"round", at.round + 1},
                        {"report", toJson(r.report)}});
  }
  return Json{{"schema", kPartSchema},
              {"version", kPartVersion},
              {"tool", toolJson(p.tool)},
              {"shard", Json{{"index", p.shard.index}, {"count", p.shard.count}}},
              {"matrix", matrixToJson(p.matrix)},
              {"runs", runs}};
}

Part partFromJson(const Json& j) {
  auto bad = [](const std::string& what) { return std::runtime_error(what); };
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string())
    throw bad(fmt::format("not a compare part file (no \"schema\": \"{}\")", kPartSchema));
  if (j["schema"] != kPartSchema)
    throw bad(fmt::format("schema '{}' is not {} (a part file is what `gomalloc compare --shard I/N` writes)",
                          j["schema"].get<std::string>(), kPartSchema));
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != kPartVersion)
    throw bad(fmt::format("version {} (this build reads version {})", j.value("version", Json()).dump(), kPartVersion));
  Part p;
  std::string where = "tool";
  try {
    p.tool = toolFromJson(j.at("tool"));
    where = "shard";
    p.shard.index = j.at("shard").at("index").get<int>();
    p.shard.count = j.at("shard").at("count").get<int>();
    if (p.shard.count < 1 || p.shard.index < 1 || p.shard.index > p.shard.count)
      throw bad(fmt::format("{}/{} is not a shard (I from 1 to N)", p.shard.index, p.shard.count));
    where = "matrix";
    p.matrix = matrixFromJson(j.at("matrix"));
    where = "runs";
    if (!j.at("runs").is_array()) throw bad("expected an array");
  } catch (const std::exception& e) {
    throw bad(where + ": " + e.what());
  }
  const Json& runs = j["runs"];
  for (size_t i = 0; i < runs.size(); i++) {
    const std::string at = fmt::format("runs[{}]", i);
    MatrixRun r;
    try {
      r.k = runs[i].at("run").get<size_t>();
    } catch (const std::exception& e) {
      throw bad(at + ".run: " + e.what());
    }
    if (r.k >= p.matrix.runs()) throw bad(fmt::format("{}.run: {} is outside the matrix ({} runs)", at, r.k, p.matrix.runs()));
    try {
      checkReportSchema(runs[i].at("report"));
      r.report = fromJson(runs[i].at("report"));
    } catch (const std::exception& e) {
      throw bad(at + ".report: " + e.what());
    }
    p.runs.push_back(std::move(r));
  }
  return p;
}

std::pair<Matrix, std::vector<MatrixRun>> mergeParts(const std::vector<std::pair<std::string, Part>>& parts,
                                                     ToolInfo* tool) {
  if (parts.empty()) throw MergeError("--merge needs the part files (gomalloc compare --shard I/N -o PART.json)");
  const auto& [firstFile, first] = parts[0];
  const Json firstHead = partToJson(Part{first.tool, first.matrix, first.shard, {}});
  std::map<int, std::string> seen;  // shard index -> file
  for (auto& [file, p] : parts) {
    if (p.shard.count != first.shard.count)
      throw MergeError(fmt::format("{}: part {}/{}, but {} is part {}/{}: parts of different splits", file,
                                   p.shard.index, p.shard.count, firstFile, first.shard.index, first.shard.count));
    if (auto it = seen.find(p.shard.index); it != seen.end())
      throw MergeError(fmt::format("{}: part {}/{} again ({} is part {}/{} too)", file, p.shard.index,
                                   p.shard.count, it->second, p.shard.index, p.shard.count));
    seen[p.shard.index] = file;
    Json mine = partToJson(Part{p.tool, p.matrix, first.shard, {}});
    mine.erase("runs");
    Json theirs = firstHead;
    theirs.erase("runs");
    if (const std::string d = firstDifference(mine, theirs, ""); !d.empty())
      throw MergeError(fmt::format("{}: not a part of the same compare as {}: {} is {} there, {} here", file, firstFile,
                                   d, valueAt(theirs, d), valueAt(mine, d)));
    // Its runs: exactly the shard's, each of its trace.
    const std::vector<size_t> want = shardRuns(p.matrix.runs(), p.shard);
    std::set<size_t> have;
    for (auto& r : p.runs) {
      const RunIndex at = runAt(p.matrix, r.k);
      if ((r.k % size_t(p.shard.count)) != size_t(p.shard.index - 1))
        throw MergeError(fmt::format("{}: run {} belongs to part {}/{}, not {}/{}", file, r.k,
                                     r.k % size_t(p.shard.count) + 1, p.shard.count, p.shard.index, p.shard.count));
      if (!have.insert(r.k).second) throw MergeError(fmt::format("{}: run {} is there twice", file, r.k));
      const MatrixTrace& t = p.matrix.traces[at.trace];
      if (r.report.trace.digest != t.digest)
        throw MergeError(fmt::format("{}: run {} replayed a trace with digest {}, not {}'s {}", file, r.k,
                                     r.report.trace.digest, t.path, t.digest));
      if (r.report.config.backend != p.matrix.variants[at.variant].allocator)
        throw MergeError(fmt::format("{}: run {} is a {} report, but variant {} is allocator {}", file, r.k,
                                     r.report.config.backend, p.matrix.variants[at.variant].name,
                                     p.matrix.variants[at.variant].allocator));
    }
    if (have.size() != want.size())
      throw MergeError(fmt::format("{}: part {}/{} has {} of its {} runs", file, p.shard.index, p.shard.count,
                                   have.size(), want.size()));
  }
  if (int(seen.size()) != first.shard.count) {
    std::string missing, given;
    for (int i = 1; i <= first.shard.count; i++)
      if (!seen.count(i)) missing += (missing.empty() ? "" : ", ") + fmt::format("{}/{}", i, first.shard.count);
    for (auto& [i, f] : seen) given += (given.empty() ? "" : ", ") + fmt::format("{}/{} ({})", i, first.shard.count, f);
    throw MergeError(fmt::format("part{} {} missing; given: {}", missing.find(',') == std::string::npos ? "" : "s",
                                 missing, given));
  }
  std::vector<MatrixRun> runs;
  for (auto& [file, p] : parts)
    for (auto& r : p.runs) runs.push_back(r);
  *tool = first.tool;
  return {first.matrix, std::move(runs)};
}

}  // namespace gomalloc::reports
