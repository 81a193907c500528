// gate: limits, rules, defaults, significance, compatibility checks and the three outputs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "reports/compare.h"
#include "reports/gate.h"
#include "reports/render.h"
#include "tests/cli/cli_test_util.h"

namespace gomalloc::reports {

Report fakeReport(bool deterministic);  // compare_test.cpp

namespace {

using Json = nlohmann::ordered_json;

GateSide side(const std::string& file, std::vector<Report> runs) {
  return GateSide{file, "", std::move(runs)};
}

// The fake report, changed by f.
Report rep(const std::function<void(Report&)>& f = {}, bool deterministic = false) {
  Report r = fakeReport(deterministic);
  if (f) f(r);
  return r;
}

const Check& checkOf(const GateResult& g, const std::string& metric) {
  for (auto& c : g.checks)
    if (c.metric.name == metric) return c;
  throw std::runtime_error("no check " + metric);
}

std::string inputError(const std::function<void()>& f) {
  try {
    f();
  } catch (const GateInputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(GateLimit, RelativeAndAbsolute) {
  Limit a = parseLimit("5%", "x", Unit::Bytes);
  EXPECT_EQ(a.kind, Limit::Relative);
  EXPECT_DOUBLE_EQ(a.value, 0.05);
  Limit b = parseLimit("+2", "x", Unit::Count);
  EXPECT_EQ(b.kind, Limit::Absolute);
  EXPECT_DOUBLE_EQ(b.value, 2);
  EXPECT_DOUBLE_EQ(parseLimit("0.5", "x", Unit::Count).value, 0.5);
  for (const char* bad : {"", "%", "-1", "-5%", "five", "5%%", "+", "1e999"})
    EXPECT_NE(inputError([&] { parseLimit(bad, "--max x", Unit::Count); }).find("--max x"), std::string::npos) << bad;
}

TEST(GateLimit, MaxFlagNamesUnknownMetrics) {
  Rule r = parseMaxFlag("peak_rss=5%");
  EXPECT_EQ(r.metric, "peak_rss");
  EXPECT_EQ(r.direction, Direction::Lower);
  EXPECT_EQ(parseMaxFlag("hit_rate=1%").direction, Direction::Higher);
  EXPECT_EQ(parseMaxFlag("hit_rate.48B=1%").metric, "hit_rate.48B");
  const std::string e = inputError([] { parseMaxFlag("peak_rs=5%"); });
  EXPECT_NE(e.find("unknown metric 'peak_rs'"), std::string::npos);
  EXPECT_NE(e.find("peak_rss"), std::string::npos);  // lists the known names
  EXPECT_NE(inputError([] { parseMaxFlag("peak_rss"); }).find("METRIC=LIMIT"), std::string::npos);
}

TEST(Gate, AnUnchangedReportPasses) {
  GateResult g = evaluate(side("a", {rep()}), side("b", {rep()}), GateOptions{});
  EXPECT_FALSE(g.failed());
  EXPECT_EQ(g.count(Verdict::Regressed), 0u);
}

TEST(Gate, PeakRssUpTenPercentFailsAFivePercentRule) {
  const Report a = rep(), b = rep([](Report& r) { r.summary.peakRssBytes = r.summary.peakRssBytes * 11 / 10; });
  GateOptions o;
  o.rules.push_back(parseMaxFlag("peak_rss=5%"));
  GateResult g = evaluate(side("base.json", {a}), side("cur.json", {b}), o);
  EXPECT_TRUE(g.failed());
  const Check& c = checkOf(g, "peak_rss");
  EXPECT_EQ(c.verdict, Verdict::Regressed);
  EXPECT_FALSE(c.tested);  // single runs, explicit rule: compared as they are
  const std::string t = renderGateTable(g);
  EXPECT_NE(t.find("FAIL"), std::string::npos);
  EXPECT_NE(t.find("peak_rss regressed"), std::string::npos);
  // A looser limit passes.
  GateOptions loose;
  loose.rules.push_back(parseMaxFlag("peak_rss=15%"));
  EXPECT_FALSE(evaluate(side("a", {a}), side("b", {b}), loose).failed());
}

TEST(Gate, AbsoluteLimitsAndDirections) {
  Report a = fakeReport(true), b = fakeReport(true);
  b.summary.gcCycles = 7;
  GateOptions o;
  o.rules.push_back(parseMaxFlag("gc_cycles=+2"));
  EXPECT_EQ(checkOf(evaluate(side("a", {a}), side("b", {b}), o), "gc_cycles").verdict, Verdict::Pass);
  b.summary.gcCycles = 8;
  EXPECT_EQ(checkOf(evaluate(side("a", {a}), side("b", {b}), o), "gc_cycles").verdict, Verdict::Regressed);
  b.summary.gcCycles = 2;  // fewer cycles: better
  EXPECT_EQ(checkOf(evaluate(side("a", {a}), side("b", {b}), o), "gc_cycles").verdict, Verdict::Improved);
}

TEST(Gate, DeterministicDefaultsAreTight) {
  Report a = fakeReport(true), b = fakeReport(true);
  b.summary.gcCycles = 6;
  GateResult g = evaluate(side("a", {a}), side("b", {b}), GateOptions{});
  EXPECT_EQ(checkOf(g, "gc_cycles").verdict, Verdict::Regressed);
  EXPECT_EQ(checkOf(g, "gc_cycles").rule.origin, "default");
  // Timing defaults are skipped without repeats, and say how to get them.
  EXPECT_EQ(checkOf(g, "ns_per_event").verdict, Verdict::Skipped);
  EXPECT_NE(checkOf(g, "ns_per_event").note.find("--repeat"), std::string::npos);
  b.summary.gcCycles = 5;
  b.heap->peak.heapInuse += a.heap->peak.heapInuse / 200;  // +0.5%: within the default 1%
  EXPECT_FALSE(evaluate(side("a", {a}), side("b", {b}), GateOptions{}).failed());
}

TEST(Gate, ConcurrentModelFiguresNeedRepeatsByDefault) {
  const Report a = rep(), b = rep([](Report& r) { r.summary.gcCycles = 9; });
  GateResult g = evaluate(side("a", {a}), side("b", {b}), GateOptions{});
  EXPECT_EQ(checkOf(g, "gc_cycles").verdict, Verdict::Skipped);
  EXPECT_FALSE(g.failed());
}

std::vector<Report> timed(std::initializer_list<double> ns) {
  std::vector<Report> v;
  for (double x : ns) v.push_back(rep([x](Report& r) { r.summary.nsPerEvent = x; }));
  return v;
}

TEST(Gate, RepeatedTimingsFailOnlyWhenSignificant) {
  GateResult slow = evaluate(side("a", timed({100, 101, 99, 102, 98})), side("b", timed({120, 121, 119, 122, 118})),
                             GateOptions{});
  const Check& c = checkOf(slow, "ns_per_event");
  EXPECT_TRUE(c.tested);
  EXPECT_LT(c.test.p, 0.05);
  EXPECT_EQ(c.verdict, Verdict::Regressed);

  GateResult noisy = evaluate(side("a", timed({100, 140, 70, 120, 90})), side("b", timed({110, 150, 80, 125, 95})),
                              GateOptions{});
  EXPECT_EQ(checkOf(noisy, "ns_per_event").verdict, Verdict::NotSignificant);
  EXPECT_FALSE(noisy.failed());

  // Three runs a side cannot reach p < 0.05 (exact test): never a failure.
  GateResult three = evaluate(side("a", timed({100, 101, 99})), side("b", timed({200, 201, 199})), GateOptions{});
  EXPECT_EQ(checkOf(three, "ns_per_event").verdict, Verdict::NotSignificant);
  // ... unless the rule asks for no test.
  GateOptions o;
  Json rules = Json::parse(R"({"rules": [{"metric": "ns_per_event", "max": "5%", "significance": false}]})");
  parseRulesFile(rules, "r.json", o);
  EXPECT_EQ(checkOf(evaluate(side("a", timed({100, 101, 99})), side("b", timed({200, 201, 199})), o), "ns_per_event")
                .verdict,
            Verdict::Regressed);
}

TEST(GateRules, FileReplacesDefaultsAndChecksItsKeys) {
  GateOptions o;
  parseRulesFile(Json::parse(R"({"defaults": false, "alpha": 0.01, "min_repeats": 5,
      "rules": [{"metric": "peak_rss", "max": "3%"}, {"metric": "heap_released", "max": "+1MiB", "direction": "lower"}]})"),
                 "r.json", o);
  EXPECT_FALSE(o.defaults);
  EXPECT_DOUBLE_EQ(o.alpha, 0.01);
  EXPECT_EQ(o.minRepeats, 5u);
  ASSERT_EQ(o.rules.size(), 2u);
  EXPECT_EQ(o.rules[1].direction, Direction::Lower);
  GateResult g = evaluate(side("a", {rep()}), side("b", {rep()}), o);
  EXPECT_EQ(g.checks.size(), 2u);

  auto err = [](const char* text) {
    return inputError([&] {
      GateOptions x;
      parseRulesFile(Json::parse(text), "rules.json", x);
    });
  };
  EXPECT_NE(err(R"({"rule": []})").find("unknown key \"rule\""), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"metric": "peak_rss"}]})").find("rules[0]: \"max\" is missing"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"metric": "rss", "max": "5%"}]})").find("unknown metric"), std::string::npos);
  EXPECT_NE(err(R"({"rules": [{"metric": "peak_rss", "max": "5%", "direction": "up"}]})").find("direction"),
            std::string::npos);
  EXPECT_NE(err(R"([1])").find("rules file rules.json"), std::string::npos);
}

