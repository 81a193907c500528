// The HTML reports in a real browser: headless Chromium (Debian's chromium, installed by scripts/setup.sh)
// loads each page with every network request refused, and the test fails on any console message, on any
// resource the page tried to load, and unless every chart's series is drawn with the points it declares.
//
// The pages have no script of their own. The test loads a copy with a small checking script added (and the
// page's Content-Security-Policy widened for that one inline script), which reads what the browser parsed
// and laid out (SVG point lists, bars, bounding boxes) and writes its verdict into the DOM, which Chromium
// dumps (--dump-dom).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

const char* kCheckScript = R"JS(
(function () {
  var problems = [], found = [];
  var els = document.querySelectorAll('[data-points]');
  for (var i = 0; i < els.length; i++) {
    var el = els[i], name = el.getAttribute('data-series'), want = parseInt(el.getAttribute('data-points'), 10);
    var got = -1;
    if (el.tagName === 'polyline') got = el.points.numberOfItems;
    else if (el.classList.contains('bars')) got = el.getElementsByTagName('rect').length;
    else if (el.classList.contains('gc-marks')) got = el.getElementsByTagName('line').length;
    var svg = el.ownerSVGElement, vb = svg.viewBox.baseVal, box = el.getBBox();
    var style = getComputedStyle(el);
    if (got !== want) problems.push(name + ': ' + got + ' drawn, ' + want + ' declared');
    if (want === 0) problems.push(name + ': nothing drawn');
    if (box.x < vb.x - 1 || box.y < vb.y - 1 || box.x + box.width > vb.x + vb.width + 1 ||
        box.y + box.height > vb.y + vb.height + 1) problems.push(name + ': drawn outside its chart');
    if (style.display === 'none' || style.visibility === 'hidden') problems.push(name + ': hidden');
    if (el.tagName === 'polyline' && (style.stroke === 'none' || style.fill !== 'none'))
      problems.push(name + ': line style ' + style.stroke + ' / ' + style.fill);
    if (svg.getBoundingClientRect().width < 300) problems.push(name + ': chart narrower than 300 px');
    if (svg.querySelectorAll('text.axis-label').length < 2) problems.push(name + ': axes not labelled');
    found.push(name + '=' + got);
  }
  // The page fits the window: nothing wider than the viewport (a wide table scrolls inside its own box).
  var page = document.documentElement.scrollWidth, view = window.innerWidth;
  if (page > view + 1) problems.push('page ' + page + ' px wide in a ' + view + ' px window');
  var resources = performance.getEntriesByType('resource').length;
  if (resources) problems.push(resources + ' resources loaded');
  document.body.setAttribute('data-check', problems.length ? 'FAIL: ' + problems.join('; ') : 'ok');
  document.body.setAttribute('data-found', found.join(' '));
})();
)JS";

struct PageCheck {
  std::string verdict;                 // "ok" or "FAIL: ..."
  std::map<std::string, int> drawn;    // series -> points the browser parsed
  std::vector<std::string> console;    // console lines Chromium logged
  std::string log;
};

// Loads the page in a window of that width (900 px high).
PageCheck loadInChromium(const std::filesystem::path& page, const ScratchDir& dir, int width = 1200) {
  std::string html = slurp(page);
  const std::string csp = "default-src 'none'";
  EXPECT_NE(html.find(csp), std::string::npos) << "the page has no Content-Security-Policy";
  html.replace(html.find(csp), csp.size(), csp + "; script-src 'unsafe-inline'");
  const size_t body = html.rfind("</body>");
  EXPECT_NE(body, std::string::npos);
  html.insert(body, std::string("<script>") + kCheckScript + "</script>\n");
  const auto checked = dir / ("checked-" + page.filename().string());
  spit(checked, html);
  const auto profile = dir / ("profile-" + page.stem().string());
  std::filesystem::create_directories(profile);
  const std::string cmd = std::string("timeout 120 ") + kChromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --host-resolver-rules='MAP * ~NOTFOUND' --hide-scrollbars --window-size=" + std::to_string(width) + ",900"
                          " --user-data-dir='" + profile.string() + "' --enable-logging=stderr --v=0"
                          " --dump-dom 'file://" + checked.string() + "'";
  RunResult r = runShell(cmd, dir);
  PageCheck c;
  c.log = r.err;
  EXPECT_EQ(r.code, 0) << "chromium failed:\n" << r.err;
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex("data-check=\"([^\"]*)\""))) c.verdict = m[1];
  if (std::regex_search(r.out, m, std::regex("data-found=\"([^\"]*)\""))) {
    std::istringstream in(m[1].str());
    std::string item;
    while (in >> item) {
      const size_t eq = item.rfind('=');
      c.drawn[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
    }
  }
  std::istringstream lines(r.err);
  std::string line;
  while (std::getline(lines, line))
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos)
      c.console.push_back(line);
  return c;
}

