// Reading JSON inputs (size limit, duplicate keys, positions) and the report schema (reports/json_input.h,
// reports/schema.h; docs/report.md "Schema"): every rule, table-driven, on reports of real replays.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <regex>
#include <set>

#include "replay/factory.h"
#include "replay/replayer.h"
#include "replay/synth.h"
#include "reports/compare.h"
#include "reports/json_input.h"
#include "reports/render.h"
#include "reports/schema.h"
#include "tests/cli/cli_test_util.h"

namespace gomalloc::reports {
namespace {

using Json = nlohmann::ordered_json;
using testing::ScratchDir;
using testing::spit;

// ---- reading ----

std::string parseError(const std::string& text) {
  try {
    parseJsonChecked(text, "f.json");
  } catch (const JsonInputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(JsonInput, ParseErrorsNameTheFileLineAndColumn) {
  struct Case {
    std::string text, message;
  };
  const std::string deep = std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  const std::vector<Case> cases = {
      {R"({"a": 1, "a": 2})", R"(f.json: line 1, column 10: duplicate key "a" in the top-level object)"},
      {"{\"summary\": {\"events\": 1,\n  \"events\": 2}}", R"(f.json: line 2, column 3: duplicate key "events" in summary)"},
      {R"({"v": [{"x": 1}, {"x": 1, "x": 2}]})", R"(f.json: line 1, column 27: duplicate key "x" in v[1])"},
      {R"({"v": [[1, {"x": 1}], {"y": {"x": 1, "x": 2}}]})", R"(duplicate key "x" in v[1].y)"},
      {R"({"a\"b": 1, "a\"b": 2})", R"(f.json: line 1, column 13: duplicate key "a\"b")"},
      {R"({"events": 1e400})", "f.json: not valid JSON: line 1, column 12: number 1e400 is out of range"},
      {"[1,\n -1e400]", "f.json: not valid JSON: line 2, column 2: number -1e400 is out of range"},
      {R"({"schema": "gomalloc-report", )", "f.json: not valid JSON: line 1, column 31: syntax error"},
      {"", "f.json: not valid JSON: line 1, column 1: syntax error"},
      {"{} x", "f.json: not valid JSON: line 1, column 4: syntax error"},
      {"{\"a\": \"\xff\"}", "f.json: not valid JSON: line 1, column 8: syntax error"},
      {deep, "nested more than 100 levels deep"},
  };
  for (auto& c : cases) EXPECT_NE(parseError(c.text).find(c.message), std::string::npos) << c.text << "\n" << parseError(c.text);
}

TEST(JsonInput, AcceptsWhatIsOnlyRepeatedAcrossObjects) {
  const std::string deepest = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  for (const std::string& text : {std::string(R"({"a": {"x": 1}, "b": {"x": 1}, "x": [{"x": 1}, {"x": 2}]})"), deepest,
                                 std::string(R"({"n": 1.5e300, "s": "\u00e9"})")})
    EXPECT_EQ(parseJsonChecked(text, "f.json"), Json::parse(text)) << text;
}

std::string readError(const std::string& path, const JsonInput& in) {
  try {
    readJsonFile(path, in);
  } catch (const JsonInputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(JsonInput, FilesPipesDevicesAndDirectories) {
  ScratchDir dir("json-input");
  const std::string ok = (dir / "ok.json").string(), big = (dir / "big.json").string();
  spit(ok, R"({"a": [1, 2, 3]})");
  spit(big, std::string(2000, ' ') + "{}");
  const JsonInput small{"config file", "config files", 1024};
  EXPECT_EQ(readJsonFile(ok, small), Json::parse(R"({"a": [1, 2, 3]})"));
  struct Case {
    std::string path;
    JsonInput in;
    std::string message;
  };
  const std::vector<Case> cases = {
      {(dir / "missing.json").string(), kReportInput,
       (dir / "missing.json").string() + ": cannot read it: no such file or directory"},
      {dir.path().string(), kReportInput, dir.path().string() + ": is a directory, not a JSON file"},
      {big, small, "config file " + big + ": larger than 1 KiB, the size limit for config files"},
      {"/dev/zero", small, "config file /dev/zero: larger than 1 KiB, the size limit for config files"},
      {"/dev/zero", kRulesInput, "rules file /dev/zero: larger than 16 MiB, the size limit for rules files"},
      {"/dev/null", kReportInput, "/dev/null: not valid JSON: line 1, column 1"},
      {"", kConfigInput, "config file: an empty file name"},
  };
  for (auto& c : cases) EXPECT_EQ(readError(c.path, c.in).find(c.message), 0u) << readError(c.path, c.in);
  // A pipe: its size is only known once read.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string text = R"({"rules": []})";
  ASSERT_EQ(::write(fds[1], text.data(), text.size()), ssize_t(text.size()));
  ::close(fds[1]);
  EXPECT_EQ(readJsonFile("/dev/fd/" + std::to_string(fds[0]), kRulesInput), Json::parse(text));
  ::close(fds[0]);
}

TEST(JsonInput, LimitsAreNamedInUnits) {
  EXPECT_EQ(limitText(kReportInput.limit), "256 MiB");
  EXPECT_EQ(limitText(kConfigInput.limit), "16 MiB");
  EXPECT_EQ(limitText(1024), "1 KiB");
  EXPECT_EQ(limitText(1000), "1000 bytes");
}

// ---- the schema ----

const traces::ReplayProgram& program() {
  static const traces::ReplayProgram p = replay::synth::steady(6000, 3, 400, 3, 2000);
  return p;
}

Json replayJson(const std::string& backend, bool deterministic, std::initializer_list<std::pair<const char*, const char*>> sets = {}) {
  core::Config cfg;
  for (auto& [k, v] : sets) cfg.set(k, v);
  auto b = replay::makeBackend(backend, 2, cfg);
  replay::Options o;
  o.procs = 2;
  o.deterministic = deterministic;
  o.rssIntervalMs = 0;
  o.verify = backend == "go";
  return toJson(build(replay::run(program(), *b, o), ToolInfo{"gomalloc", "test", "go1.19.8"}));
}

// Reports of real replays: go (deterministic; concurrent with locked mcentrals, whose lock rows have members),
// system, null.
const Json& goJson() {
  static const Json j = replayJson("go", true);
  return j;
}
const Json& goLockedJson() {
  static const Json j = replayJson("go", false, {{"mcentral", "locked"}});
  return j;
}
const Json& systemJson() {
  static const Json j = replayJson("system", true);
  return j;
}
const Json& compareJson() {
  static const Json j = [] {
    CompareOptions o;
    o.trace = "synthetic";
    o.repeat = 2;
    o.deterministic = true;
    VariantSpec go{"go", "go", {}, ""}, sys{"system", "system", {}, ""};
    const CompareResult c = runCompare(o, {go, sys}, ToolInfo{"gomalloc", "test", "go1.19.8"}, [](size_t v, int) {
      return fromJson(v == 0 ? goJson() : systemJson());
    });
    return compareToJson(c);
  }();
  return j;
}

Json stripped(Json j) {
  stripVolatile(j);
  return j;
}

std::string schemaError(const Json& j) {
  try {
    checkAnySchema(j);
  } catch (const SchemaError& e) {
    return e.what();
  }
  return "ok";
}

TEST(ReportSchema, EveryBackendsReportsPass) {
  std::vector<std::pair<std::string, Json>> reports = {{"go", goJson()}, {"go locked", goLockedJson()},
                                                       {"system", systemJson()}, {"null", replayJson("null", false)}};
  Json preloaded = systemJson();  // as relabel() writes a preloaded backend's report
  preloaded["config"]["backend"] = "mimalloc";
  preloaded["config"]["library"] = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2";
  reports.emplace_back("mimalloc", preloaded);
  for (auto& [name, j] : reports) {
    EXPECT_EQ(schemaError(j), "ok") << name;
    EXPECT_TRUE(hasTimings(j)) << name;
    // Re-parsed from text as gate reads it.
    EXPECT_EQ(schemaError(parseJsonChecked(j.dump(2), name)), "ok") << name;
    // --no-timings: every time- and kernel-dependent field left out, and still a valid report.
    EXPECT_EQ(schemaError(stripped(j)), "ok") << name;
    EXPECT_FALSE(hasTimings(stripped(j))) << name;
  }
  EXPECT_EQ(schemaError(compareJson()), "ok");
  EXPECT_NE(goLockedJson().dump().find("\"members\""), std::string::npos);
}

// Every field stripVolatile removes is one the schema counts as a timing: put any one of them back into a
// --no-timings report and it is a report with timings (which then needs all of them).
TEST(ReportSchema, TheTimingFieldsAreExactlyWhatNoTimingsRemoves) {
  for (const Json* j : {&goJson(), &goLockedJson(), &systemJson()}) {
    const Json s = stripped(*j);
    const Json full = j->flatten(), flat = s.flatten();
    size_t removed = 0;
    for (auto& [ptr, v] : full.items()) {
      if (flat.contains(ptr)) continue;
      removed++;
      Json back = s;
      back[Json::json_pointer(ptr)] = v;
      EXPECT_TRUE(hasTimings(back)) << ptr;
    }
    EXPECT_GT(removed, 5u);
  }
}

struct Rule {
  const char* what;                   // the rule
  const Json* (*base)();              // the report it changes
  std::function<void(Json&)> change;  // how
  std::string message;                // the error, or "ok"
};

const Json* go() { return &goJson(); }
const Json* locked() { return &goLockedJson(); }
const Json* sys() { return &systemJson(); }
const Json* cmp() { return &compareJson(); }

TEST(ReportSchema, EachRule) {
  const std::vector<Rule> rules = {
      // Sections required by backend.
      {"go needs heap", go, [](Json& j) { j.erase("heap"); }, "heap: missing (required for the go backend)"},
      {"go needs locks", go, [](Json& j) { j.erase("locks"); }, "locks: missing (required for the go backend)"},
      {"go needs Go class fields", go, [](Json& j) { j["size_classes"][0].erase("mcache_hits"); },
       "size_classes[0].mcache_hits: missing (required for the go backend)"},
      {"go locks are never empty", go, [](Json& j) { j["locks"] = Json::array(); }, "locks: empty"},
      {"others have no heap", sys, [](Json& j) { j["heap"] = goJson()["heap"]; },
       "heap: unexpected in a report of the system backend (only go reports have it)"},
      {"others have no locks", sys, [](Json& j) { j["locks"] = goJson()["locks"]; }, "locks: unexpected"},
      {"others have no Go class fields", sys, [](Json& j) { j["size_classes"][0]["refills"] = 1; },
       "size_classes[0].refills: unexpected in a report of the system backend"},
      {"every section", sys, [](Json& j) { j.erase("summary"); }, "summary: missing"},
      {"every field", go, [](Json& j) { j["trace"].erase("digest"); }, "trace.digest: missing"},
      {"nested objects", go, [](Json& j) { j["heap"].erase("peak"); }, "heap.peak: missing"},
      {"nested fields", go, [](Json& j) { j["heap"]["peak"].erase("HeapInuse"); }, "heap.peak.HeapInuse: missing"},
      {"lock members", locked, [](Json& j) {
         for (auto& l : j["locks"])
           if (l.contains("members")) l["members"][0].erase("contended");
       },
       ".members[0].contended: missing"},
      // Rows.
      {"size classes when something was allocated", go, [](Json& j) { j["size_classes"] = Json::array(); },
       "size_classes: empty, but summary.allocs is"},
      {"no size classes when every allocation is zero-size", sys,
       [](Json& j) {
         j["size_classes"] = Json::array();
         j["summary"]["zero_size_allocs"] = j["summary"]["allocs"];
       },
       "ok"},
      {"procs", go, [](Json& j) { j["procs"] = Json::array(); }, "procs: empty"},
      {"rows are objects", go, [](Json& j) { j["procs"][1] = 7; }, "procs[1]: expected an object, found 7"},
      {"timeline heap figures", go, [](Json& j) { j["timeline"][0].erase("heap_idle_bytes"); },
       "timeline[0].heap_idle_bytes: missing (required when heap_inuse_bytes is a number)"},
      {"timeline rows without heap figures", sys, [](Json& j) { j["timeline"][0].erase("heap_idle_bytes"); }, "ok"},
      // Types.
      {"counts", go, [](Json& j) { j["summary"]["events"] = "5000"; },
       "summary.events: expected a non-negative integer, found a string \"5000\""},
      {"counts are not negative", go, [](Json& j) { j["summary"]["frees"] = -1; },
       "summary.frees: expected a non-negative integer, found -1"},
      {"counts are integers", go, [](Json& j) { j["heap"]["NumGC"] = 1.5; }, "heap.NumGC: expected a non-negative integer, found 1.5"},
      {"numbers", go, [](Json& j) { j["summary"]["ns_per_event"] = nullptr; },
       "summary.ns_per_event: expected a number, found null"},
      {"strings", go, [](Json& j) { j["trace"]["digest"] = 12; }, "trace.digest: expected a string, found 12"},
      {"booleans", go, [](Json& j) { j["interrupted"] = "no"; }, "interrupted: expected true or false, found a string \"no\""},
      {"objects", go, [](Json& j) { j["heap"] = Json::array(); }, "heap: expected an object, found an array"},
      {"arrays", go, [](Json& j) { j["size_classes"] = Json::object(); }, "size_classes: expected an array, found an object"},
      {"array elements", go, [](Json& j) { j["procs"][0]["threads"] = Json::array({0, -1}); },
       "procs[0].threads[1]: expected a non-negative integer, found -1"},
      {"settings are scalars", go, [](Json& j) { j["config"]["settings"]["gogc"] = Json::array({100}); },
       "config.settings.gogc: expected a string, a number or true/false, found"},
      {"null is not a count", go, [](Json& j) { j["size_classes"][0]["refills_from"]["grown"] = nullptr; },
       "size_classes[0].refills_from.grown: expected a non-negative integer, found null"},
      {"heap_inuse_bytes", go, [](Json& j) { j["timeline"][0]["heap_inuse_bytes"] = "x"; },
       "timeline[0].heap_inuse_bytes: expected a non-negative integer or null"},
      {"verify", go, [](Json& j) { j["verify"]["errors"] = Json::array({1}); }, "verify.errors[0]: expected a string, found 1"},
      {"long strings are cut", go, [](Json& j) { j["summary"]["events"] = std::string(100, 'x'); },
       "found a string \"" + std::string(37, 'x') + "...\""},
      // Values.
      {"known backends", go, [](Json& j) { j["config"]["backend"] = "tcmalloc2"; },
       "config.backend: 'tcmalloc2' is not one of go, system, jemalloc, tcmalloc, mimalloc, null"},
      {"touch", go, [](Json& j) { j["config"]["touch"] = "some"; }, "config.touch: 'some' is not one of none, first, pages, full"},
      {"version", go, [](Json& j) { j["version"] = 3; }, "version: 3 (this build reads versions 1 to 2)"},
      {"version's type", go, [](Json& j) { j["version"] = "1"; }, "version: expected a non-negative integer"},
      {"a schema", go, [](Json& j) { j.erase("schema"); }, "not a gomalloc report (no \"schema\" field"},
      {"a known schema", go, [](Json& j) { j["schema"] = "gomalloc-trace"; },
       "not a gomalloc report (\"schema\" is a string \"gomalloc-trace\""},
      {"an object", go, [](Json& j) { j = Json::array({1}); }, "not a gomalloc report (a JSON object), found an array"},
      // Timings: all or none.
      {"a timed report has every timing field", go, [](Json& j) { j["summary"].erase("wall_seconds"); },
       "summary.wall_seconds: missing (a report with timings has it; only --no-timings reports leave out"},
      {"... the timeline", go, [](Json& j) { j.erase("timeline"); }, "timeline: missing (a report with timings"},
      {"... lock times", go, [](Json& j) { j["locks"][0].erase("hold_ns"); }, "locks[0].hold_ns: missing (a report with timings"},
      {"... but not the optional ones", locked, [](Json& j) {
         j["summary"].erase("load_seconds");
         j["procs"][0].erase("busy_seconds");
       },
       "ok"},
      {"a --no-timings report has none", go, [](Json& j) { stripVolatile(j); }, "ok"},
      {"... and is typed all the same", go,
       [](Json& j) {
         stripVolatile(j);
         j["summary"]["events"] = true;
       },
       "summary.events: expected a non-negative integer, found true"},
      // Optional and unknown fields.
      {"optional fields may be absent", go,
       [](Json& j) {
         j.erase("verify");
         j["summary"].erase("address_digest");
       },
       "ok"},
      {"unknown fields are accepted", go,
       [](Json& j) {
         j["trace"]["warnings"] = Json::array({"event 3: free of a dead id, skipped"});
         j["trace"]["lenient"] = Json{{"skipped_frees", 1}, {"ts_repairs", 2}};
         j["summary"]["something_new"] = Json{{"x", 1}};
         j["later_section"] = Json::array();
       },
       "ok"},
      {"known optional fields are typed", go, [](Json& j) { j["trace"]["warnings"] = "w"; },
       "trace.warnings: expected an array of strings, found a string \"w\""},
      {"trace.lenient is an object", go, [](Json& j) { j["trace"]["lenient"] = 1; }, "trace.lenient: expected an object, found 1"},
      // Compare reports.
      {"compare: variants", cmp, [](Json& j) { j["variants"] = Json::array(); }, "variants: empty"},
      {"compare: runs", cmp, [](Json& j) { j["variants"][1]["reports"] = Json::array(); }, "variants[1].reports: empty"},
      {"compare: each run is a replay report", cmp, [](Json& j) { j["variants"][0]["reports"][1].erase("heap"); },
       "variants[0].reports[1].heap: missing (required for the go backend)"},
      {"compare: runs are reports", cmp, [](Json& j) { j["variants"][0]["reports"][0] = 3; },
       "variants[0].reports[0]: expected a replay report (a JSON object), found 3"},
      {"compare: ... of the variant's backend", cmp, [](Json& j) { j["variants"][1]["allocator"] = "null"; },
       "variants[1].reports[0].config.backend: 'system', but the variant's allocator is 'null'"},
      {"compare: names differ", cmp, [](Json& j) { j["variants"][1]["name"] = "go"; },
       "variants[1].name: 'go' is also the name of variants[0]"},
      {"compare: the baseline is the first variant", cmp, [](Json& j) { j["baseline"] = "system"; },
       "baseline: 'system' is not the first variant, 'go'"},
      {"compare: options", cmp, [](Json& j) { j["options"]["repeat"] = "2"; }, "options.repeat: expected a non-negative integer"},
      {"compare: alpha", cmp, [](Json& j) { j["options"]["alpha"] = 2; }, "options.alpha: not between 0 and 1"},
      {"compare: settings", cmp, [](Json& j) { j["variants"][0]["settings"] = Json{{"gogc", nullptr}}; },
       "variants[0].settings.gogc: expected a string, a number or true/false, found null"},
      {"compare: metrics", cmp, [](Json& j) { j.erase("metrics"); }, "metrics: missing"},
      {"compare: version", cmp, [](Json& j) { j["version"] = 3; }, "version: 3 (this build reads versions 1 to 2)"},
      {"compare: unknown fields", cmp, [](Json& j) { j["variants"][0]["note"] = "x"; }, "ok"},
  };
  for (const Rule& r : rules) {
    Json j = *r.base();
    r.change(j);
    const std::string got = schemaError(j);
    if (r.message == "ok") EXPECT_EQ(got, "ok") << r.what;
    else EXPECT_NE(got.find(r.message), std::string::npos) << r.what << "\n  got:      " << got << "\n  expected: " << r.message;
  }
}

// Whatever the schema accepts, the readers read: any field of a real report deleted or given another type is
// either refused by the schema or read by fromJson / compareFromJson without an error.
TEST(ReportSchema, WhatPassesIsReadable) {
  const std::vector<Json> variants = {"x", -1, 1.5, nullptr, Json::object(), Json::array(), true};
  size_t accepted = 0, refused = 0;
  for (const Json* base : {&goJson(), &goLockedJson(), &systemJson(), &compareJson()}) {
    const bool compare = base == &compareJson();
    std::set<std::string> pointers;
    const Json flat = base->flatten();
    for (auto& [ptr, v] : flat.items()) {
      // Rows are alike: the first two of each array are enough.
      static const std::regex laterRow("/([2-9]|[1-9][0-9]+)(/|$)");
      if (std::regex_search(ptr, laterRow)) continue;
      std::string p = ptr;
      if (compare) {
        if (p.rfind("/metrics/", 0) == 0) continue;  // the gate does not read them
        // The runs are replay reports, changed field by field above: here only the runs themselves.
        const size_t runs = p.find("/reports/");
        if (runs != std::string::npos) p = p.substr(0, p.find('/', runs + 9));
      }
      for (; !p.empty(); p = p.substr(0, p.rfind('/'))) pointers.insert(p);
    }
    for (const std::string& ptr : pointers) {
      const Json::json_pointer jp(ptr);
      std::vector<Json> changed;
      for (const Json& v : variants) {
        changed.push_back(*base);
        changed.back()[jp] = v;
      }
      if (base->at(jp.parent_pointer()).is_object()) {
        changed.push_back(*base);
        changed.back()[jp.parent_pointer()].erase(jp.back());
      }
      for (const Json& j : changed) {
        if (schemaError(j) != "ok") {
          refused++;
          continue;
        }
        accepted++;
        if (compare) {
          EXPECT_NO_THROW(compareFromJson(j)) << ptr;
        } else if (hasTimings(j)) {
          EXPECT_NO_THROW(fromJson(j)) << ptr;
        }
      }
    }
  }
  EXPECT_GT(refused, 1000u);
  EXPECT_GT(accepted, 50u);
}

}  // namespace
}  // namespace gomalloc::reports
