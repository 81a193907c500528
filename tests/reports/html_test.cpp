// HTML pages: self-contained (no script, nothing fetched), every series drawn with the points it claims,
// axes labelled with units, text escaped. The browser test (tests/cli/browser_test.cpp) loads real pages.
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "reports/compare.h"
#include "reports/fidelity.h"
#include "reports/html.h"
#include "reports/info.h"

namespace gomalloc::reports {

Report fakeReport(bool deterministic);  // compare_test.cpp
Report fakeSystemReport();              // compare_test.cpp

namespace {

// data-series name -> data-points, for every series element.
std::map<std::string, int> seriesPoints(const std::string& html) {
  std::map<std::string, int> out;
  const std::regex re("data-series=\"([^\"]+)\" data-points=\"([0-9]+)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = std::stoi((*it)[2]);
  return out;
}

// The number of "x,y" pairs in the points attribute of the polyline of a series.
int polylinePairs(const std::string& html, const std::string& series) {
  const std::regex re("<polyline[^>]*data-series=\"" + series + "\"[^>]*points=\"([^\"]*)\"");
  std::smatch m;
  if (!std::regex_search(html, m, re)) return -1;
  const std::string pts = m[1];
  return pts.empty() ? 0 : int(std::count(pts.begin(), pts.end(), ',')) ;
}

// The number of <rect> in the bar group of a series.
int groupRects(const std::string& html, const std::string& series) {
  const size_t at = html.find("class=\"bars\" data-series=\"" + series + "\"");
  if (at == std::string::npos) return -1;
  const size_t end = html.find("</g>", at);
  int n = 0;
  for (size_t p = at; (p = html.find("<rect ", p)) != std::string::npos && p < end; p++) n++;
  return n;
}

void expectSelfContained(const std::string& html) {
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find(" href="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  // The only URL is the SVG namespace name, which is never fetched.
  std::string rest = std::regex_replace(html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
  EXPECT_EQ(rest.find("://"), std::string::npos);
}

TEST(HtmlReplay, TimelineAndClassChartsDrawEveryPoint) {
  const Report r = fakeReport(false);
  const std::string html = renderHtml(r);
  expectSelfContained(html);
  auto pts = seriesPoints(html);
  EXPECT_EQ(pts["rss"], 4);            // every timeline point
  EXPECT_EQ(pts["heap_inuse"], 3);     // the stopped-world points only
  EXPECT_EQ(pts["heap_released"], 3);
  EXPECT_EQ(pts["gc"], 1);             // one GC mark
  EXPECT_EQ(polylinePairs(html, "rss"), 4);
  EXPECT_EQ(polylinePairs(html, "heap_inuse"), 3);
  // The large objects' row is drawn as the last class wherever it has the figure (allocations, and the
  // fragmentation of pages handed out); the mcache and the class's spans are small-class figures.
  for (auto [bars, n] : std::map<std::string, int>{
           {"allocs", 3}, {"hit_rate", 2}, {"bytes_in_use", 2}, {"internal_fragmentation", 3}}) {
    EXPECT_EQ(pts[bars], n) << bars;
    EXPECT_EQ(groupRects(html, bars), n) << bars;
  }
  EXPECT_NE(html.find("memory (MiB)"), std::string::npos);
  EXPECT_NE(html.find("time since the replay started (ms)"), std::string::npos);
  EXPECT_NE(html.find("hit rate (%)"), std::string::npos);
  EXPECT_NE(html.find("size class (object bytes)"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"locks\">"), std::string::npos);
  EXPECT_NE(html.find("<code>mheap</code>"), std::string::npos);
  EXPECT_NE(html.find("&gt;32K, is every large object (over 32 KiB): 10 allocations"), std::string::npos);
  EXPECT_NE(html.find("<title>&gt;32K: 10 (10 allocations)</title>"), std::string::npos);
}

// With timeline[].events (and a before_gc point): x in trace events by default, wall time as an option; the heap
// just before the GC (its peak) is drawn, so the chart reaches the peak the cards show.
TEST(HtmlReplay, TimelineOverEventsDrawsTheHeapBeforeAndAfterEachGc) {
  Report r = fakeReport(false);
  const replay::HeapFigures peak{200, uint64_t{3} << 20, 0, 0, uint64_t{3} << 20, 20};
  r.heap->peak = peak;
  r.timeline.insert(r.timeline.begin() + 2, TimelineRow{1.0, r.summary.peakRssBytes, peak, "before_gc"});
  const uint64_t events[] = {0, 400, 900, 900, 1500};
  for (size_t i = 0; i < r.timeline.size(); i++) r.timeline[i].events = events[i];
  for (TimelineAxis axis : {TimelineAxis::Events, TimelineAxis::Time}) {
    const std::string html = renderHtml(r, {axis});
    expectSelfContained(html);
    auto pts = seriesPoints(html);
    EXPECT_EQ(pts["rss"], 5);
    EXPECT_EQ(pts["heap_inuse"], 4);  // start, before and after the GC, end
    EXPECT_EQ(polylinePairs(html, "heap_inuse"), 4);
    EXPECT_EQ(pts["gc"], 1);
    EXPECT_NE(html.find("HeapInuse: 3.0 MiB"), std::string::npos);  // the peak is a point of the chart
    if (axis == TimelineAxis::Events) {
      EXPECT_NE(html.find("trace events done"), std::string::npos);
      EXPECT_NE(html.find("<title>GC cycle after 900 events</title>"), std::string::npos);
      EXPECT_EQ(html.find("time since the replay started"), std::string::npos);
    } else {
      EXPECT_NE(html.find("time since the replay started (ms)"), std::string::npos);
      EXPECT_EQ(html.find("trace events done<"), std::string::npos);
    }
  }
  // A report from before timeline[].events: drawn over time whatever the option says.
  r.timeline[1].events.reset();
  EXPECT_NE(renderHtml(r).find("time since the replay started (ms)"), std::string::npos);
}

TEST(HtmlReplay, BytesInUseComeFromTheReportsSizeClassTable) {
  // Class 2 (16 B) spans are one page in Go 1.19's table: 2 spans in use = 16 KiB.
  const std::string html = renderHtml(fakeReport(false));
  EXPECT_NE(html.find("<title>16: 16.0 KiB (600 allocations)</title>"), std::string::npos);
}

TEST(HtmlReplay, OtherBackendsShowRssAndAllocationsOnly) {
  const std::string html = renderHtml(fakeSystemReport());
  expectSelfContained(html);
  auto pts = seriesPoints(html);
  EXPECT_EQ(pts["rss"], 4);
  EXPECT_EQ(pts.count("heap_inuse"), 0u);
  EXPECT_EQ(pts["allocs"], 3);  // the two classes and the large objects
  EXPECT_EQ(pts.count("hit_rate"), 0u);
  EXPECT_EQ(html.find("<table class=\"locks\">"), std::string::npos);
  EXPECT_NE(html.find("figures of the Go model"), std::string::npos);
  // No GC and no Go heap where the allocator has neither: the trace's gc events are named as such.
  EXPECT_EQ(html.find("GC cycles"), std::string::npos);
  EXPECT_EQ(html.find("heap figures"), std::string::npos);
  EXPECT_NE(html.find("the trace's gc events"), std::string::npos);
}

// The rect of the bar whose tooltip starts with label, in the group of a series: (height, fill-opacity or 1).
std::pair<double, double> bar(const std::string& html, const std::string& series, const std::string& label) {
  const size_t at = html.find("class=\"bars\" data-series=\"" + series + "\"");
  const size_t end = html.find("</g>", at);
  const std::regex re("<rect [^>]*height=\"([0-9.]+)\"( fill-opacity=\"([0-9.]+)\")?><title>" + label + ":");
  std::smatch m;
  const std::string g = html.substr(at, end - at);
  if (!std::regex_search(g, m, re)) return {-1, -1};
  return {std::stod(m[1]), m[3].matched ? std::stod(m[3]) : 1.0};
}

TEST(HtmlReplay, CountsThatSpanDecadesAreDrawnOnALogAxisAndRatesWeightedByAllocations) {
  Report r = fakeReport(false);
  r.sizeClasses[0].allocs = 100000;  // 16 B: a hundred thousand
  r.sizeClasses[1].allocs = 1;       // 48 B: one
  const std::string html = renderHtml(r);
  EXPECT_NE(html.find("allocations, log scale"), std::string::npos);
  const auto [h16, w16] = bar(html, "allocs", "16");
  const auto [h48, w48] = bar(html, "allocs", "48");
  EXPECT_GT(h16, 0);
  EXPECT_GE(h48, 2);  // one allocation still shows
  EXPECT_LT(h48, h16 / 2);
  // The hit-rate bars: the class with one allocation is pale, the busiest fully opaque.
  EXPECT_EQ(bar(html, "hit_rate", "16").second, 1.0);
  EXPECT_LE(bar(html, "hit_rate", "48").second, 0.25);
  // Counts within two decades stay linear.
  EXPECT_EQ(renderHtml(fakeReport(false)).find("log scale"), std::string::npos);
}

TEST(HtmlReplay, ATableColumnHasOneUnit) {
  Report r = fakeReport(false);
  r.locks = std::vector<LockRow>{LockRow{"mheap", 50, 1, 1500, 800, 2'000'000, {}},
                                 LockRow{"mcentral", 50, 1, 20, 3, 900, {}}};
  const std::string html = renderHtml(r);
  // wait: 1500 ns and 20 ns, both in us; hold: 2 ms and 900 ns, both in ms.
  EXPECT_NE(html.find("<th>wait (us)</th><th>max wait (ns)</th><th>hold (ms)</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>1.50</td><td>800</td><td>2.00</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.02</td><td>3</td><td>&lt;0.01</td>"), std::string::npos);
}

TEST(HtmlReplay, TextIsEscaped) {
  Report r = fakeReport(false);
  r.trace.path = "<script>alert('x')</script>&.json";
  const std::string html = renderHtml(r);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;.json"), std::string::npos);
}

CompareResult compareOf(std::vector<VariantRuns> variants, int repeat) {
  CompareResult c;
  c.options.trace = "t.json";
  c.options.repeat = repeat;
  c.variants = std::move(variants);
  return c;
}

TEST(HtmlCompare, VariantsAreOverlaidAndSignificanceMarked) {
  CompareResult c = compareOf({VariantRuns{parseVariant("go"), {}}, VariantRuns{parseVariant("gogc50:gogc=50"), {}},
                               VariantRuns{VariantSpec{"mimalloc", "mimalloc", {}, ""}, {}}},
                              5);
  for (int i = 0; i < 5; i++) {
    c.variants[0].runs.push_back(fakeReport(false));
    c.variants[0].runs.back().summary.nsPerEvent = 100 + i;
    c.variants[1].runs.push_back(fakeReport(false));
    c.variants[1].runs.back().summary.nsPerEvent = 150 + i;  // clearly slower
    c.variants[2].runs.push_back(fakeSystemReport());
    c.variants[2].runs.back().summary.nsPerEvent = 100 + i * 10;  // no significant change
  }
  const std::string html = renderCompareHtml(c);
  expectSelfContained(html);
  auto pts = seriesPoints(html);
  EXPECT_EQ(pts["rss:go"], 4);
  EXPECT_EQ(pts["rss:gogc50"], 4);
  EXPECT_EQ(pts["rss:mimalloc"], 4);
  EXPECT_EQ(pts["heap_inuse:go"], 3);
  EXPECT_EQ(pts["heap_inuse:gogc50"], 3);
  EXPECT_EQ(pts.count("heap_inuse:mimalloc"), 0u);
  EXPECT_EQ(pts["hit_rate:go"], 2);  // both classes hold over 1% of allocations
  EXPECT_EQ(groupRects(html, "hit_rate:gogc50"), 2);
  EXPECT_EQ(polylinePairs(html, "rss:mimalloc"), 4);
  EXPECT_NE(html.find("<td class=\"worse\" data-significant=\"true\">+49.0% (p=0.008)</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"nosig\" data-significant=\"false\">~ (p="), std::string::npos);
  EXPECT_NE(html.find("RSS (MiB)"), std::string::npos);
  EXPECT_NE(html.find("mimalloc</b>"), std::string::npos);
  // The variants' allocators differ: the header names them all, not the baseline's alone.
  EXPECT_NE(html.find("backends go, mimalloc"), std::string::npos);
  EXPECT_EQ(html.find("go backend"), std::string::npos);
}

TEST(HtmlCompare, AMetricsValuesShareOneUnit) {
  CompareResult c = compareOf(
      {VariantRuns{parseVariant("go"), {fakeReport(true)}}, VariantRuns{parseVariant("gogc50:gogc=50"), {fakeReport(true)}}},
      1);
  c.variants[0].runs[0].summary.peakRssBytes = 900 * 1024;          // 900 KiB
  c.variants[1].runs[0].summary.peakRssBytes = 3 * 1024 * 1024 / 2;  // 1.5 MiB
  const std::string html = renderCompareHtml(c);
  EXPECT_NE(html.find("peak RSS (MiB)</span></td><td>0.9</td><td>1.5</td>"), std::string::npos);
  EXPECT_EQ(html.find("KiB</td>"), std::string::npos);
  // A median of 0 shows the runs' range, in the row's unit too.
  for (int i = 0; i < 2; i++) {
    c.variants[i].runs.push_back(c.variants[i].runs[0]);
    c.variants[i].runs[0].locks->at(0).waitNs = 0;
    c.variants[i].runs[1].locks->at(0).waitNs = 2'000'000;
    c.variants[i].runs.push_back(c.variants[i].runs[0]);
  }
  const std::string ranged = renderCompareHtml(c);
  EXPECT_NE(ranged.find("lock wait time (ms)</span></td><td>0 (0..2.00)</td>"), std::string::npos)
      << ranged.substr(ranged.find("<code>lock_wait"), 200);
  EXPECT_NE(html.find("backend go &middot;"), std::string::npos);  // one allocator: named once
}

TEST(HtmlInfo, SizeAndLifetimeHistograms) {
  traces::TraceStats st;
  st.path = "t.json";
  st.digest = "00000000000000aa";
  st.smallSizes.assign(traces::kMaxSmallSize + 1, 0);
  st.smallSizes[8] = 100000;  // class 1 (8 B)
  st.smallSizes[100] = 2;     // class 8 (112 B)
  st.largeAllocs = 3;
  st.largeBytes = 3 * 40000;
  st.allocs = st.events = 100005;
  st.bytesAllocated = 800000 + 200 + 120000;
  st.lifetimeLog2[0] = 50000;
  st.lifetimeLog2[3] = 7;
  st.liveAtEnd = 49998;
  const std::string html = renderInfoHtml(st, std::nullopt);
  expectSelfContained(html);
  auto pts = seriesPoints(html);
  EXPECT_EQ(pts["objects"], 3);    // 8 B, 112 B and the large objects
  EXPECT_EQ(pts["requested"], 3);
  EXPECT_EQ(pts["lifetimes"], 2);  // the empty buckets between are gaps
  EXPECT_EQ(groupRects(html, "lifetimes"), 2);
  EXPECT_NE(html.find("<title>&gt;32K: 3</title>"), std::string::npos);
  EXPECT_NE(html.find("allocations, log scale"), std::string::npos);  // 100,000 against 2
  EXPECT_NE(html.find("<title>8-15: 7</title>"), std::string::npos);
  // The requested column in one unit (KiB, from 781 KiB down to 200 B).
  EXPECT_NE(html.find("<th>requested (KiB)</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>9</td><td>112</td><td>2</td><td>0.0</td><td>0.2</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>large</td><td>-</td><td>3</td><td>0.0</td><td>117.2</td>"), std::string::npos);
}

TEST(HtmlInfo, AnEmptyTraceSaysSo) {
  traces::TraceStats st;
  st.path = "empty.json";
  st.smallSizes.assign(traces::kMaxSmallSize + 1, 0);
  const std::string html = renderInfoHtml(st, std::nullopt);
  expectSelfContained(html);
  EXPECT_TRUE(seriesPoints(html).empty());
  EXPECT_NE(html.find("No allocations."), std::string::npos);
  EXPECT_NE(html.find("No object is freed."), std::string::npos);
}

TEST(HtmlFidelity, SharesThePagesStyleAndMarksExceededBounds) {
  FidelityTrace t;
  t.trace = "<t>.json";
  t.runtimeRuns = 1;
  t.rows = {FidelityRow{"gc 1", "HeapInuse", 8192, 8192, 8192, 8192, 0, "exact", true, true},
            FidelityRow{"end", "HeapObjects", 10, 12, 12, 12, -2, "exact", true, false}};
  const std::string html = renderFidelityHtml({t});
  expectSelfContained(html);
  EXPECT_NE(html.find("<h1>gomalloc fidelity</h1>"), std::string::npos);
  EXPECT_NE(html.find("&lt;t&gt;.json"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"worse bad\"><td class=\"l\">end</td>"), std::string::npos);
}

}  // namespace
}  // namespace gomalloc::reports
