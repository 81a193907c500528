#include "reports/html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/config.h"
#include "reports/grid.h"
#include "reports/info.h"
#include "reports/metrics.h"
#include "reports/render.h"

namespace gomalloc::reports {

namespace {

const char* const kPalette[] = {"#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"};
const char* color(size_t i) { return kPalette[i % std::size(kPalette)]; }

std::string esc(std::string_view s) { return xmlEscape(s); }

const char* kStyle = R"(
:root{--fg:#1d2430;--muted:#5b6472;--grid:#e6e9ef;--card:#f5f7fa;--line:#d5dae2}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);
  max-width:1060px;margin:20px auto;padding:0 18px;background:#fff}
h1{font-size:22px;margin:0 0 2px}h2{font-size:17px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:14px 0 2px}
.sub,.note{color:var(--muted)}.note{font-size:12.5px;margin:2px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-top:14px}
.card{background:var(--card);border-radius:6px;padding:8px 11px}.card b{display:block;font-size:18px;font-weight:600}
.card span{color:var(--muted);font-size:12px}
figure{margin:4px 0 14px}svg{display:block;width:100%;height:auto}
svg text{font-size:11px;fill:#4b5563}svg .axis-label{font-size:12px;fill:#1d2430}
.gridline{stroke:var(--grid)}.axis{stroke:#9aa2ae}
.series{fill:none;stroke-width:2;stroke-linejoin:round}.gc-mark{stroke:#8b95a5;stroke-dasharray:4 3}
.gc-label{font-size:10px;fill:#6b7280}
.legend{font-size:12.5px;margin:2px 0 0}.legend span{margin-right:16px;white-space:nowrap}
.legend i{display:inline-block;width:16px;height:4px;border-radius:2px;vertical-align:middle;margin-right:5px}
.legend i.dash{height:0;border-top:2px dashed #8b95a5;border-radius:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0}
td,th{padding:3px 10px;border-bottom:1px solid var(--grid);text-align:right;vertical-align:top}
th{font-weight:600;background:var(--card)}td:first-child,th:first-child{text-align:left}
td.l,th.l{text-align:left}table.metrics td{white-space:nowrap}table.metrics td:first-child{white-space:normal}
.worse{color:#b42318;font-weight:600}.better{color:#067647;font-weight:600}.nosig{color:var(--muted)}
code{font-size:12.5px;overflow-wrap:anywhere}.scroll{overflow-x:auto;max-width:100%}
table.metrics td.worse,table.metrics td.better,table.metrics td.nosig{white-space:normal;min-width:5.5em}details{margin:4px 0}summary{cursor:pointer;color:var(--muted)}
footer{margin:28px 0 10px;color:var(--muted);font-size:12px}
)";

}  // namespace

std::string htmlPage(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
         esc(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n";
}

namespace {

std::string page(const std::string& title, const std::string& body) { return htmlPage(title, body); }

// ---- axes ----

// An axis scale: values are divided by div and labelled with unit.
struct Scale {
  double div = 1;
  std::string unit;  // shown in the axis label
  bool compact = false;  // tick labels with k / M suffixes
};

Scale scaleFor(Unit u, double max) {
  switch (u) {
    case Unit::Bytes:
      if (max >= double(1ull << 30)) return {double(1ull << 30), "GiB"};
      if (max >= double(1ull << 20)) return {double(1ull << 20), "MiB"};
      if (max >= 1024) return {1024, "KiB"};
      return {1, "bytes"};
    case Unit::Ratio: return {0.01, "%"};
    case Unit::Nanoseconds:
      if (max >= 1e6) return {1e6, "ms"};
      if (max >= 1e3) return {1e3, "us"};
      return {1, "ns"};
    case Unit::Seconds: return {1, "s"};
    case Unit::Count: return {1, "", true};
  }
  return {};
}

std::vector<double> niceTicks(double max, int target = 5) {
  if (!(max > 0)) max = 1;
  const double raw = max / target;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  std::vector<double> t;
  for (int i = 0; t.empty() || t.back() < max - step * 1e-9; i++) t.push_back(step * i);
  return t;
}

std::string tickText(double v, bool compact) {
  if (compact && std::fabs(v) >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (compact && std::fabs(v) >= 1e3) return fmt::format("{:g}k", v / 1e3);
  if (std::fabs(v) < 1e-9) return "0";
  return fmt::format("{:g}", v);
}

struct Frame {
  double w = 960, h = 300, left = 72, right = 16, top = 14, bottom = 48;
  double plotW() const { return w - left - right; }
  double plotH() const { return h - top - bottom; }
};

std::string fmtNum(double v) { return fmt::format("{:.1f}", v); }

// Where a value (in the axis's base unit) sits on a y axis, as a fraction of the plot's height: linear from 0
// to top, or logarithmic from 1 to top (counts that span decades).
struct YMap {
  double top = 1;
  bool log = false;
  double frac(double v) const {
    if (log) return v <= 1 || top <= 1 ? 0 : std::log10(v) / std::log10(top);
    return top > 0 ? v / top : 0;
  }
};

// Powers of ten from 1 up to the first at or above max.
std::vector<double> logTicks(double max) {
  std::vector<double> t = {1};
  while (t.back() < max || t.size() < 2) t.push_back(t.back() * 10);
  return t;
}

// Whether counts span more than two decades (the largest over 100 times the smallest above 0): drawn on a
// logarithmic axis, where a linear one would flatten the small ones to nothing.
bool spansDecades(const std::vector<double>& values) {
  double lo = 0, hi = 0;
  for (double v : values)
    if (v > 0) lo = lo > 0 ? std::min(lo, v) : v, hi = std::max(hi, v);
  return lo > 0 && hi > 100 * lo;
}

// Y grid, ticks (in the scale's unit) and the axis label (rotated, on the left).
std::string yAxis(const Frame& f, const std::vector<double>& ticks, const Scale& s, const std::string& label,
                  const YMap& map) {
  std::string out;
  for (double t : ticks) {
    const double y = f.top + f.plotH() * (1 - map.frac(t * s.div));
    out += fmt::format("<line class=\"gridline\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", fmtNum(f.left), fmtNum(y),
                       fmtNum(f.left + f.plotW()), fmtNum(y));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", fmtNum(f.left - 6), fmtNum(y + 4),
                       esc(tickText(t, s.compact)));
  }
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", fmtNum(f.left), fmtNum(f.top),
                     fmtNum(f.top + f.plotH()));
  std::string text = s.unit.empty() ? label : fmt::format("{} ({})", label, s.unit);
  if (map.log) text += ", log scale";
  out += fmt::format("<text class=\"axis-label\" transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
                     fmtNum(16), fmtNum(f.top + f.plotH() / 2), esc(text));
  return out;
}

std::string xAxisLine(const Frame& f) {
  const double y = f.top + f.plotH();
  return fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", fmtNum(f.left), fmtNum(y),
                     fmtNum(f.left + f.plotW()), fmtNum(y));
}

std::string xLabel(const Frame& f, const std::string& label) {
  return fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                     fmtNum(f.left + f.plotW() / 2), fmtNum(f.h - 6), esc(label));
}

std::string svgOpen(const Frame& f, const std::string& name, const std::string& aria) {
  return fmt::format("<svg data-chart=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\" "
                     "xmlns=\"http://www.w3.org/2000/svg\">",
                     esc(name), f.w, f.h, esc(aria));
}

// ---- line charts (time series) ----

struct LineSeries {
  std::string key, label, color;
  std::vector<std::pair<double, double>> pts;  // (x: ms or trace events, value)
};

// What a line chart's x is: milliseconds since the replay started, or trace events done.
enum class XKind { Ms, Events };

std::string legend(const std::vector<std::pair<std::string, std::string>>& items, bool gcMarks) {
  std::string s = "<div class=\"legend\">";
  for (auto& [label, c] : items) s += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", c, esc(label));
  if (gcMarks) s += "<span><i class=\"dash\"></i>GC</span>";
  return s + "</div>";
}

// Every point gets a dot when a series has at most maxDots of them (measured points, where lines only join them).
std::string lineChart(const std::string& name, const std::string& yLabel, Unit unit,
                      const std::vector<LineSeries>& series, const std::vector<double>& gcMarks,
                      XKind xkind = XKind::Ms, size_t maxDots = 120) {
  const bool events = xkind == XKind::Events;
  Frame f;
  double maxX = 0, maxY = 0;
  for (auto& s : series)
    for (auto& [x, y] : s.pts) maxX = std::max(maxX, x), maxY = std::max(maxY, y);
  for (double g : gcMarks) maxX = std::max(maxX, g);
  const Scale ys = scaleFor(unit, maxY);
  const std::vector<double> yt = niceTicks(maxY / ys.div);
  const double yTop = yt.back() * ys.div;
  const bool seconds = !events && maxX > 5000;
  const double xdiv = seconds ? 1000 : 1;
  const std::vector<double> xt = niceTicks(maxX / xdiv, 8);
  const double xTop = xt.back() * xdiv;
  auto px = [&](double x) { return f.left + f.plotW() * x / xTop; };
  auto py = [&](double y) { return f.top + f.plotH() * (1 - y / yTop); };

  std::string out = svgOpen(f, name, yLabel + (events ? " over the trace's events" : " over time"));
  out += yAxis(f, yt, ys, yLabel, YMap{yTop});
  for (double t : xt) {
    const double x = px(t * xdiv);
    out += fmt::format("<line class=\"gridline\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>", fmtNum(x), fmtNum(f.top),
                       fmtNum(f.top + f.plotH()));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", fmtNum(x),
                       fmtNum(f.top + f.plotH() + 16), tickText(t, events));
  }
  out += xAxisLine(f);
  out += xLabel(f, events    ? "trace events done"
                   : seconds ? "time since the replay started (s)"
                             : "time since the replay started (ms)");
  auto at = [&](double x) { return events ? fmt::format("after {} events", groupDigits(uint64_t(x))) : fmt::format("at {:.2f} ms", x); };
  if (!gcMarks.empty()) {
    out += fmt::format("<g class=\"gc-marks\" data-series=\"gc\" data-points=\"{}\">", gcMarks.size());
    for (double g : gcMarks)
      out += fmt::format("<line class=\"gc-mark\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"><title>GC cycle {3}</title></line>",
                         fmtNum(px(g)), fmtNum(f.top), fmtNum(f.top + f.plotH()), at(g));
    out += "</g>";
  }
  for (auto& s : series) {
    std::string pts;
    for (auto& [x, y] : s.pts) pts += (pts.empty() ? "" : " ") + fmtNum(px(x)) + "," + fmtNum(py(y));
    out += fmt::format("<polyline class=\"series\" data-series=\"{}\" data-points=\"{}\" stroke=\"{}\" points=\"{}\"/>",
                       esc(s.key), s.pts.size(), s.color, pts);
    if (s.pts.size() <= maxDots) {
      out += fmt::format("<g class=\"dots\" fill=\"{}\">", s.color);
      for (auto& [x, y] : s.pts)
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.6\"><title>{}: {} {}</title></circle>",
                           fmtNum(px(x)), fmtNum(py(y)), esc(s.label), esc(formatValue(y, unit)), at(x));
      out += "</g>";
    }
  }
  return out + "</svg>";
}

// ---- bar charts (one bar per size class, grouped when several series) ----

struct BarSeries {
  std::string key, label, color;
  std::vector<std::optional<double>> values;  // one per category; nullopt: no bar (e.g. class absent)
  // Optional, one per category: the bar's opacity (its weight, e.g. by allocations) and a note for its tooltip.
  std::vector<double> weights;
  std::vector<std::string> notes;
};

// Opacity of a bar whose category holds n of at most max allocations: by the logarithm, from 0.2 (one
// allocation) to 1, so that a class with one allocation does not look like one with thousands.
double allocWeight(uint64_t n, uint64_t max) {
  if (n == 0) return 0.2;
  if (max <= 1) return 1;
  return 0.2 + 0.8 * std::log10(double(n)) / std::log10(double(max));
}

// Counts span decades: a log axis (see spansDecades).
std::string barChart(const std::string& name, const std::string& yLabel, Unit unit,
                     const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                     const std::string& categoryLabel, const std::string& aria = "by size class") {
  Frame f;
  f.h = 240;
  f.bottom = 58;
  double maxY = 0;
  std::vector<double> all;
  for (auto& s : series)
    for (auto& v : s.values)
      if (v) maxY = std::max(maxY, *v), all.push_back(*v);
  const bool log = unit == Unit::Count && spansDecades(all);
  const Scale ys = log ? Scale{1, "", true} : scaleFor(unit, maxY);
  std::vector<double> yt = log ? logTicks(maxY)
                               : niceTicks(unit == Unit::Ratio ? std::max(maxY, 1e-9) / ys.div : maxY / ys.div);
  if (unit == Unit::Ratio && maxY > 0.5) yt = {0, 20, 40, 60, 80, 100};
  const YMap map{yt.back() * ys.div, log};
  const size_t n = std::max<size_t>(categories.size(), 1);
  const double slot = f.plotW() / double(n);
  const double groupW = slot * 0.8;
  const double barW = groupW / double(std::max<size_t>(series.size(), 1));

  std::string out = svgOpen(f, name, yLabel + " " + aria);
  out += yAxis(f, yt, ys, yLabel, map);
  out += xAxisLine(f);
  const size_t every = (categories.size() + 31) / 32;  // at most 32 labels
  const size_t last = categories.empty() ? 0 : categories.size() - 1;
  for (size_t i = 0; i < categories.size(); i++) {
    // Every few labels, and always the last (">32K", the large objects), clear of the one before it.
    if (every > 1 && i != last && (i % every || last - i < every)) continue;
    const double x = f.left + slot * (double(i) + 0.5);
    const double y = f.top + f.plotH() + 10;
    out += fmt::format("<text transform=\"translate({},{}) rotate(-45)\" text-anchor=\"end\">{}</text>", fmtNum(x),
                       fmtNum(y), esc(categories[i]));
  }
  out += xLabel(f, categoryLabel);
  for (size_t k = 0; k < series.size(); k++) {
    const BarSeries& s = series[k];
    size_t drawn = 0;
    std::string bars;
    for (size_t i = 0; i < s.values.size() && i < categories.size(); i++) {
      if (!s.values[i]) continue;
      const double v = std::max(0.0, *s.values[i]);
      double h = f.plotH() * map.frac(v);
      if (v > 0 && h < 2) h = 2;  // a log axis starts at 1: a single allocation still shows
      const double x = f.left + slot * double(i) + (slot - groupW) / 2 + barW * double(k);
      const std::string opacity =
          i < s.weights.size() && s.weights[i] < 1 ? fmt::format(" fill-opacity=\"{:.2f}\"", s.weights[i]) : "";
      const std::string note = i < s.notes.size() && !s.notes[i].empty() ? " (" + s.notes[i] + ")" : "";
      bars += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"{}><title>{}{}: {}{}</title></rect>",
                          fmtNum(x), fmtNum(f.top + f.plotH() - h), fmtNum(std::max(barW - 0.6, 0.6)), fmtNum(h),
                          opacity, esc(categories[i]), series.size() > 1 ? ", " + esc(s.label) : std::string(),
                          esc(formatValue(v, unit)), esc(note));
      drawn++;
    }
    out += fmt::format("<g class=\"bars\" data-series=\"{}\" data-points=\"{}\" fill=\"{}\">", esc(s.key), drawn, s.color);
    out += bars + "</g>";
  }
  return out + "</svg>";
}

// ---- shared pieces ----

std::string card(const std::string& value, const std::string& label) {
  return fmt::format("<div class=\"card\"><b>{}</b><span>{}</span></div>", esc(value), esc(label));
}

// Bytes of one span of class cls, from the report's own size-class table (go backend).
std::optional<core::SizeClassTable> sizeClassTable(const Report& r) {
  if (!r.heap) return std::nullopt;
  try {
    core::Config cfg;
    for (auto& [k, v] : r.config.settings)
      if (k == "preset") cfg.set(k, v);
    for (auto& [k, v] : r.config.settings) {
      // size_classes names the preset's table ("go1.19") unless it lists sizes.
      if (k == "size_classes" && v.find_first_not_of("0123456789, ") != std::string::npos) continue;
      if (k != "preset") cfg.set(k, v);
    }
    return cfg.sizeClassTable();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string classLabel(uint64_t size) { return size >= 1024 && size % 1024 == 0 ? fmt::format("{}K", size / 1024) : std::to_string(size); }

std::string timelineSection(const Report& r, TimelineAxis axis) {
  // Trace events as x when every point has them (reports from before they were recorded have times only).
  const bool events = axis == TimelineAxis::Events && !r.timeline.empty() &&
                      std::all_of(r.timeline.begin(), r.timeline.end(), [](auto& t) { return t.events.has_value(); });
  auto xOf = [&](const TimelineRow& t) { return events ? double(*t.events) : t.tMs; };
  std::vector<LineSeries> series;
  LineSeries rss{"rss", "RSS", color(0), {}}, inuse{"heap_inuse", "HeapInuse", color(3), {}},
      released{"heap_released", "HeapReleased", color(2), {}};
  std::vector<double> gc;
  size_t before = 0;
  for (auto& t : r.timeline) {
    rss.pts.emplace_back(xOf(t), double(t.rssBytes));
    if (t.heap) {
      inuse.pts.emplace_back(xOf(t), double(t.heap->heapInuse));
      released.pts.emplace_back(xOf(t), double(t.heap->heapReleased));
    }
    if (t.event == "gc") gc.push_back(xOf(t));
    before += t.event == "before_gc";
  }
  series.push_back(rss);
  if (!inuse.pts.empty()) series.push_back(inuse), series.push_back(released);
  std::vector<std::pair<std::string, std::string>> items;
  for (auto& s : series) items.emplace_back(s.label, s.color);
  std::string out = "<h2>Memory over the replay</h2>\n";
  out += fmt::format(
      "<p class=\"note\">x: {}. RSS sampled {}{}. Dashed lines: {} ({}).</p>\n",
      events ? "trace events done (so that runs of one trace line up; --x-axis time for wall time)"
             : "wall time since the replay started",
      r.config.rssIntervalMs ? fmt::format("every {} ms", r.config.rssIntervalMs) : std::string("at GC barriers only"),
      !r.heap ? std::string()
              : fmt::format("; heap figures ({}) where the world was stopped: the start, {}each GC cycle and the end, "
                            "each a dot (when there are at most 400); lines only join what was measured",
                            r.heap->baseline ? "the real Go runtime's MemStats, its own baseline included" : "Go model",
                            before ? "just before and just after " : "after "),
      r.heap ? "GC cycles" : "the trace's gc events (a barrier; this allocator has no GC)", gc.size());
  out += legend(items, !gc.empty());
  out += "<figure>" + lineChart("timeline", "memory", Unit::Bytes, series, gc, events ? XKind::Events : XKind::Ms, 400) +
         "</figure>\n";
  return out;
}

// The label of a size-class row: its object size, or ">32K" for the large objects' row.
std::string rowLabel(const ClassRow& c) { return c.cls == 0 ? ">32K" : classLabel(c.size); }

std::string classSection(const Report& r) {
  // The small classes used, then the large objects (class 0) as one last bar.
  std::vector<const ClassRow*> rows;
  const ClassRow* large = nullptr;
  for (auto& c : r.sizeClasses) {
    if (c.cls == 0) large = &c;
    else rows.push_back(&c);
  }
  if (large && large->allocs) rows.push_back(large);
  std::vector<std::string> cats, notes;
  std::vector<double> weights;
  uint64_t maxAllocs = 0;
  for (auto* c : rows) maxAllocs = std::max(maxAllocs, c->allocs);
  for (auto* c : rows) {
    cats.push_back(rowLabel(*c));
    weights.push_back(allocWeight(c->allocs, maxAllocs));
    notes.push_back(formatValue(double(c->allocs), Unit::Count) + (c->allocs == 1 ? " allocation" : " allocations"));
  }
  const bool go = std::any_of(rows.begin(), rows.end(), [](auto* c) { return c->go.has_value(); });
  std::string out = "<h2>Size classes</h2>\n";
  out += go || r.heap ? "<p class=\"note\">One bar per size class used, labelled with its object size in bytes"
            : "<p class=\"note\">The allocations by Go 1.19's size classes (this allocator has classes of its own), "
              "one bar per class used, labelled with its object size in bytes";
  if (large && large->allocs)
    out += fmt::format("; the last, &gt;32K, is every large object (over 32 KiB): {} allocations, {} requested",
                       esc(formatValue(double(large->allocs), Unit::Count)),
                       esc(formatValue(double(large->bytesRequested), Unit::Bytes)));
  out += ". The allocations axis is logarithmic when the counts span more than two decades.";
  if (go)
    out += " In the other charts a bar is paler the fewer allocations its class holds (opacity by the logarithm of "
           "its allocations), so a class with one allocation does not look like one with thousands.";
  out += "</p>\n";
  auto chart = [&](const std::string& key, const std::string& title, const std::string& yLabel, Unit u,
                   size_t colorIndex, bool weighted, auto value) {
    BarSeries s{key, title, color(colorIndex), {}, weighted ? weights : std::vector<double>{}, notes};
    for (auto* c : rows) s.values.push_back(value(*c));
    out += "<h3>" + esc(title) + "</h3>\n<figure>" + barChart(key, yLabel, u, cats, {s}, "size class (object bytes)") +
           "</figure>\n";
  };
  chart("allocs", "Allocations", "allocations", Unit::Count, 0, false,
        [](const ClassRow& c) -> std::optional<double> { return double(c.allocs); });
  if (!go) {
    out += "<p class=\"note\">mcache hit rate, bytes in use and internal fragmentation are figures of the Go model "
           "(backend go)";
    out += r.heap && r.heap->baseline ? "; the real runtime (go-runtime) does not count them.</p>\n" : ".</p>\n";
    return out;
  }
  chart("hit_rate", "mcache hit rate (large objects bypass the mcache)", "hit rate", Unit::Ratio, 2, true,
        [](const ClassRow& c) -> std::optional<double> {
          if (c.cls == 0 || !c.go) return std::nullopt;
          return c.hitRate();
        });
  const auto table = sizeClassTable(r);
  if (table) {
    chart("bytes_in_use", "Bytes in use at the end (spans in use x span size)", "in-use spans", Unit::Bytes, 3, true,
          [&](const ClassRow& c) -> std::optional<double> {
            if (c.cls == 0 || !c.go || c.cls >= table->numClasses() || (*table)[c.cls].size != c.size)
              return std::nullopt;
            return double(c.go->spansInUse) * double((*table)[c.cls].npages) * double(core::kPageSize);
          });
  }
  chart("internal_fragmentation", "Internal fragmentation (1 - requested / handed out)", "fragmentation", Unit::Ratio,
        1, true, [](const ClassRow& c) -> std::optional<double> {
          if (!c.go || !c.go->bytesAllocated) return std::nullopt;
          return c.internalFragmentation();
        });
  return out;
}

// ---- tables: one unit per column ----

// A column's unit, chosen from its largest value, so that a column never mixes B, KiB and MiB (or ns and us).
struct ColumnUnit {
  double div = 1;
  std::string unit;  // for the column's header; "" for counts
  int decimals = 0;
  Unit kind = Unit::Count;
};

ColumnUnit columnUnit(Unit u, const std::vector<double>& values) {
  double max = 0;
  for (double v : values)
    if (std::isfinite(v)) max = std::max(max, std::fabs(v));
  switch (u) {
    case Unit::Bytes:
      if (max >= double(1ull << 30)) return {double(1ull << 30), "GiB", 1, u};
      if (max >= double(1ull << 20)) return {double(1ull << 20), "MiB", 1, u};
      if (max >= 1024) return {1024, "KiB", 1, u};
      return {1, "B", 0, u};
    case Unit::Nanoseconds:
    case Unit::Seconds: {
      const double m = u == Unit::Seconds ? 1e9 : 1;  // to nanoseconds
      if (max * m >= 1e9) return {1e9 / m, "s", 3, u};
      if (max * m >= 1e6) return {1e6 / m, "ms", 2, u};
      if (max * m >= 1e3) return {1e3 / m, "us", 2, u};
      return {1 / m, "ns", 0, u};
    }
    case Unit::Ratio: return {0.01, "%", 1, u};
    case Unit::Count: return {1, "", 0, u};
  }
  return {};
}

// A value in its column's unit, without the unit (the header names it); grouped digits for whole numbers; 0 as "0".
std::string inUnit(double v, const ColumnUnit& c) {
  if (std::isnan(v)) return "-";
  if (v == 0) return "0";
  const double x = v / c.div;
  if (c.decimals == 0 && x == std::floor(x)) return formatValue(x, Unit::Count);
  const std::string s = fmt::format("{:.{}f}", x, c.decimals);
  if (v != 0 && std::stod(s) == 0) return fmt::format("&lt;{:.{}f}", std::pow(10, -c.decimals), c.decimals);
  return s;
}

std::string withUnit(const std::string& header, const ColumnUnit& c) {
  return c.unit.empty() ? header : fmt::format("{} ({})", header, c.unit);
}

std::string lockSection(const Report& r) {
  if (!r.locks) return "";
  std::vector<double> wait, maxWait, hold;
  for (const LockRow& l : *r.locks) {
    wait.push_back(double(l.waitNs)), maxWait.push_back(double(l.maxWaitNs)), hold.push_back(double(l.holdNs));
  }
  const ColumnUnit w = columnUnit(Unit::Nanoseconds, wait), mw = columnUnit(Unit::Nanoseconds, maxWait),
                   h = columnUnit(Unit::Nanoseconds, hold);
  std::string out = fmt::format("<h2>Locks</h2>\n<div class=\"scroll\"><table class=\"locks\">\n<tr><th>lock</th>"
                                "<th>acquisitions</th><th>contended</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
                                withUnit("wait", w), withUnit("max wait", mw), withUnit("hold", h));
  auto row = [&](const LockRow& l, const std::string& name) {
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", name,
                       esc(formatValue(double(l.acquisitions), Unit::Count)),
                       esc(formatValue(double(l.contended), Unit::Count)), inUnit(double(l.waitNs), w),
                       inUnit(double(l.maxWaitNs), mw), inUnit(double(l.holdNs), h));
  };
  for (const LockRow& l : *r.locks) {
    row(l, "<code>" + esc(l.name) + "</code>" +
               (l.members.empty() ? "" : fmt::format(" <span class=\"note\">({} used)</span>", l.members.size())));
    for (const LockRow& m : l.members) row(m, "&nbsp;&nbsp;&nbsp;<code>" + esc(m.name) + "</code>");
  }
  return out + "</table></div>\n";
}

std::string settingsLine(const Report& r) {
  std::string s;
  for (auto& [k, v] : r.config.settings) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

std::string subtitle(const Report& r) {
  return fmt::format("trace <code>{}</code> ({} events, digest {}) &middot; {} backend &middot; {} Ps &middot; {} &middot; touch={}",
                     esc(r.trace.path), esc(formatValue(double(r.trace.events), Unit::Count)), esc(r.trace.digest),
                     esc(r.config.backend), r.config.procs, r.config.deterministic ? "deterministic" : "concurrent",
                     esc(r.config.touch));
}

std::string footer(const ToolInfo& t) {
  return fmt::format("<footer>{} {} &middot; model of {}'s allocator &middot; figures documented in docs/report.md</footer>\n",
                     esc(t.name), esc(t.version), esc(t.goModel));
}

}  // namespace

std::string renderHtml(const Report& r, const HtmlOptions& o) {
  std::string b = "<header><h1>gomalloc replay</h1><p class=\"sub\">" + subtitle(r) + "</p>";
  if (r.interrupted) b += "<p class=\"worse\">Interrupted: the figures cover the events replayed before Ctrl-C.</p>";
  for (const std::string& w : r.trace.warnings) b += "<p class=\"worse\">" + esc(w) + "</p>";
  b += "</header>\n<section class=\"cards\">";
  auto metric = [&](const char* name) -> std::optional<std::string> {
    auto m = findMetric(name);
    if (!m) return std::nullopt;
    auto v = m->read(r);
    if (!v) return std::nullopt;
    return formatValue(*v, m->unit);
  };
  b += card(formatValue(double(r.summary.events), Unit::Count), "events replayed");
  for (auto [name, label] : std::initializer_list<std::pair<const char*, const char*>>{
           {"ns_per_event", "time per event"},
           {"wall_time", "wall time"},
           {"peak_rss", "peak RSS"},
           {"peak_heap_inuse", "peak HeapInuse"},
           {"heap_released", "HeapReleased at the end"},
           {"gc_cycles", "GC cycles"},
           {"hit_rate", "mcache hit rate"},
           {"internal_fragmentation", "internal fragmentation"}})
    if (auto v = metric(name)) b += card(*v, label);
  b += "</section>\n<section>" + timelineSection(r, o.axis) + "</section>\n<section>" + classSection(r) + "</section>\n";
  b += "<section>" + lockSection(r) + "</section>\n";
  b += "<section><h2>Settings</h2><p><code>" + esc(settingsLine(r)) + "</code></p>";
  if (r.verify)
    b += r.verify->passed ? "<p>Heap verifier: passed.</p>"
                          : fmt::format("<p class=\"worse\">Heap verifier: {} problem(s).</p>", r.verify->errors.size());
  b += "</section>\n" + footer(r.tool);
  return page(fmt::format("gomalloc replay: {} ({})", r.trace.path, r.config.backend), b);
}

namespace {

// Allocations of the class of that object size in a variant's first run (0 when absent).
uint64_t classAllocs(const VariantRuns& v, uint64_t size) {
  if (v.runs.empty()) return 0;
  for (auto& row : v.runs.front().sizeClasses)
    if (row.cls != 0 && row.size == size) return row.allocs;
  return 0;
}

// Everything of a compare page between its header and its footer.
std::string compareSections(const CompareResult& c) {
  std::string b = "<section><h2>Variants</h2><div class=\"scroll\"><table><tr><th>variant</th><th class=\"l\">configuration</th></tr>\n";
  for (size_t i = 0; i < c.variants.size(); i++) {
    const VariantSpec& v = c.variants[i].spec;
    std::string conf = "allocator " + v.allocator;
    if (!v.configFile.empty()) conf += ", config " + v.configFile;
    for (auto& [k, val] : v.sets) conf += ", " + k + "=" + val;
    b += fmt::format("<tr><td><i style=\"display:inline-block;width:10px;height:10px;border-radius:2px;background:{}\"></i> "
                     "<b>{}</b>{}</td><td class=\"l\"><code>{}</code></td></tr>\n",
                     color(i), esc(v.name), i == 0 ? " (baseline)" : "", esc(conf));
  }
  b += "</table></div></section>\n";

  // The metric table with significance marks.
  const std::vector<Row> rows = summarize(c);
  b += "<section><h2>Metrics</h2>\n<p class=\"note\">Medians over the runs, &plusmn; half the min-max spread. ";
  b += fmt::format("Deltas against {}: <span class=\"worse\">worse</span> or <span class=\"better\">better</span> "
                   "when significant (two-sided Mann-Whitney U test, alpha {}; exact figures of --deterministic replays "
                   "need no test) and past the gate's default limit for the metric (5% for timings and 1% for the others "
                   "without one); <span class=\"nosig\">~</span> when not significant, plain when negligible.</p>\n",
                   esc(c.variants.empty() ? "" : c.variants[0].spec.name), c.options.alpha);
  // One unit per row (a metric): the variants' values of a metric are read in the same unit, named in the
  // metric's cell.
  auto table = [&](bool perClass) {
    std::string t = "<div class=\"scroll\"><table class=\"metrics\"><tr><th>metric</th>";
    for (size_t i = 0; i < c.variants.size(); i++) {
      t += "<th>" + esc(c.variants[i].spec.name) + "</th>";
      if (i > 0) t += "<th>vs " + esc(c.variants[0].spec.name) + "</th>";
    }
    t += "</tr>\n";
    for (const Row& row : rows) {
      if ((row.metric.name.rfind("hit_rate.", 0) == 0) != perClass) continue;
      std::vector<double> values;  // the medians, and the ranges shown where a median is 0
      for (const Cell& cell : row.cells)
        if (cell.present) values.insert(values.end(), {cell.spread.median, cell.spread.max});
      const ColumnUnit unit = columnUnit(row.metric.unit, values);
      // The spread in percent of the median, or the range in the row's unit where the median is 0.
      auto spread = [&](const Cell& cell) {
        const std::string text = spreadText(row, cell);
        if (text.empty() || cell.spread.median != 0) return esc(text);
        return fmt::format(" ({}..{})", inUnit(cell.spread.min, unit), inUnit(cell.spread.max, unit));
      };
      t += fmt::format("<tr><td><code>{}</code> <span class=\"note\">{}</span></td>", esc(row.metric.name),
                       esc(withUnit(row.metric.label, unit)));
      for (size_t i = 0; i < row.cells.size(); i++) {
        const Cell& cell = row.cells[i];
        t += "<td>" + (cell.present ? inUnit(cell.spread.median, unit) : std::string("-")) + spread(cell) + "</td>";
        if (i == 0) continue;
        const std::string d = deltaText(row, i);
        std::string cls = "nosig";
        if (cell.verdict != 0) cls = cell.verdict > 0 ? "worse" : "better";
        t += fmt::format("<td class=\"{}\" data-significant=\"{}\">{}</td>", cls, cell.significant ? "true" : "false",
                         esc(d));
      }
      t += "</tr>\n";
    }
    return t + "</table></div>\n";
  };
  b += table(false);
  // Per-class hit rates: Go variants only.
  if (std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.metric.name.rfind("hit_rate.", 0) == 0; }))
    b += "<details><summary>mcache hit rate by size class</summary>" + table(true) + "</details>";
  b += "</section>\n";

  // Overlaid series: the first run of each variant.
  std::vector<LineSeries> rss, inuse;
  std::vector<std::pair<std::string, std::string>> items, goItems;
  for (size_t i = 0; i < c.variants.size(); i++) {
    if (c.variants[i].runs.empty()) continue;
    const Report& r = c.variants[i].runs.front();
    LineSeries a{"rss:" + c.variants[i].spec.name, c.variants[i].spec.name, color(i), {}};
    LineSeries h{"heap_inuse:" + c.variants[i].spec.name, c.variants[i].spec.name, color(i), {}};
    for (auto& t : r.timeline) {
      a.pts.emplace_back(t.tMs, double(t.rssBytes));
      if (t.heap) h.pts.emplace_back(t.tMs, double(t.heap->heapInuse));
    }
    items.emplace_back(c.variants[i].spec.name, color(i));
    rss.push_back(std::move(a));
    if (!h.pts.empty()) {
      goItems.emplace_back(c.variants[i].spec.name, color(i));
      inuse.push_back(std::move(h));
    }
  }
  b += "<section><h2>Memory over time</h2><p class=\"note\">The first run of each variant, overlaid.</p>\n";
  b += "<h3>RSS</h3>" + legend(items, false) + "<figure>" + lineChart("rss", "RSS", Unit::Bytes, rss, {}) + "</figure>\n";
  if (!inuse.empty())
    b += "<h3>HeapInuse (Go model, at stopped-world points)</h3>" + legend(goItems, false) + "<figure>" +
         lineChart("heap_inuse", "HeapInuse", Unit::Bytes, inuse, {}) + "</figure>\n";
  b += "</section>\n";

  // Per-class hit rates of the Go variants, grouped.
  std::vector<uint64_t> sizes;
  for (const Row& row : rows)
    if (row.metric.name.rfind("hit_rate.", 0) == 0 && shownInTables(c, row))
      sizes.push_back(std::stoull(row.metric.name.substr(9)));
  uint64_t maxAllocs = 0;
  for (auto& v : c.variants)
    for (uint64_t size : sizes) maxAllocs = std::max(maxAllocs, classAllocs(v, size));
  std::vector<BarSeries> bars;
  for (size_t i = 0; i < c.variants.size(); i++) {
    BarSeries s{"hit_rate:" + c.variants[i].spec.name, c.variants[i].spec.name, color(i), {}, {}, {}};
    bool any = false;
    for (uint64_t size : sizes) {
      const uint64_t n = classAllocs(c.variants[i], size);
      s.weights.push_back(allocWeight(n, maxAllocs));
      s.notes.push_back(formatValue(double(n), Unit::Count) + " allocations in the first run");
      std::vector<double> xs;
      const Metric m = classHitRateMetric(size);
      for (auto& r : c.variants[i].runs)
        if (auto v = m.read(r)) xs.push_back(*v);
      if (xs.empty()) s.values.push_back(std::nullopt);
      else s.values.push_back(stats::median(xs)), any = true;
    }
    if (any) bars.push_back(std::move(s));
  }
  if (!bars.empty() && !sizes.empty()) {
    std::vector<std::string> cats;
    for (uint64_t s : sizes) cats.push_back(classLabel(s));
    std::vector<std::pair<std::string, std::string>> barItems;
    for (auto& s : bars) barItems.emplace_back(s.label, s.color);
    b += "<section><h2>mcache hit rate by size class</h2><p class=\"note\">Medians over the runs; classes with at "
         "least 1% of the allocations. A bar is paler the fewer allocations its class holds in that variant "
         "(opacity by the logarithm of its allocations).</p>" +
         legend(barItems, false) + "<figure>" +
         barChart("class_hit_rate", "hit rate", Unit::Ratio, cats, bars, "size class (object bytes)") +
         "</figure></section>\n";
  }
  return b;
}

// The trace and what the variants share; the allocators (backends) only when every variant has the same.
std::string compareHeader(const CompareResult& c) {
  const Report* first = c.variants.empty() || c.variants[0].runs.empty() ? nullptr : &c.variants[0].runs[0];
  std::string b = "<p class=\"sub\">";
  if (first) {
    std::vector<std::string> backends;
    std::set<int> procs;
    std::set<bool> det;
    for (auto& v : c.variants)
      for (auto& r : v.runs) {
        if (std::find(backends.begin(), backends.end(), r.config.backend) == backends.end())
          backends.push_back(r.config.backend);
        procs.insert(r.config.procs);
        det.insert(r.config.deterministic);
      }
    std::string list;
    for (auto& be : backends) list += (list.empty() ? "" : ", ") + be;
    b += fmt::format("trace <code>{}</code> ({} events, digest {}) &middot; {} {}", esc(first->trace.path),
                     esc(formatValue(double(first->trace.events), Unit::Count)), esc(first->trace.digest),
                     backends.size() == 1 ? "backend" : "backends", esc(list));
    if (procs.size() == 1) b += fmt::format(" &middot; {} Ps", first->config.procs);
    if (det.size() == 1) b += first->config.deterministic ? " &middot; deterministic" : " &middot; concurrent";
  }
  return b + fmt::format("<br>{} run{} per variant{}; the first variant is the baseline</p>", c.options.repeat,
                         c.options.repeat == 1 ? "" : "s", c.options.repeat > 1 ? ", interleaved" : "");
}

}  // namespace

std::string renderCompareHtml(const CompareResult& c) {
  const std::string b = "<header><h1>gomalloc compare</h1>" + compareHeader(c) + "</header>\n" + compareSections(c);
  return page(fmt::format("gomalloc compare: {}", c.options.trace), b + footer(c.tool));
}

std::string renderSuiteHtml(const SuiteResult& s) {
  const auto& vs = s.traces.at(0).variants;
  std::string b = fmt::format("<header><h1>gomalloc compare: {} traces</h1><p class=\"sub\">{} run{} per variant "
                              "and trace; {} is the baseline</p></header>\n",
                              s.traces.size(), s.traces[0].options.repeat, s.traces[0].options.repeat == 1 ? "" : "s",
                              esc(vs.at(0).spec.name));
  if (vs.size() > 1) {
    b += "<section><h2>Summary</h2><p class=\"note\">Geometric mean over the traces of each variant's median "
         "relative to the baseline's; a trace enters a metric's mean when both medians are above 0.</p>\n"
         "<div class=\"scroll\"><table class=\"metrics\"><tr><th>metric</th>";
    for (size_t i = 1; i < vs.size(); i++) b += "<th>" + esc(vs[i].spec.name + " vs " + vs[0].spec.name) + "</th>";
    b += "</tr>\n";
    for (const SummaryRow& row : summarizeSuite(s)) {
      b += fmt::format("<tr><td><code>{}</code> <span class=\"note\">{}</span></td>", esc(row.metric.name),
                       esc(row.metric.label));
      for (auto& cell : row.cells) b += "<td>" + esc(summaryText(cell, s.traces.size())) + "</td>";
      b += "</tr>\n";
    }
    b += "</table></div></section>\n";
  }
  for (const CompareResult& c : s.traces)
    b += "<section><h2>Trace " + esc(c.options.trace) + "</h2>" + compareHeader(c) + "</section>\n" + compareSections(c);
  return page(fmt::format("gomalloc compare: {} traces", s.traces.size()), b + footer(s.tool));
}

std::string renderInfoHtml(const traces::TraceStats& s, const std::optional<traces::ReadTiming>& time) {
  auto pct = [](uint64_t part, uint64_t whole) {
    return whole ? fmt::format("{:.1f}", 100.0 * double(part) / double(whole)) : std::string("-");
  };
  auto count = [](uint64_t n) { return formatValue(double(n), Unit::Count); };
  auto bytes = [](uint64_t n) { return formatValue(double(n), Unit::Bytes); };
  std::string b = fmt::format("<header><h1>gomalloc info</h1><p class=\"sub\">trace <code>{}</code> ({}, {}) "
                              "&middot; digest {}</p>",
                              esc(s.path), esc(formatName(s.format)), esc(bytes(s.rawBytes)),
                              esc(s.digest));
  for (const std::string& w : s.warnings) b += "<p class=\"worse\">" + esc(w) + "</p>";
  b += "</header>\n<section class=\"cards\">";
  b += card(count(s.events), "events");
  b += card(count(s.allocs), "allocations");
  b += card(count(s.frees), "frees");
  b += card(count(s.gcs), "gc events");
  b += card(count(s.threads), s.threads == 1 ? "thread" : "threads");
  b += card(bytes(s.bytesAllocated), "bytes requested");
  b += card(pct(s.scanAllocs, s.allocs) + "%", "allocations with pointers");
  b += card(bytes(s.peakLiveBytes), "peak live (requested)");
  b += card(count(s.peakLiveObjects), "peak live objects");
  b += card(count(s.liveAtEnd), "objects live at exit");
  b += card(count(s.crossThreadFrees), "cross-thread frees");
  if (time && time->seconds > 0)
    b += card(fmt::format("{:.2f} M/s", double(time->events) / time->seconds / 1e6), "events read per second");
  b += "</section>\n";

  // Sizes: allocations per Go 1.19 size class, the large objects last.
  const std::vector<InfoClassRow> rows = infoClassRows(s);
  std::vector<std::string> cats;
  BarSeries objects{"objects", "allocations", color(0), {}, {}, {}}, requested{"requested", "bytes requested", color(3), {}, {}, {}};
  std::vector<double> requestedCol;
  for (const InfoClassRow& r : rows) {
    cats.push_back(r.label == "large" ? ">32K" : r.label == "zero" ? "0" : classLabel(r.bytes));
    objects.values.push_back(double(r.objects));
    requested.values.push_back(double(r.requested));
    requestedCol.push_back(double(r.requested));
  }
  b += "<section><h2>Sizes</h2>\n<p class=\"note\">Allocations by Go 1.19 size class, labelled with the class's "
       "object size in bytes (0: zero-byte objects; &gt;32K: every large object, over 32 KiB). The allocations axis is "
       "logarithmic when the counts span more than two decades.</p>\n";
  if (rows.empty()) {
    b += "<p>No allocations.</p>\n";
  } else {
    b += "<h3>Allocations</h3>\n<figure>" +
         barChart("objects", "allocations", Unit::Count, cats, {objects}, "size class (object bytes)") + "</figure>\n";
    b += "<h3>Bytes requested</h3>\n<figure>" +
         barChart("requested", "requested", Unit::Bytes, cats, {requested}, "size class (object bytes)") +
         "</figure>\n";
    const ColumnUnit ru = columnUnit(Unit::Bytes, requestedCol);
    b += fmt::format("<details><summary>table</summary><div class=\"scroll\"><table><tr><th>size class</th>"
                     "<th>object size (B)</th><th>allocations</th><th>share (%)</th><th>{}</th></tr>\n",
                     withUnit("requested", ru));
    for (const InfoClassRow& r : rows)
      b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(r.label),
                       r.bytes ? count(r.bytes) : "-", count(r.objects), pct(r.objects, s.allocs),
                       inUnit(double(r.requested), ru));
    b += "</table></div></details>\n";
  }
  b += "</section>\n";