TEST(GateCompatible, DifferentTracesAreRefusedWithBothDigests) {
  const Report a = rep(), b = rep([](Report& r) { r.trace.digest = "00000000000000bb"; });
  const std::string e = inputError([&] { checkCompatible(side("base.json", {a}), side("cur.json", {b}), false); });
  EXPECT_NE(e.find("different traces"), std::string::npos);
  EXPECT_NE(e.find("00000000000000aa"), std::string::npos);
  EXPECT_NE(e.find("00000000000000bb"), std::string::npos);
}

TEST(GateCompatible, DifferentConfigurationsSayWhy) {
  Report a = rep(), b = rep([](Report& r) { r.config.backend = "jemalloc"; });
  EXPECT_NE(inputError([&] { checkCompatible(side("a", {a}), side("b", {b}), false); }).find("allocators: go vs jemalloc"),
            std::string::npos);
  b = a;
  b.config.deterministic = true;
  EXPECT_NE(inputError([&] { checkCompatible(side("a", {a}), side("b", {b}), false); }).find("--deterministic"),
            std::string::npos);
  b = a;
  b.config.settings[1].second = "50";
  const std::string e = inputError([&] { checkCompatible(side("a", {a}), side("b", {b}), false); });
  EXPECT_NE(e.find("gogc: 100 vs 50"), std::string::npos);
  EXPECT_NE(e.find("--allow-settings"), std::string::npos);
  EXPECT_NO_THROW(checkCompatible(side("a", {a}), side("b", {b}), true));
  GateSide interrupted = side("i.json", {a});
  interrupted.runs[0].interrupted = true;
  EXPECT_NE(inputError([&] { checkCompatible(interrupted, side("b", {a}), false); }).find("interrupted"),
            std::string::npos);
}

