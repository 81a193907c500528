// Issue 14: the limits a gate takes carry their unit, compare and gate share one threshold for "worse", settings
// are typed in the JSON reports, and reports of the previous versions and --no-timings reports stay readable.
#include <gtest/gtest.h>

#include "reports/compare.h"
#include "reports/gate.h"
#include "reports/html.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace gomalloc::reports {

Report fakeReport(bool deterministic);  // compare_test.cpp

namespace {

using Json = nlohmann::ordered_json;

// fakeReport with the one P the schema asks for, for the tests that read reports back.
Report schemaReport() {
  Report r = fakeReport(true);
  ProcRow p;
  p.threads = {0};
  r.procs.push_back(p);
  return r;
}

std::string limitError(std::string_view text, Unit u) {
  try {
    parseLimit(text, "--max m", u);
  } catch (const GateInputError& e) {
    return e.what();
  }
  return "";
}

TEST(GateLimitUnits, ABareNumberIsACountOnly) {
  EXPECT_NE(limitError("5", Unit::Bytes).find("has no unit, and the metric is in bytes"), std::string::npos);
  EXPECT_NE(limitError("+5", Unit::Nanoseconds).find("+50ns"), std::string::npos);  // says how to write it
  EXPECT_NE(limitError("0.01", Unit::Ratio).find("pp"), std::string::npos);
  EXPECT_NE(limitError("5KiB", Unit::Count).find("is not a non-negative number"), std::string::npos);  // counts: none
  EXPECT_DOUBLE_EQ(parseLimit("+4MiB", "x", Unit::Bytes).value, 4.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(parseLimit("512B", "x", Unit::Bytes).value, 512);
  EXPECT_DOUBLE_EQ(parseLimit("1.5KiB", "x", Unit::Bytes).value, 1536);
  EXPECT_DOUBLE_EQ(parseLimit("+2us", "x", Unit::Nanoseconds).value, 2000);
  EXPECT_DOUBLE_EQ(parseLimit("10ms", "x", Unit::Seconds).value, 0.01);
  EXPECT_DOUBLE_EQ(parseLimit("+1pp", "x", Unit::Ratio).value, 0.01);
  EXPECT_DOUBLE_EQ(parseLimit("+2", "x", Unit::Count).value, 2);
  EXPECT_DOUBLE_EQ(parseLimit("0", "x", Unit::Bytes).value, 0);  // zero needs no unit
  EXPECT_EQ(parseMaxFlag("peak_rss=+4MiB").limit.text, "+4MiB");  // shown as written, with its unit
}

TEST(GateLimitUnits, TheTableShowsTheUnitOfAnAbsoluteLimit) {
  GateOptions o;
  o.defaults = false;
  o.rules.push_back(parseMaxFlag("peak_rss=+4MiB"));
  const Report r = fakeReport(true);
  const GateResult g = evaluate(GateSide{"a", "", {r}}, GateSide{"b", "", {r}}, o);
  EXPECT_EQ(g.checks.at(0).verdict, Verdict::Pass);
  EXPECT_NE(renderGateTable(g).find("+4MiB up"), std::string::npos) << renderGateTable(g);
}

TEST(NegligibleChange, CompareShowsAChangeAsWorseOnlyPastTheGatesDefaultLimit) {
  Report a = fakeReport(true), tiny = fakeReport(true), big = fakeReport(true);
  tiny.heap->peak.heapInuse += tiny.heap->peak.heapInuse / 10000;  // +0.01%: exact, so "significant"
  big.heap->peak.heapInuse += big.heap->peak.heapInuse / 10;       // +10%
  big.summary.gcCycles += 1;                                       // gc_cycles: +0 deterministic
  CompareResult c;
  c.options.trace = "t.json";
  c.variants = {VariantRuns{parseVariant("base"), {a}}, VariantRuns{parseVariant("tiny"), {tiny}},
                VariantRuns{parseVariant("big"), {big}}};
  const std::vector<Row> rows = summarize(c);
  auto row = [&](const std::string& name) -> const Row& {
    for (auto& r : rows)
      if (r.metric.name == name) return r;
    throw std::runtime_error(name);
  };
  const Row& inuse = row("peak_heap_inuse");
  EXPECT_TRUE(inuse.cells[1].significant);
  EXPECT_EQ(inuse.cells[1].verdict, 0);  // negligible: 0.01% is under the 1% default
  EXPECT_EQ(inuse.cells[2].verdict, 1);
  EXPECT_EQ(row("gc_cycles").cells[2].verdict, 1);
  const Json j = compareToJson(c);
  for (auto& m : j["metrics"])
    if (m["name"] == "peak_heap_inuse") {
      EXPECT_EQ(m["variants"][1]["verdict"], "same");
      EXPECT_EQ(m["variants"][2]["verdict"], "worse");
    }
  // The page marks only the real change in red.
  const std::string html = renderCompareHtml(c);
  EXPECT_EQ(html.find("<td class=\"worse\" data-significant=\"true\">+0.0"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"worse\" data-significant=\"true\">+10.0%"), std::string::npos);

  // gate uses the same threshold: a 0.01% change is neither a regression nor an improvement.
  GateOptions o;
  o.defaults = false;
  o.rules.push_back(Rule{"peak_heap_inuse", Direction::Lower, negligibleLimit(inuse.metric, true), std::nullopt, "x"});
  EXPECT_EQ(evaluate(GateSide{"a", "", {tiny}}, GateSide{"b", "", {a}}, o).checks[0].verdict, Verdict::Pass);
  EXPECT_EQ(evaluate(GateSide{"a", "", {a}}, GateSide{"b", "", {tiny}}, o).checks[0].verdict, Verdict::Pass);
  EXPECT_EQ(evaluate(GateSide{"a", "", {a}}, GateSide{"b", "", {big}}, o).checks[0].verdict, Verdict::Regressed);
  EXPECT_EQ(evaluate(GateSide{"a", "", {big}}, GateSide{"b", "", {a}}, o).checks[0].verdict, Verdict::Improved);
}

TEST(GateNoTimings, TimingRulesAreSkippedAndSaidSo) {
  Json j = toJson(schemaReport());
  stripVolatile(j);
  ASSERT_NO_THROW(checkReportSchema(j));
  const GateSide s = loadSide(j, "nt.json", std::nullopt);
  EXPECT_FALSE(s.timings);
  const GateResult g = evaluate(s, s, GateOptions{});
  EXPECT_FALSE(g.failed());
  bool sawTiming = false;
  for (const Check& c : g.checks)
    if (c.metric.noise == Noise::Timing) {
      sawTiming = true;
      EXPECT_EQ(c.verdict, Verdict::Skipped) << c.metric.name;
      EXPECT_NE(c.note.find("--no-timings"), std::string::npos) << c.note;
    }
  EXPECT_TRUE(sawTiming);
  EXPECT_NE(renderGateTable(g).find("timing rules do not apply"), std::string::npos);
  const Json out = gateToJson(g);
  EXPECT_EQ(out["schema"], kGateSchema);
  EXPECT_EQ(out["version"], kGateVersion);
  EXPECT_EQ(out["result"], "pass");
  EXPECT_EQ(out["baseline"]["timings"], false);
}

TEST(TypedSettings, NumbersAndBooleansAreJsonNumbersAndBooleans) {
  EXPECT_EQ(settingToJson("100"), Json(100));
  EXPECT_EQ(settingToJson("true"), Json(true));
  EXPECT_EQ(settingToJson("false"), Json(false));
  EXPECT_EQ(settingToJson("0.5"), Json(0.5));
  for (const char* text : {"off", "64MiB", "go1.19", "8,16,32", "auto", "007", "18446744073709551615", ""})
    EXPECT_TRUE(settingToJson(text).is_string()) << text;
  for (const char* text : {"100", "true", "0.5", "0.25", "off", "64MiB", "0"})
    EXPECT_EQ(settingFromJson(settingToJson(text)), text);
  const Json j = toJson(fakeReport(true));
  EXPECT_EQ(j["version"], kVersion);
  EXPECT_EQ(j["config"]["settings"]["gogc"], Json(100));
  EXPECT_EQ(j["config"]["settings"]["preset"], Json("go1.19"));
}

TEST(TypedSettings, ReportsOfVersionOneStillRead) {
  Json j = toJson(schemaReport());
  j["version"] = 1;
  for (auto& [k, v] : j["config"]["settings"].items()) v = settingFromJson(v);  // version 1: strings
  ASSERT_NO_THROW(checkReportSchema(j));
  const Report r = fromJson(j);
  EXPECT_EQ(r.config.settings, fakeReport(true).config.settings);
  // and gate sees the same settings on both sides
  const Json now = toJson(schemaReport());
  EXPECT_NO_THROW(checkCompatible(loadSide(j, "old.json", std::nullopt), loadSide(now, "new.json", std::nullopt), false));
  j["version"] = kVersion + 1;
  EXPECT_THROW(checkReportSchema(j), SchemaError);
}

}  // namespace
}  // namespace gomalloc::reports