  // Lifetimes: events between an object's allocation and its free, in power-of-two buckets.
  uint64_t died = 0;
  for (auto n : s.lifetimeLog2) died += n;
  b += "<section><h2>Lifetimes</h2>\n<p class=\"note\">Objects freed, by their lifetime: the events between their "
       "allocation and their free, in power-of-two buckets";
  b += fmt::format("; {} objects are still live at exit and not drawn. The axis is logarithmic when the counts span "
                   "more than two decades.</p>\n",
                   esc(count(s.liveAtEnd)));
  if (died == 0) {
    b += "<p>No object is freed.</p>\n";
  } else {
    size_t first = 0, last = 0;
    for (size_t k = 0; k < s.lifetimeLog2.size(); k++)
      if (s.lifetimeLog2[k]) last = k;
    while (!s.lifetimeLog2[first]) first++;
    std::vector<std::string> lcats;
    BarSeries life{"lifetimes", "objects", color(4), {}, {}, {}};
    for (size_t k = first; k <= last; k++) {  // empty buckets between stay as gaps
      lcats.push_back(lifetimeLabel(k));
      life.values.push_back(s.lifetimeLog2[k] ? std::optional<double>(double(s.lifetimeLog2[k])) : std::nullopt);
    }
    b += "<figure>" +
         barChart("lifetimes", "objects", Unit::Count, lcats, {life}, "lifetime (events from allocation to free)",
                  "by lifetime") +
         "</figure>\n";
    b += "<details><summary>table</summary><div class=\"scroll\"><table><tr><th>lifetime (events)</th>"
         "<th>objects</th><th>share (%)</th></tr>\n";
    for (size_t k = first; k <= last; k++)
      if (s.lifetimeLog2[k])
        b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", lifetimeLabel(k), count(s.lifetimeLog2[k]),
                         pct(s.lifetimeLog2[k], died));
    b += "</table></div></details>\n";
  }
  b += "</section>\n<footer>gomalloc info &middot; figures documented in README.md (gomalloc info)</footer>\n";
  return page(fmt::format("gomalloc info: {}", s.path), b);
}

}  // namespace gomalloc::reports
