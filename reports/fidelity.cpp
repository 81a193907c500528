#include "reports/fidelity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>

#include "reports/grid.h"
#include "reports/html.h"

namespace gomalloc::reports {
namespace {

constexpr double kSpanBytes = 8192;  // Go's page; a one-page span

struct Spread {
  double min = 0, median = 0, max = 0;
};

Spread spread(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {v.front(), med, v.back()};
}

// The heap figures at the gc-event rows of a report's timeline, in order, then the end.
// The highest HeapInuse at the points both sides observe: after each collection and at the end. (The model
// also sees the heap just before each collection, which the runtime's replay program cannot stop to read.)
double observedPeakInuse(const Report& r) {
  double peak = 0;
  for (const TimelineRow& t : r.timeline)
    if ((t.event == "gc" || t.event == "end") && t.heap) peak = std::max(peak, double(t.heap->heapInuse));
  return peak;
}

std::vector<replay::HeapFigures> gcPoints(const Report& r) {
  std::vector<replay::HeapFigures> out;
  for (const TimelineRow& t : r.timeline)
    if (t.event == "gc" && t.heap) out.push_back(*t.heap);
  return out;
}

replay::HeapFigures finalFigures(const Report& r) {
  if (r.heap) return r.heap->final;
  for (auto it = r.timeline.rbegin(); it != r.timeline.rend(); ++it)
    if (it->heap) return *it->heap;
  return {};
}

using Field = std::function<double(const replay::HeapFigures&)>;
constexpr size_t kStartRows = 10;  // pacer mode: the first cycles' mark starts shown

struct Builder {
  const Report& model;
  const std::vector<Report>& runtime;
  std::vector<replay::HeapFigures> baselines;
  FidelityTrace& out;

  // A row from one figure of the model and the same figure of every runtime run (baseline taken off when asked).
  FidelityRow& add(const std::string& point, const std::string& metric, double m, const std::vector<double>& rt,
                   const std::string& bound, double tolerance, bool checked) {
    const Spread s = spread(rt);
    FidelityRow row;
    row.point = point, row.metric = metric, row.model = m;
    row.runtimeMin = s.min, row.runtimeMedian = s.median, row.runtimeMax = s.max;
    row.diff = m - s.median;
    row.bound = bound;
    row.checked = checked;
    row.ok = !checked || std::fabs(row.diff) <= tolerance;
    out.rows.push_back(row);
    return out.rows.back();
  }