TEST(GateInput, ReadsReplayAndCompareReports) {
  const Report f = rep([](Report& r) { r.procs = {ProcRow{0, {0}, 1000, 0, 0, {}, {}, {}}}; });
  const Json replay = toJson(f);
  GateSide s = loadSide(replay, "r.json", std::nullopt);
  EXPECT_EQ(s.runs.size(), 1u);
  EXPECT_NE(inputError([&] { loadSide(replay, "r.json", std::string("x")); }).find("no variants"), std::string::npos);

  CompareResult c;
  c.options.trace = "t.json";
  c.options.repeat = 2;
  c.variants = {VariantRuns{parseVariant("base"), {f, f}}, VariantRuns{parseVariant("other:gogc=50"), {f, f}}};
  const Json cj = compareToJson(c);
  GateSide b = loadSide(cj, "c.json", std::nullopt);
  EXPECT_EQ(b.variant, "base");
  EXPECT_EQ(b.runs.size(), 2u);
  EXPECT_EQ(loadSide(cj, "c.json", std::string("other")).variant, "other");
  const std::string e = inputError([&] { loadSide(cj, "c.json", std::string("nope")); });
  EXPECT_NE(e.find("no variant 'nope' (it has base, other)"), std::string::npos);

  EXPECT_NE(inputError([&] { loadSide(Json::parse(R"({"a": 1})"), "x.json", std::nullopt); }).find("x.json: not a gomalloc report"),
            std::string::npos);
  // The schema (reports/schema.h), with the file named.
  struct Case {
    std::function<void(Json&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](Json& j) { j["summary"].erase("peak_rss_bytes"); },
       "b.json: summary.peak_rss_bytes: missing (a report with timings has it"},
      {[](Json& j) { j.erase("heap"); }, "b.json: heap: missing (required for the go backend)"},
      {[](Json& j) { j["size_classes"] = Json::array(); }, "b.json: size_classes: empty"},
      {[](Json& j) { j.erase("locks"); }, "b.json: locks: missing (required for the go backend)"},
      {[](Json& j) { j["summary"]["events"] = "5"; }, "b.json: summary.events: expected a non-negative integer, found a string"},
  };
  for (auto& c : cases) {
    Json broken = replay;
    c.change(broken);
    const std::string e = inputError([&] { loadSide(broken, "b.json", std::nullopt); });
    EXPECT_NE(e.find(c.message), std::string::npos) << e;
  }
  // A --no-timings run is read; its side has no timings (the timing rules are then skipped: consistency_test.cpp).
  Json strippedRun = cj;
  stripVolatile(strippedRun["variants"][0]["reports"][1]);
  EXPECT_FALSE(loadSide(strippedRun, "c.json", std::nullopt).timings);
  Json badRun = cj;
  badRun["variants"][1]["reports"][0].erase("heap");
  EXPECT_NE(inputError([&] { loadSide(badRun, "c.json", std::nullopt); }).find("c.json: variants[1].reports[0].heap: missing"),
            std::string::npos);
}