void expectClean(const PageCheck& c) {
  EXPECT_EQ(c.verdict, "ok") << c.log;
  EXPECT_TRUE(c.console.empty()) << "console messages:\n" << ::testing::PrintToString(c.console);
}

class Browser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kChromium))
      GTEST_SKIP() << kChromium << " is not installed (scripts/setup.sh installs Debian's chromium package)";
  }
};

TEST_F(Browser, ReplayPageDrawsEveryChartWithTheReportsPoints) {
  ScratchDir dir("browser-replay");
  // Deterministic with RSS sampled only at barriers: the JSON and the HTML runs have the same timeline.
  const std::string common = "replay examples/web.json --deterministic --rss-interval 0 --quiet ";
  ASSERT_EQ(gomalloc(common + "--format json -o " + (dir / "r.json").string(), dir).code, 0);
  ASSERT_EQ(gomalloc(common + "--format html -o " + (dir / "replay.html").string(), dir).code, 0);
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "r.json"));
  int points = 0, heapPoints = 0, gcs = 0, befores = 0, classes = 0, small = 0, fragmented = 0;
  uint64_t peak = 0;
  for (auto& t : j["timeline"]) {
    points++;
    heapPoints += !t["heap_inuse_bytes"].is_null();
    gcs += t["event"] == "gc";
    befores += t["event"] == "before_gc";
    if (!t["heap_inuse_bytes"].is_null()) peak = std::max(peak, t["heap_inuse_bytes"].get<uint64_t>());
  }
  // Every class used is drawn, the large objects' row too; the mcache and spans figures are small classes'.
  for (auto& c : j["size_classes"]) {
    if (c["allocs"] == 0) continue;
    classes++;
    small += c["class"] != 0;
    fragmented += c["bytes_allocated"].get<uint64_t>() > 0;
  }
  ASSERT_GT(gcs, 0);
  ASSERT_GT(classes, small);  // web.json has large objects
  EXPECT_EQ(befores, gcs);  // the heap just before each GC is a point of its own
  EXPECT_EQ(peak, j["heap"]["peak"]["HeapInuse"].get<uint64_t>());  // so the peak the page shows is on its chart

  const PageCheck c = loadInChromium(dir / "replay.html", dir);
  expectClean(c);
  std::map<std::string, int> want = {{"rss", points},      {"heap_inuse", heapPoints},   {"heap_released", heapPoints},
                                     {"gc", gcs},          {"allocs", classes},          {"hit_rate", small},
                                     {"bytes_in_use", small}, {"internal_fragmentation", fragmented}};
  EXPECT_EQ(c.drawn, want);
  // Over wall time instead of trace events: the same points.
  ASSERT_EQ(gomalloc(common + "--format html --x-axis time -o " + (dir / "time.html").string(), dir).code, 0);
  const PageCheck t = loadInChromium(dir / "time.html", dir);
  expectClean(t);
  EXPECT_EQ(t.drawn, want);
  EXPECT_NE(slurp(dir / "time.html").find("time since the replay started"), std::string::npos);
  EXPECT_NE(slurp(dir / "replay.html").find("trace events done"), std::string::npos);
}