  std::vector<double> runtimeAt(size_t k, const Field& f, bool lessBaseline) const {
    std::vector<double> v;
    for (size_t i = 0; i < runtime.size(); i++) {
      const auto pts = gcPoints(runtime[i]);
      const replay::HeapFigures h = k < pts.size() ? pts[k] : finalFigures(runtime[i]);
      v.push_back(f(h) - (lessBaseline ? f(baselines[i]) : 0));
    }
    return v;
  }
};

double objects(const replay::HeapFigures& h) { return double(h.heapObjects); }
double alloc(const replay::HeapFigures& h) { return double(h.heapAlloc); }
double inuse(const replay::HeapFigures& h) { return double(h.heapInuse); }

}  // namespace

bool FidelityTrace::ok() const { return failed() == 0; }
size_t FidelityTrace::failed() const {
  return size_t(std::count_if(rows.begin(), rows.end(), [](const FidelityRow& r) { return !r.ok; }));
}

replay::HeapFigures runtimeBaseline(const Report& r) {
  for (const TimelineRow& t : r.timeline)
    if (t.event == "start" && t.heap) return *t.heap;
  return {};
}

namespace {

// The median over the runtime's runs of one figure of each report (0 without runs).
uint64_t medianOverRuns(const std::vector<Report>& runtime, const std::function<uint64_t(const Report&)>& f) {
  std::vector<double> v;
  for (const Report& r : runtime) v.push_back(double(f(r)));
  return v.empty() ? 0 : uint64_t(spread(v).median);
}

}  // namespace

namespace {

std::optional<uint64_t> medianOfPrinted(const std::vector<Report>& runtime,
                                        std::optional<uint64_t> HeapSection::*field) {
  std::vector<double> v;
  for (const Report& r : runtime)
    if (r.heap && (*r.heap).*field) v.push_back(double(*((*r.heap).*field)));
  if (v.empty()) return std::nullopt;
  return uint64_t(spread(v).median);
}

}  // namespace

std::optional<uint64_t> runtimeStackScan(const std::vector<Report>& runtime) {
  return medianOfPrinted(runtime, &HeapSection::stackScanBytes);
}

std::optional<uint64_t> runtimeGlobalsScan(const std::vector<Report>& runtime) {
  return medianOfPrinted(runtime, &HeapSection::globalsScanBytes);
}

uint64_t runtimeBaselineLive(const std::vector<Report>& runtime) {
  return medianOverRuns(runtime, [](const Report& r) { return runtimeBaseline(r).heapAlloc; });
}

uint64_t runtimeBaselineScan(const std::vector<Report>& runtime,
                             const std::function<uint64_t(uint64_t events)>& traceScanAt) {
  std::map<uint64_t, uint64_t> atStart;  // the runs' first marks mostly begin at the same event: read it once
  return medianOverRuns(runtime, [&](const Report& r) -> uint64_t {
    if (!r.heap) return 0;
    const uint64_t counted = r.heap->baselineScanBytes.value_or(0);
    if (!traceScanAt || !r.heap->firstPacedScanWork || !r.heap->pacerGcStarts || r.heap->pacerGcStarts->empty())
      return counted;
    const uint64_t at = r.heap->pacerGcStarts->front();
    if (!atStart.count(at)) atStart[at] = traceScanAt(at);
    const uint64_t work = *r.heap->firstPacedScanWork, trace = atStart[at];
    return work > trace ? std::max(counted, work - trace) : counted;
  });
}

RuntimePacing runtimePacing(const std::vector<Report>& runtime) {
  // The model follows the run it is given closely, so the run given is the most typical one: the nearest to the
  // runs' median cycle count and median peak HeapInuse (each as a share of the median), the first of equals.
  std::vector<double> cycles, peaks;
  for (const Report& r : runtime) {
    cycles.push_back(double(r.summary.gcCycles));
    peaks.push_back(observedPeakInuse(r) - double(runtimeBaseline(r).heapInuse));
  }
  const double medCycles = std::max(1.0, spread(cycles).median), medPeak = std::max(1.0, spread(peaks).median);
  std::optional<RuntimePacing> best;
  double bestDistance = 0;
  for (size_t i = 0; i < runtime.size(); i++) {
    const Report& r = runtime[i];
    if (!r.heap || !r.heap->pacerGcStarts || !r.heap->pacerGcEvents) continue;
    const auto& starts = *r.heap->pacerGcStarts;
    const auto& ends = *r.heap->pacerGcEvents;
    RuntimePacing p;
    for (size_t k = 0; k < starts.size() && k < ends.size(); k++)
      if (ends[k] >= starts[k] && (p.markStarts.empty() || starts[k] >= p.markStarts.back())) {
        p.markStarts.push_back(starts[k]);
        p.markEvents.push_back(std::max<uint64_t>(1, ends[k] - starts[k]));
      }
    if (r.heap->pacerConsMarks) p.consMarks = *r.heap->pacerConsMarks;
    if (p.markEvents.empty()) continue;
    const double d = std::abs(cycles[i] - medCycles) / medCycles + std::abs(peaks[i] - medPeak) / medPeak;
    if (!best || d < bestDistance) best = std::move(p), bestDistance = d;
  }
  return best.value_or(RuntimePacing{});
}

FidelityTrace compareFidelity(const Report& model, const std::vector<Report>& runtime, bool gcOff) {
  if (model.config.backend != "go") throw std::runtime_error("fidelity: the model's report is not the go backend's");
  if (runtime.empty()) throw std::runtime_error("fidelity: no runtime report");
  for (const Report& r : runtime) {
    if (r.config.backend != "go-runtime")
      throw std::runtime_error("fidelity: a runtime report is the " + r.config.backend + " backend's");
    if (r.trace.digest != model.trace.digest)
      throw std::runtime_error("fidelity: the reports replayed different traces (" + model.trace.digest + ", " +
                               r.trace.digest + ")");
  }
  FidelityTrace out;
  out.trace = model.trace.path;
  out.gcOff = gcOff;
  out.runtimeRuns = runtime.size();
  Builder b{model, runtime, {}, out};
  for (const Report& r : runtime) b.baselines.push_back(runtimeBaseline(r));
  {
    std::vector<double> objs;
    for (auto& h : b.baselines) objs.push_back(double(h.heapInuse));
    const Spread s = spread(objs);
    for (size_t i = 0; i < b.baselines.size(); i++)
      if (double(b.baselines[i].heapInuse) == s.median) out.baseline = b.baselines[i];
  }

  // Allocations per size class: the same trace makes the same allocations.
  std::map<uint64_t, double> modelClasses;
  for (const ClassRow& c : model.sizeClasses) modelClasses[c.size] = double(c.allocs);
  std::map<uint64_t, std::vector<double>> rtClasses;
  for (const Report& r : runtime)
    for (const ClassRow& c : r.sizeClasses) rtClasses[c.size].push_back(double(c.allocs));
  for (auto& [size, v] : rtClasses) modelClasses.try_emplace(size, 0);
  size_t classesInUse = 0;
  for (auto& [size, m] : modelClasses) {
    classesInUse += m > 0;
    std::vector<double> rt = rtClasses.count(size) ? rtClasses[size] : std::vector<double>{};
    rt.resize(runtime.size(), 0);
    b.add(size ? fmt::format("class {} B", size) : "large", "allocs", m, rt, "exact", 0, true);
  }

  const auto modelPts = gcPoints(model);
  const double classSlack = double(classesInUse) * kSpanBytes;
  if (gcOff) {
    // At each gc event and at the end: the figures the trace decides exactly, and HeapInuse within spans.
    const size_t n = modelPts.size();
    double prevModel = 0;
    std::vector<double> prevRt(runtime.size(), 0);
    for (size_t k = 0; k <= n; k++) {
      const replay::HeapFigures m = k < n ? modelPts[k] : finalFigures(model);
      const std::string point = k < n ? fmt::format("gc {}", k + 1) : "end";
      b.add(point, "HeapObjects", double(m.heapObjects), b.runtimeAt(k, objects, true), "exact", 0, true);
      b.add(point, "HeapAlloc", double(m.heapAlloc), b.runtimeAt(k, alloc, true), "exact", 0, true);
      const std::vector<double> rtInuse = b.runtimeAt(k, inuse, true);
      std::vector<double> step(rtInuse.size());
      for (size_t i = 0; i < step.size(); i++) step[i] = rtInuse[i] - prevRt[i];
      if (k > 0) b.add(point, "HeapInuse step", double(m.heapInuse) - prevModel, step, "2 spans (16 KiB)", 2 * kSpanBytes, true);
      b.add(point, "HeapInuse", double(m.heapInuse), rtInuse, fmt::format("1 span per class in use ({} KiB)", classSlack / 1024),
            classSlack, true);
      prevModel = double(m.heapInuse);
      prevRt = rtInuse;
    }
    std::vector<double> cycles;
    for (const Report& r : runtime) cycles.push_back(double(r.summary.gcCycles));
    b.add("run", "gc_cycles", double(model.summary.gcCycles), cycles, "exact", 0, true);
  } else {
    std::vector<double> cycles, peaks;
    for (size_t i = 0; i < runtime.size(); i++) {
      cycles.push_back(double(runtime[i].summary.gcCycles));
      peaks.push_back(observedPeakInuse(runtime[i]) - double(b.baselines[i].heapInuse));
    }
    const Spread c = spread(cycles);
    FidelityRow& row = b.add("run", "gc_cycles", double(model.summary.gcCycles), cycles, "runtime range +-1 cycle", 0, true);
    row.ok = row.model >= c.min - 1 && row.model <= c.max + 1;
    const double peakModel = observedPeakInuse(model);
    const double med = spread(peaks).median;
    b.add("run", "peak HeapInuse", peakModel, peaks, "10% of the runtime's median", 0.10 * med, true);
    // Where the first cycles began (the event at which each concurrent mark started), for reading, not a bound.
    const std::vector<uint64_t> none;
    const auto& starts = model.heap && model.heap->pacerGcStarts ? *model.heap->pacerGcStarts : none;
    for (size_t k = 0; k < std::min<size_t>(starts.size(), kStartRows); k++) {
      std::vector<double> rt;
      for (const Report& r : runtime)
        if (r.heap && r.heap->pacerGcStarts && k < r.heap->pacerGcStarts->size()) rt.push_back(double((*r.heap->pacerGcStarts)[k]));
      if (!rt.empty()) b.add(fmt::format("cycle {}", k + 1), "mark began at event", double(starts[k]), rt, "-", 0, false);
    }
    const replay::HeapFigures m = finalFigures(model);
    b.add("end", "HeapObjects", double(m.heapObjects), b.runtimeAt(~size_t{0}, objects, true), "-", 0, false);
    b.add("end", "HeapAlloc", double(m.heapAlloc), b.runtimeAt(~size_t{0}, alloc, true), "-", 0, false);
  }
  return out;
}

namespace {

std::string num(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{}", int64_t(std::llround(v)));
  return fmt::format("{:.1f}", v);
}

std::string runtimeCell(const FidelityRow& r, size_t runs) {
  if (runs <= 1 || r.runtimeMin == r.runtimeMax) return num(r.runtimeMedian);
  return fmt::format("{} ({}..{})", num(r.runtimeMedian), num(r.runtimeMin), num(r.runtimeMax));
}

std::vector<std::vector<std::string>> cells(const FidelityTrace& t) {
  std::vector<std::vector<std::string>> rows;
  for (const FidelityRow& r : t.rows)
    rows.push_back({r.point, r.metric, num(r.model), runtimeCell(r, t.runtimeRuns),
                    (r.diff > 0 ? "+" : "") + num(r.diff), r.bound, !r.checked ? "-" : r.ok ? "ok" : "EXCEEDED"});
  return rows;
}

const std::vector<std::string> kHeader = {"point", "figure", "model", "runtime", "diff", "bound", "verdict"};

Grid grid(const FidelityTrace& t) {
  return Grid{kHeader, cells(t), {false, false, true, true, true, false, false}};
}

std::string title(const FidelityTrace& t) {
  return fmt::format("{}: {}, {} runtime run{} (baseline taken off: HeapInuse {}, HeapObjects {}); {} of {} "
                     "bounds exceeded",
                     t.trace, t.gcOff ? "GOGC=off, collections at the gc events" : "collections from the pacer",
                     t.runtimeRuns, t.runtimeRuns == 1 ? "" : "s", t.baseline.heapInuse, t.baseline.heapObjects,
                     t.failed(), std::count_if(t.rows.begin(), t.rows.end(), [](auto& r) { return r.checked; }));
}

}  // namespace

std::string renderFidelityTable(const std::vector<FidelityTrace>& ts) {
  std::string out;
  for (const FidelityTrace& t : ts) {
    out += title(t) + "\n";
    out += renderText(grid(t)) + "\n";
  }
  return out;
}

std::string renderFidelityMarkdown(const std::vector<FidelityTrace>& ts) {
  std::string out;
  for (const FidelityTrace& t : ts) {
    out += "### " + title(t) + "\n\n";
    out += renderMarkdown(grid(t)) + "\n";
  }
  return out;
}

std::string renderFidelityHtml(const std::vector<FidelityTrace>& ts) {
  std::string out = "<header><h1>gomalloc fidelity</h1><p class=\"sub\">The Go model against the Go 1.19 runtime, "
                    "figure by figure, with the bounds of docs/fidelity.md</p></header>\n";
  for (const FidelityTrace& t : ts) {
    out += "<section><h2>" + xmlEscape(title(t)) + "</h2><div class=\"scroll\"><table class=\"fidelity\"><tr>";
    const std::vector<bool> right = grid(t).rightAligned;  // the text table's alignment: numbers right
    auto cls = [&](size_t i) { return i < right.size() && right[i] ? "" : " class=\"l\""; };
    for (size_t i = 0; i < kHeader.size(); i++) out += fmt::format("<th{}>{}</th>", cls(i), xmlEscape(kHeader[i]));
    out += "</tr>\n";
    for (auto& row : cells(t)) {
      out += row.back() == "EXCEEDED" ? "<tr class=\"worse bad\">" : "<tr>";
      for (size_t i = 0; i < row.size(); i++) out += fmt::format("<td{}>{}</td>", cls(i), xmlEscape(row[i]));
      out += "</tr>\n";
    }
    out += "</table></div></section>\n";
  }
  return htmlPage("gomalloc fidelity", out);
}

nlohmann::ordered_json fidelityToJson(const std::vector<FidelityTrace>& ts) {
  nlohmann::ordered_json j;
  j["schema"] = "gomalloc-fidelity";
  j["version"] = 1;
  auto traces = nlohmann::ordered_json::array();
  for (const FidelityTrace& t : ts) {
    nlohmann::ordered_json tj;
    tj["trace"] = t.trace;
    tj["gogc_off"] = t.gcOff;
    tj["runtime_runs"] = t.runtimeRuns;
    tj["baseline"] = {{"heap_inuse_bytes", t.baseline.heapInuse}, {"heap_objects", t.baseline.heapObjects},
                      {"heap_alloc_bytes", t.baseline.heapAlloc}};
    tj["failed"] = t.failed();
    auto rows = nlohmann::ordered_json::array();
    for (const FidelityRow& r : t.rows)
      rows.push_back({{"point", r.point},
                      {"figure", r.metric},
                      {"model", r.model},
                      {"runtime_median", r.runtimeMedian},
                      {"runtime_min", r.runtimeMin},
                      {"runtime_max", r.runtimeMax},
                      {"diff", r.diff},
                      {"bound", r.bound},
                      {"checked", r.checked},
                      {"ok", r.ok}});
    tj["rows"] = rows;
    traces.push_back(tj);
  }
  j["traces"] = traces;
  return j;
}

}  // namespace gomalloc::reports