TEST(GateOutput, JunitIsWellFormedAndCountsFailures) {
  const Report a = rep(), b = rep([](Report& r) { r.summary.peakRssBytes *= 2; });
  GateOptions o;
  o.rules.push_back(parseMaxFlag("peak_rss=5%"));
  GateSide base = side("base <&> \"q\".json", {a});
  base.runs[0].trace.path = "trace<1>&.json";
  GateResult g = evaluate(base, side("cur.json", {b}), o);
  const std::string x = renderGateJunit(g);
  std::string why;
  EXPECT_TRUE(gomalloc::testing::wellFormedXml(x, &why)) << why << "\n" << x;
  EXPECT_NE(x.find("trace&lt;1&gt;&amp;.json"), std::string::npos);
  EXPECT_NE(x.find(fmt::format("tests=\"{}\" failures=\"1\"", g.checks.size())), std::string::npos);
  EXPECT_NE(x.find(fmt::format("skipped=\"{}\"", g.count(Verdict::Skipped))), std::string::npos);
  size_t cases = 0;
  for (size_t p = 0; (p = x.find("<testcase ", p)) != std::string::npos; p++) cases++;
  EXPECT_EQ(cases, g.checks.size());
  EXPECT_NE(x.find("<failure type=\"regression\" message=\"peak_rss regressed"), std::string::npos);
}

TEST(GateOutput, MarkdownTableIsRegular) {
  const Report a = rep(), b = rep([](Report& r) { r.summary.peakRssBytes *= 2; });
  GateOptions o;
  o.rules.push_back(parseMaxFlag("peak_rss=5%"));
  const std::string md = renderGateMarkdown(evaluate(side("a.json", {a}), side("b.json", {b}), o));
  EXPECT_EQ(md.rfind("### gomalloc gate: FAIL", 0), 0u);
  std::string why;
  EXPECT_EQ(gomalloc::testing::markdownTableColumns(md, &why), 9) << why;
  EXPECT_NE(md.find("- **peak_rss regressed"), std::string::npos);
}

}  // namespace
}  // namespace gomalloc::reports