TEST_F(Browser, ComparePageOverlaysTheVariants) {
  ScratchDir dir("browser-compare");
  const std::string other = otherAllocator();
  ASSERT_EQ(gomalloc("compare examples/web.json --allocator go --variant gogc50:gogc=50 --allocator " + other +
                         " --repeat 2 --quiet --format html -o " + (dir / "compare.html").string(),
                     dir)
                .code,
            0);
  const PageCheck c = loadInChromium(dir / "compare.html", dir);
  expectClean(c);
  for (const std::string& s : std::vector<std::string>{"rss:go", "rss:gogc50", "rss:" + other, "heap_inuse:go",
                                                        "heap_inuse:gogc50", "hit_rate:go", "hit_rate:gogc50"})
    EXPECT_GT(c.drawn.count(s) ? c.drawn.at(s) : 0, 0) << s;
  EXPECT_EQ(c.drawn.count("heap_inuse:" + other), 0u);  // no Go heap figures
  const std::string page = slurp(dir / "compare.html");
  EXPECT_NE(page.find("data-significant="), std::string::npos);
}

TEST_F(Browser, ComparePageOfFiveVariantsFitsA1400PixelWindow) {
  // Three Go variants and two other allocators: the metric table has ten columns.
  ScratchDir dir("browser-compare5");
  const std::string other = otherAllocator(), fifth = kSanitized ? "c:gogc=400" : "jemalloc";
  const std::string fifthFlag = kSanitized ? "--variant " + fifth : "--allocator " + fifth;
  ASSERT_EQ(gomalloc("compare examples/web.json --allocator go --variant a:gogc=50 --variant b:gogc=200 --allocator " +
                         other + " " + fifthFlag + " --deterministic --quiet --format html -o " +
                         (dir / "compare.html").string(),
                     dir)
                .code,
            0);
  const PageCheck c = loadInChromium(dir / "compare.html", dir, 1400);
  expectClean(c);
  const std::string page = slurp(dir / "compare.html");
  EXPECT_EQ(page.find("go backend"), std::string::npos);  // the variants' allocators differ
  EXPECT_NE(page.find("backends go, " + other), std::string::npos);
  // And at a narrow 800 px the page still fits (the tables scroll inside their boxes).
  expectClean(loadInChromium(dir / "compare.html", dir, 800));
}

TEST_F(Browser, ComparePageOfAllocatorsWithoutAGcSpeaksOfNone) {
  if (kSanitized) GTEST_SKIP() << "mimalloc and jemalloc are not replayed under the sanitizers";
  ScratchDir dir("browser-compare-nogc");
  ASSERT_EQ(gomalloc(std::string("compare examples/web.json --allocator mimalloc --allocator jemalloc") +
                         " --quiet --format html -o " + (dir / "compare.html").string(),
                     dir)
                .code,
            0);
  expectClean(loadInChromium(dir / "compare.html", dir));
  const std::string page = slurp(dir / "compare.html");
  for (const char* goOnly : {"GC cycle", "Go model", "HeapInuse", "mcache"})
    EXPECT_EQ(page.find(goOnly), std::string::npos) << goOnly;
  // The same allocator's replay page: the trace's gc events, no heap figures.
  ASSERT_EQ(gomalloc("replay examples/web.json --allocator mimalloc --quiet --format html -o " + (dir / "replay.html").string(),
                     dir)
                .code,
            0);
  const PageCheck r = loadInChromium(dir / "replay.html", dir);
  expectClean(r);
  const std::string replay = slurp(dir / "replay.html");
  EXPECT_EQ(replay.find("heap figures"), std::string::npos);
  EXPECT_EQ(replay.find("GC cycles"), std::string::npos);
  EXPECT_GT(r.drawn.count("allocs") ? r.drawn.at("allocs") : 0, 0);
}

