// HTML pages: self-contained (no script, nothing fetched), every series drawn with the points it claims,
// axes labelled with units, text escaped. The browser test (tests/cli/browser_test.cpp) loads real pages.
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "reports/compare.h"
#include "reports/html.h"

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
  for (const char* bars : {"allocs", "hit_rate", "bytes_in_use", "internal_fragmentation"}) {
    EXPECT_EQ(pts[bars], 2) << bars;  // the two small classes; the large row is described, not drawn
    EXPECT_EQ(groupRects(html, bars), 2) << bars;
  }
  EXPECT_NE(html.find("memory (MiB)"), std::string::npos);
  EXPECT_NE(html.find("time since the replay started (ms)"), std::string::npos);
  EXPECT_NE(html.find("hit rate (%)"), std::string::npos);
  EXPECT_NE(html.find("size class (object bytes)"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"locks\">"), std::string::npos);
  EXPECT_NE(html.find("<code>mheap</code>"), std::string::npos);
  EXPECT_NE(html.find("Large objects (over 32 KiB) are not drawn: 10 allocations"), std::string::npos);
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
  EXPECT_NE(html.find("<title>16: 16.0 KiB</title>"), std::string::npos);
}

TEST(HtmlReplay, OtherBackendsShowRssAndAllocationsOnly) {
  const std::string html = renderHtml(fakeSystemReport());
  expectSelfContained(html);
  auto pts = seriesPoints(html);
  EXPECT_EQ(pts["rss"], 4);
  EXPECT_EQ(pts.count("heap_inuse"), 0u);
  EXPECT_EQ(pts["allocs"], 2);
  EXPECT_EQ(pts.count("hit_rate"), 0u);
  EXPECT_EQ(html.find("<table class=\"locks\">"), std::string::npos);
  EXPECT_NE(html.find("figures of the Go model"), std::string::npos);
}

TEST(HtmlReplay, TextIsEscaped) {
  Report r = fakeReport(false);
  r.trace.path = "<script>alert('x')</script>&.json";
  const std::string html = renderHtml(r);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;.json"), std::string::npos);
}

TEST(HtmlCompare, VariantsAreOverlaidAndSignificanceMarked) {
  CompareResult c;
  c.options.trace = "t.json";
  c.options.repeat = 5;
  c.variants = {VariantRuns{parseVariant("go"), {}}, VariantRuns{parseVariant("gogc50:gogc=50"), {}},
                VariantRuns{VariantSpec{"mimalloc", "mimalloc", {}, ""}, {}}};
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
}

}  // namespace
}  // namespace gomalloc::reports
