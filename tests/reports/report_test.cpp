// Reports: built from real replays, rendered, parsed back, checked against docs/report.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "replay/basic_backends.h"
#include "replay/go_backend.h"
#include "replay/replayer.h"
#include "replay/synth.h"
#include "reports/preload.h"
#include "reports/render.h"
#include "reports/schema.h"

namespace gomalloc::reports {
namespace {

using Json = nlohmann::ordered_json;

replay::Options options(int procs, bool deterministic) {
  replay::Options o;
  o.procs = procs;
  o.deterministic = deterministic;
  o.rssIntervalMs = deterministic ? 0 : 1;  // the sampler is a thread: only in the Concurrent tests
  o.verify = true;
  return o;
}

const traces::ReplayProgram& program() {
  static const traces::ReplayProgram p = replay::synth::steady(30000, 3, 400, 5, 6000);
  return p;
}

Report goReport(int procs, bool deterministic, std::initializer_list<std::pair<const char*, const char*>> sets = {}) {
  core::Config cfg;
  for (auto& [k, v] : sets) cfg.set(k, v);
  replay::GoBackend b(cfg, procs);
  return build(replay::run(program(), b, options(procs, deterministic)), ToolInfo{"gomalloc", "test", "go1.19.8"});
}

Report systemReport() {
  replay::SystemBackend b;
  return build(replay::run(program(), b, options(2, true)), ToolInfo{"gomalloc", "test", "go1.19.8"});
}

TEST(ReportDeterministic, TwoRunsGiveIdenticalJsonOnceTimingsAreRemoved) {
  for (auto sets : {std::vector<std::pair<const char*, const char*>>{},
                    std::vector<std::pair<const char*, const char*>>{{"mcentral", "locked"}, {"gogc", "25"}}}) {
    std::string dumps[2];
    for (auto& d : dumps) {
      core::Config cfg;
      for (auto& [k, v] : sets) cfg.set(k, v);
      replay::GoBackend b(cfg, 2);
      Json j = toJson(build(replay::run(program(), b, options(2, true)), ToolInfo{"gomalloc", "test", "go1.19.8"}));
      stripVolatile(j);
      d = j.dump(2);
    }
    EXPECT_EQ(dumps[0], dumps[1]);
    EXPECT_EQ(dumps[0].find("wall_seconds"), std::string::npos);
    EXPECT_NE(dumps[0].find("address_digest"), std::string::npos);
  }
}

TEST(ReportJson, HasTheStableFields) {
  Json j = toJson(goReport(1, true));
  EXPECT_EQ(j["schema"], "gomalloc-report");
  EXPECT_EQ(j["version"], 2);
  for (const char* k : {"events", "wall_seconds", "ns_per_event", "gc_cycles", "peak_rss_bytes"})
    EXPECT_TRUE(j["summary"].contains(k)) << k;
  for (const char* k : {"HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "HeapSys", "HeapObjects"})
    EXPECT_TRUE(j["heap"][k].is_number_unsigned()) << k;
  ASSERT_FALSE(j["size_classes"].empty());
  for (auto& c : j["size_classes"])
    for (const char* k : {"class", "size", "allocs", "frees", "mcache_hits", "refills"})
      EXPECT_TRUE(c[k].is_number_unsigned()) << k;
  ASSERT_FALSE(j["locks"].empty());
  for (auto& l : j["locks"]) {
    EXPECT_TRUE(l["name"].is_string());
    for (const char* k : {"acquisitions", "contended", "wait_ns"}) EXPECT_TRUE(l[k].is_number_unsigned()) << k;
  }
  ASSERT_GE(j["timeline"].size(), 2u);
  for (auto& t : j["timeline"]) {
    EXPECT_TRUE(t["t_ms"].is_number());
    EXPECT_TRUE(t["rss_bytes"].is_number_unsigned());
    EXPECT_TRUE(t.contains("heap_inuse_bytes"));
  }
  EXPECT_EQ(j["config"]["backend"], "go");
  EXPECT_EQ(j["config"]["settings"]["preset"], "go1.19");
  EXPECT_EQ(j["summary"]["events"], program().events);
  EXPECT_EQ(j["summary"]["gc_events"], program().gcBarriers);
  EXPECT_EQ(j["verify"]["passed"], true);
  // The text parses back as the same JSON.
  EXPECT_EQ(Json::parse(renderJson(goReport(1, true))).at("schema"), "gomalloc-report");
}

TEST(ReportJson, SizeClassRowsAddUpAndOnlyUsedClassesAppear) {
  Report r = goReport(1, true);
  uint64_t allocs = 0;
  for (auto& c : r.sizeClasses) {
    EXPECT_TRUE(c.allocs > 0 || c.frees > 0);
    allocs += c.allocs;
    ASSERT_TRUE(c.go);
    EXPECT_LE(c.go->mcacheHits(), c.allocs);
    EXPECT_GE(c.hitRate(), 0.0);
    EXPECT_LE(c.hitRate(), 1.0);
    if (c.cls != 0) {
      EXPECT_GE(c.go->bytesAllocated, c.bytesRequested);
      EXPECT_EQ(c.go->refills, c.go->refillFrom[0] + c.go->refillFrom[1] + c.go->refillFrom[2] + c.go->refillFrom[3]);
    }
  }
  EXPECT_EQ(allocs, r.summary.allocs - r.summary.zeroSizeAllocs);
  EXPECT_EQ(r.sizeClasses.back().cls, 0u) << "the large row comes last";
}

TEST(ReportJson, NonGoBackendsLeaveGoSectionsOut) {
  Json j = toJson(systemReport());
  EXPECT_FALSE(j.contains("heap"));
  EXPECT_FALSE(j.contains("locks"));
  EXPECT_FALSE(j.contains("verify"));
  ASSERT_FALSE(j["size_classes"].empty());
  EXPECT_FALSE(j["size_classes"][0].contains("mcache_hits"));
  EXPECT_TRUE(j["size_classes"][0].contains("allocs"));
  EXPECT_EQ(j["summary"]["gc_cycles"], 0);
  EXPECT_EQ(j["config"]["settings"]["malloc"], "glibc");
}

TEST(ReportJson, RoundTripsThroughFromJson) {
  for (const Report& r : {goReport(2, true), systemReport()}) {
    Json a = toJson(r);
    Json b = toJson(fromJson(Json::parse(a.dump())));
    EXPECT_EQ(a.dump(), b.dump());
  }
}

TEST(ReportJson, FromJsonNamesWhatIsWrong) {
  Json j = toJson(systemReport());
  auto message = [](const Json& bad) {
    try {
      fromJson(bad);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Json a = j;
  a["summary"].erase("events");
  EXPECT_EQ(message(a), "report JSON: summary.events: missing");
  Json b = j;
  b["size_classes"][0]["allocs"] = "many";
  EXPECT_EQ(message(b), "report JSON: size_classes[0].allocs: expected a non-negative integer");
  Json c = j;
  c["schema"] = "something-else";
  EXPECT_NE(message(c).find("schema"), std::string::npos);
  Json d = j;
  d["version"] = 3;
  EXPECT_NE(message(d).find("version 3 (this build reads versions 1 to 2)"), std::string::npos);
}

// Every field the JSON can hold is documented in docs/report.md (as `path` in a table), and every documented
// field exists in some report (go, locked-mcentral go, or system).
void paths(const Json& j, const std::string& prefix, std::set<std::string>& out) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      std::string key = k;
      if (prefix == "config.settings.") key = "*";
      // The malloc's own figures, named as each allocator names them (a table of their own in the docs).
      if (prefix == "allocator_stats.at_end." || (prefix == "allocator_stats.at_gc[]." && k != "event" && k != "gc"))
        key = "*";
      paths(v, prefix + key + ".", out);
    }
  } else if (j.is_array() && !j.empty() && (j[0].is_object())) {
    for (auto& e : j) paths(e, prefix.substr(0, prefix.size() - 1) + "[].", out);
  } else {
    out.insert(prefix.substr(0, prefix.size() - 1));
  }
}

TEST(ReportJson, ConcurrentEveryFieldIsDocumentedAndEveryDocumentedFieldExists) {
  std::ifstream doc(std::string(GOMALLOC_SOURCE_DIR) + "/docs/report.md");
  ASSERT_TRUE(doc) << "docs/report.md is missing";
  std::stringstream ss;
  ss << doc.rdbuf();
  std::set<std::string> documented;
  std::regex row(R"(^\| `([A-Za-z0-9_.\[\]*]+)`)");
  std::string line;
  bool inFields = false;
  while (std::getline(ss, line)) {
    if (line.rfind("## ", 0) == 0) inFields = line == "## JSON fields";
    std::smatch m;
    if (inFields && std::regex_search(line, m, row)) documented.insert(m[1]);
  }
  EXPECT_GT(documented.size(), 50u);
  std::set<std::string> produced;
  Report go = goReport(2, false, {{"mcentral", "locked"}});
  go.config.library = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";  // as a preloaded backend's report has it
  paths(toJson(go), "", produced);
  paths(toJson(goReport(1, true)), "", produced);
  paths(toJson(systemReport()), "", produced);
  for (auto& p : produced) EXPECT_TRUE(documented.count(p)) << p << " is not documented in docs/report.md";
  for (auto& d : documented) EXPECT_TRUE(produced.count(d)) << d << " is documented but never produced";
}

TEST(ReportTable, ConcurrentCompactSummaryWithUsedClassesAndLocks) {
  Report r = goReport(2, false, {{"mcentral", "locked"}});
  std::string t = renderTable(r, TableOptions{true, false});  // every class (the large row has few allocations)
  EXPECT_NE(t.find("backend   go, 2 Ps, concurrent, touch=pages"), std::string::npos) << t;
  EXPECT_NE(t.find("ns/event"), std::string::npos);
  EXPECT_NE(t.find("size classes (used)"), std::string::npos);
  EXPECT_NE(t.find("large"), std::string::npos);
  EXPECT_NE(t.find("mcentral ("), std::string::npos) << t;
  EXPECT_NE(t.find("mheap"), std::string::npos);
  EXPECT_NE(t.find("heap verifier passed"), std::string::npos);
  EXPECT_EQ(t.find("INTERRUPTED"), std::string::npos);
  r.interrupted = true;
  EXPECT_NE(renderTable(r).find("INTERRUPTED"), std::string::npos);
  std::string s = renderTable(systemReport());
  EXPECT_EQ(s.find("HeapInuse"), std::string::npos);
  EXPECT_NE(s.find("malloc=glibc"), std::string::npos);
}

// gc_cycles: one row per cycle with every figure (go), through JSON and back, valid against the schema; a row
// with only what go-runtime knows (the rest absent, not 0) too; a wrong type is named.
TEST(ReportJson, GcCyclesRoundTripAndMatchTheSchema) {
  Report r = goReport(1, true);
  ASSERT_TRUE(r.gcCycles);
  ASSERT_EQ(r.gcCycles->size(), r.heap->numGC);
  Json j = toJson(r);
  ASSERT_EQ(j["gc_cycles"].size(), r.heap->numGC);
  for (const Json& c : j["gc_cycles"])
    for (const char* k : {"cycle", "forced", "concurrent", "mark_start_event", "end_event", "heap_start", "heap_end",
                          "heap_marked", "goal", "trigger", "next_goal", "next_trigger", "heap_inuse_before",
                          "heap_inuse_after"})
      EXPECT_TRUE(c.contains(k)) << k << " in " << c.dump();
  EXPECT_NO_THROW(checkReportSchema(j));
  GcCycleRow partial;
  partial.cycle = 7;
  partial.forced = true;
  partial.heapStart = 4u << 20;
  partial.heapMarked = 1u << 20;
  r.gcCycles->push_back(partial);
  j = toJson(r);
  EXPECT_FALSE(j["gc_cycles"].back().contains("end_event"));
  EXPECT_FALSE(j["gc_cycles"].back().contains("goal"));
  EXPECT_NO_THROW(checkReportSchema(j));
  const Report back = fromJson(Json::parse(j.dump()));
  ASSERT_TRUE(back.gcCycles);
  EXPECT_EQ(*back.gcCycles, *r.gcCycles);
  EXPECT_EQ(toJson(back).dump(), j.dump());
  Json bad = j;
  bad["gc_cycles"][0]["goal"] = "big";
  EXPECT_THROW(checkReportSchema(bad), SchemaError);
  Json old = j;  // a report written before gc_cycles and timeline[].events
  old.erase("gc_cycles");
  for (auto& t : old["timeline"]) t.erase("events");
  EXPECT_NO_THROW(checkReportSchema(old));
  EXPECT_FALSE(fromJson(old).gcCycles);
}

// The table: the top size classes by allocations and the first and last GC cycles, each saying what it left out;
// TableOptions show every row.
TEST(ReportTable, TopClassesAndAPerGcListWithTheRestInJson) {
  Report r = goReport(1, true);
  std::vector<ClassRow> classes;
  for (uint32_t c = 1; c <= 20; c++) {
    ClassRow row = r.sizeClasses.front();
    row.cls = c;
    row.size = c * 16;
    row.allocs = c == 3 ? 1 : 1000 + c;  // class 3 has the fewest
    classes.push_back(row);
  }
  r.sizeClasses = classes;
  std::vector<GcCycleRow> cycles;
  for (uint64_t n = 1; n <= 20; n++) {
    GcCycleRow c = r.gcCycles->front();
    c.cycle = n;
    c.endEvent = n * 1000;
    c.forced = n == 20;
    cycles.push_back(c);
  }
  r.gcCycles = cycles;
  const std::string t = renderTable(r);
  EXPECT_NE(t.find("size classes (the 15 of 20 used with the most allocations, in size order; the other 5 have "
                   "4,013 allocations: --all-classes or JSON for them)"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("\n    3      48 "), std::string::npos) << t;  // class 3 (the fewest allocations) is left out
  EXPECT_NE(t.find("\n   20     320 "), std::string::npos) << t;
  EXPECT_NE(t.find("GC cycles (20; gctrace: heap when the mark began -> when it ended -> marked, the goal it ran "
                   "against; the first 10 and the last 3)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("... 7 cycles left out (--all-gc-cycles, or gc_cycles in the JSON report)"), std::string::npos) << t;
  EXPECT_NE(t.find("\n    10        10,000 "), std::string::npos) << t;
  EXPECT_EQ(t.find("\n    11        11,000 "), std::string::npos) << t;
  EXPECT_NE(t.find("\n    18        18,000 "), std::string::npos) << t;
  EXPECT_NE(t.find("  forced\n"), std::string::npos) << t;
  const std::string all = renderTable(r, TableOptions{true, true});
  EXPECT_NE(all.find("size classes (used)"), std::string::npos);
  EXPECT_NE(all.find("\n    3      48 "), std::string::npos) << all;
  EXPECT_NE(all.find("\n    11        11,000 "), std::string::npos) << all;
  EXPECT_EQ(all.find("left out"), std::string::npos);
  // Other backends have no cycles: no list.
  EXPECT_EQ(renderTable(systemReport()).find("GC cycles ("), std::string::npos);
}

TEST(ReportCsv, BlocksWithHeadersNamingTheirTable) {
  std::string csv = renderCsv(goReport(1, true));
  std::istringstream in(csv);
  std::string line;
  std::set<std::string> tables;
  bool header = true;
  size_t columns = 0;
  while (std::getline(in, line)) {
    if (line.empty()) {
      header = true;
      continue;
    }
    std::string first = line.substr(0, line.find(','));
    if (header) {
      EXPECT_EQ(first, "table");
      columns = std::count(line.begin(), line.end(), ',');
      header = false;
    } else {
      tables.insert(first);
      if (line.find('"') == std::string::npos) {
        EXPECT_EQ(size_t(std::count(line.begin(), line.end(), ',')), columns) << line;
      }
    }
  }
  EXPECT_EQ(tables, (std::set<std::string>{"summary", "size_classes", "locks", "procs", "gc_cycles", "timeline", "latency"}));
  EXPECT_NE(csv.find("table,cycle,forced,concurrent,mark_start_event,end_event,heap_start,"), std::string::npos);
  EXPECT_NE(csv.find("summary,summary.events,"), std::string::npos);
  EXPECT_NE(csv.find("summary,heap.HeapInuse,"), std::string::npos);
  EXPECT_EQ(parseFormat("csv"), Format::Csv);
  EXPECT_FALSE(parseFormat("xml"));
}

TEST(ReportPreload, MissingLibraryIsAClearError) {
  auto dir = std::filesystem::temp_directory_path() / "gomalloc-no-libs";
  std::filesystem::create_directories(dir);
  try {
    findPreloadLibrary("jemalloc", {dir.string()});
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("libjemalloc.so.2"), std::string::npos) << m;
    EXPECT_NE(m.find("libjemalloc2"), std::string::npos) << m;
    EXPECT_NE(m.find(dir.string()), std::string::npos) << m;
  }
  EXPECT_THROW(findPreloadLibrary("go"), std::runtime_error);
  EXPECT_TRUE(isPreloadBackend("mimalloc"));
  EXPECT_FALSE(isPreloadBackend("system"));
}

TEST(ReportPreload, RelabelChecksTheLibraryWasInUse) {
  Report r = systemReport();
  EXPECT_THROW(relabel(r, "jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"), std::runtime_error);
  for (auto& [k, v] : r.config.settings)
    if (k == "malloc") v = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  Report j = relabel(r, "jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
  EXPECT_EQ(j.config.backend, "jemalloc");
  EXPECT_EQ(toJson(j)["config"]["library"], "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
}

TEST(ReportPreload, ChildSeesThePreloadedLibrary) {
  std::string lib;
  try {
    lib = findPreloadLibrary("jemalloc");
  } catch (const std::runtime_error&) {
    GTEST_SKIP() << "jemalloc is not installed";
  }
  ChildOutput c = runPreloaded("/bin/sh", {"-c", "echo \"$LD_PRELOAD\"; grep -q libjemalloc /proc/self/maps && echo mapped; exit 3"}, lib);
  EXPECT_EQ(c.exitCode, 3);
  EXPECT_EQ(c.out.substr(0, c.out.find('\n')), lib);
  EXPECT_NE(c.out.find("\nmapped"), std::string::npos) << c.out;
  EXPECT_THROW(runPreloaded("/nonexistent/gomalloc", {}, lib), std::runtime_error);
}

}  // namespace
}  // namespace gomalloc::reports