TEST_F(Browser, SuitePageDrawsEachTrace) {
  ScratchDir dir("browser-suite");
  ASSERT_EQ(gomalloc("compare examples/web.json examples/producer-consumer.json --allocator go --variant gogc50:gogc=50 "
                     "--deterministic --quiet --format html -o " + (dir / "suite.html").string(),
                     dir)
                .code,
            0);
  const PageCheck c = loadInChromium(dir / "suite.html", dir);
  expectClean(c);
  for (const char* s : {"rss:go", "rss:gogc50", "heap_inuse:go", "hit_rate:gogc50"})
    EXPECT_GT(c.drawn.count(s) ? c.drawn.at(s) : 0, 0) << s;
  const std::string page = slurp(dir / "suite.html");
  EXPECT_NE(page.find("Trace examples/producer-consumer.json"), std::string::npos);
}

TEST_F(Browser, InfoPageDrawsTheSizeAndLifetimeHistograms) {
  ScratchDir dir("browser-info");
  ASSERT_EQ(gomalloc("info examples/web.json --format json -o " + (dir / "i.json").string(), dir).code, 0);
  ASSERT_EQ(gomalloc("info examples/web.json --format html -o " + (dir / "info.html").string(), dir).code, 0);
  const nlohmann::json j = nlohmann::json::parse(slurp(dir / "i.json"));
  const PageCheck c = loadInChromium(dir / "info.html", dir);
  expectClean(c);
  std::map<std::string, int> want = {{"objects", int(j["size_classes"].size())},
                                     {"requested", int(j["size_classes"].size())},
                                     {"lifetimes", int(j["lifetimes"].size())}};
  EXPECT_EQ(c.drawn, want);
}

TEST_F(Browser, FidelityPageLoadsClean) {
  ScratchDir dir("browser-fidelity");
  if (gomalloc("replay examples/tiny.json --allocator go-runtime --procs 1 --quiet --format json", dir).code != 0)
    GTEST_SKIP() << "go-runtime unavailable (Go 1.19 not installed)";
  const RunResult r = gomalloc("fidelity examples/tiny.json --runs 1 --quiet --format html -o " +
                                   (dir / "fidelity.html").string(),
                               dir);
  ASSERT_TRUE(r.code == 0 || r.code == 1) << r.err;  // 1: a bound exceeded, still a page
  const PageCheck c = loadInChromium(dir / "fidelity.html", dir);
  expectClean(c);
  EXPECT_NE(slurp(dir / "fidelity.html").find("<table class=\"fidelity\">"), std::string::npos);
}

TEST_F(Browser, TheCheckCatchesABrokenPage) {
  // The checker itself: a page whose series declares more points than it draws, and a console error.
  ScratchDir dir("browser-broken");
  spit(dir / "broken.html",
       "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
       "</head><body><svg viewBox=\"0 0 400 100\" width=\"400\"><text class=\"axis-label\">x</text>"
       "<text class=\"axis-label\">y</text><polyline class=\"series\" style=\"fill:none;stroke:red\" "
       "data-series=\"s\" data-points=\"3\" points=\"0,0 10,10\"/></svg><img src=\"http://example.invalid/x.png\">"
       "</body></html>");
  const PageCheck c = loadInChromium(dir / "broken.html", dir);
  EXPECT_NE(c.verdict.find("s: 2 drawn, 3 declared"), std::string::npos) << c.verdict;
  EXPECT_FALSE(c.console.empty()) << "the refused image load should be logged" << c.log;
}

TEST_F(Browser, TheCheckCatchesAPageWiderThanTheWindow) {
  ScratchDir dir("browser-wide");
  spit(dir / "wide.html",
       "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
       "</head><body><table><tr><td style=\"white-space:nowrap\">" + std::string(400, 'x') +
       "</td></tr></table></body></html>");
  const PageCheck c = loadInChromium(dir / "wide.html", dir, 1400);
  EXPECT_NE(c.verdict.find("px wide in a 1400 px window"), std::string::npos) << c.verdict;
}

}  // namespace
}  // namespace gomalloc::testing
