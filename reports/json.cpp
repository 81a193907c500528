// The report's JSON form, both ways. Field names are the contract documented in docs/report.md.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "reports/render.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

namespace {

Json figures(const replay::HeapFigures& h) {
  return Json{{"HeapAlloc", h.heapAlloc}, {"HeapInuse", h.heapInuse},       {"HeapIdle", h.heapIdle},
              {"HeapReleased", h.heapReleased}, {"HeapSys", h.heapSys}, {"HeapObjects", h.heapObjects}};
}

Json lockJson(const LockRow& l) {
  Json j{{"name", l.name},          {"acquisitions", l.acquisitions}, {"contended", l.contended},
         {"wait_ns", l.waitNs},     {"max_wait_ns", l.maxWaitNs},     {"hold_ns", l.holdNs}};
  if (!l.members.empty()) {
    Json m = Json::array();
    for (auto& x : l.members) m.push_back(lockJson(x));
    j["members"] = m;
  }
  return j;
}

Json classJson(const ClassRow& c) {
  Json j{{"class", c.cls}, {"size", c.size}, {"large", c.cls == 0}, {"allocs", c.allocs}, {"frees", c.frees},
         {"bytes_requested", c.bytesRequested}};
  if (c.go) {
    const GoClassFields& g = *c.go;
    j["mcache_hits"] = g.mcacheHits();
    j["hit_rate"] = c.hitRate();
    j["tiny_hits"] = g.tinyHits;
    j["fast_hits"] = g.fastHits;
    j["slow_hits"] = g.slowHits;
    j["refills"] = g.refills;
    Json from = Json::object();
    for (size_t k = 0; k < kRefillSourceKeys.size(); k++) from[kRefillSourceKeys[k]] = g.refillFrom[k];
    j["refills_from"] = from;
    j["swept_frees"] = g.sweptFrees;
    j["bytes_allocated"] = g.bytesAllocated;
    j["internal_fragmentation"] = c.internalFragmentation();
    j["spans_in_use"] = g.spansInUse;
    j["spans_in_use_peak"] = g.spansInUsePeak;
    j["tail_waste_per_span"] = g.tailWastePerSpan;
    j["tail_waste_bytes_peak"] = c.tailWastePeakBytes();
    j["large_spans"] = g.largeSpans;
  }
  if (c.runtimeMallocs) j["runtime_mallocs"] = *c.runtimeMallocs;
  if (c.runtimeFrees) j["runtime_frees"] = *c.runtimeFrees;
  return j;
}

// Reads fields with error messages that name the path ("report JSON: summary.events: missing").
struct In {
  const Json& j;
  std::string path;

  [[noreturn]] void bad(const std::string& key, const char* why) const {
    throw std::runtime_error(fmt::format("report JSON: {}{}: {}", path, key, why));
  }
  bool has(const std::string& key) const { return j.is_object() && j.contains(key) && !j[key].is_null(); }
  const Json& at(const std::string& key) const {
    if (!j.is_object() || !j.contains(key)) bad(key, "missing");
    return j[key];
  }
  In obj(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_object()) bad(key, "expected an object");
    return In{v, path + key + "."};
  }
  const Json& arr(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_array()) bad(key, "expected an array");
    return v;
  }
  uint64_t u64(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
      bad(key, "expected a non-negative integer");
    return v.get<uint64_t>();
  }
  double num(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_number()) bad(key, "expected a number");
    return v.get<double>();
  }
  bool boolean(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_boolean()) bad(key, "expected true or false");
    return v.get<bool>();
  }
  std::string str(const std::string& key) const {
    const Json& v = at(key);
    if (!v.is_string()) bad(key, "expected a string");
    return v.get<std::string>();
  }
  In item(const std::string& key, size_t i) const { return In{arr(key)[i], fmt::format("{}{}[{}].", path, key, i)}; }
};

replay::HeapFigures figuresFrom(const In& in) {
  return replay::HeapFigures{in.u64("HeapAlloc"), in.u64("HeapInuse"), in.u64("HeapIdle"),
                             in.u64("HeapReleased"), in.u64("HeapSys"), in.u64("HeapObjects")};
}

LockRow lockFrom(const In& in) {
  auto timed = [&](const char* key) { return in.has(key) ? in.u64(key) : 0; };  // (absent: --no-timings)
  LockRow l{in.str("name"),        in.u64("acquisitions"), in.u64("contended"), timed("wait_ns"),
            timed("max_wait_ns"),  timed("hold_ns"),       {}};
  if (in.has("members"))
    for (size_t i = 0; i < in.arr("members").size(); i++) l.members.push_back(lockFrom(in.item("members", i)));
  return l;
}

ClassRow classFrom(const In& in) {
  ClassRow c;
  c.cls = uint32_t(in.u64("class"));
  c.size = in.u64("size");
  c.allocs = in.u64("allocs");
  c.frees = in.u64("frees");
  c.bytesRequested = in.u64("bytes_requested");
  if (in.has("mcache_hits")) {
    GoClassFields g;
    g.tinyHits = in.u64("tiny_hits");
    g.fastHits = in.u64("fast_hits");
    g.slowHits = in.u64("slow_hits");
    g.refills = in.u64("refills");
    In from = in.obj("refills_from");
    for (size_t k = 0; k < kRefillSourceKeys.size(); k++) g.refillFrom[k] = from.u64(kRefillSourceKeys[k]);
    g.sweptFrees = in.u64("swept_frees");
    g.bytesAllocated = in.u64("bytes_allocated");
    g.spansInUse = in.u64("spans_in_use");
    g.spansInUsePeak = in.u64("spans_in_use_peak");
    g.tailWastePerSpan = in.u64("tail_waste_per_span");
    g.largeSpans = in.u64("large_spans");
    c.go = g;
  }
  if (in.has("runtime_mallocs")) c.runtimeMallocs = in.u64("runtime_mallocs");
  if (in.has("runtime_frees")) c.runtimeFrees = in.u64("runtime_frees");
  return c;
}

// A GC cycle's optional fields under their JSON names, in the report's order.
template <class Row>
auto gcCycleFields(Row& c) {
  using Field = decltype(&c.heapStart);
  return std::array<std::pair<const char*, Field>, 11>{{{"mark_start_event", &c.markStartEvent},
                                                        {"end_event", &c.endEvent},
                                                        {"heap_start", &c.heapStart},
                                                        {"heap_end", &c.heapEnd},
                                                        {"heap_marked", &c.heapMarked},
                                                        {"goal", &c.goal},
                                                        {"trigger", &c.trigger},
                                                        {"next_goal", &c.nextGoal},
                                                        {"next_trigger", &c.nextTrigger},
                                                        {"heap_inuse_before", &c.heapInuseBefore},
                                                        {"heap_inuse_after", &c.heapInuseAfter}}};
}

std::optional<double> optNum(const In& in, const std::string& key) {
  return in.has(key) ? std::optional<double>(in.num(key)) : std::nullopt;
}

}  // namespace

Json toJson(const Report& r) {
  Json j;
  j["schema"] = kSchema;
  j["version"] = kVersion;
  j["tool"] = Json{{"name", r.tool.name}, {"version", r.tool.version}, {"go_model", r.tool.goModel}};
  j["interrupted"] = r.interrupted;
  const TraceSection& t = r.trace;
  j["trace"] = Json{{"path", t.path},
                    {"digest", t.digest},
                    {"events", t.events},
                    {"threads", t.threads},
                    {"slots", t.slots},
                    {"gc_events", t.gcEvents},
                    {"live_at_end", t.liveAtEnd},
                    {"skipped_frees", t.skippedFrees},
                    {"implicit_frees", t.implicitFrees},
                    {"ts_backwards", t.tsBackwards},
                    {"warnings", t.warnings}};
  const ConfigSection& c = r.config;
  Json config{{"backend", c.backend}};
  if (!c.library.empty()) config["library"] = c.library;
  config["procs"] = c.procs;
  config["deterministic"] = c.deterministic;
  config["touch"] = c.touch;
  config["rss_interval_ms"] = c.rssIntervalMs;
  Json settings = Json::object();
  for (auto& [k, v] : c.settings) settings[k] = settingToJson(v);
  config["settings"] = settings;
  j["config"] = config;

  const Summary& s = r.summary;
  Json sum{{"events", s.events},
           {"allocs", s.allocs},
           {"frees", s.frees},
           {"gc_events", s.gcEvents},
           {"gc_cycles", s.gcCycles},
           {"forced_gc_cycles", s.forcedGcCycles},
           {"pacer_stops", s.pacerStops},
           {"bytes_requested", s.bytesRequested},
           {"live_objects", s.liveObjects},
           {"live_bytes_requested", s.liveBytesRequested},
           {"zero_size_allocs", s.zeroSizeAllocs},
           {"wall_seconds", s.wallSeconds},
           {"ns_per_event", s.nsPerEvent},
           {"events_per_second", s.eventsPerSecond},
           {"load_seconds", s.loadSeconds},
           {"peak_rss_bytes", s.peakRssBytes},
           {"peak_rss_scope", s.peakRssScope},
           {"rss_start_bytes", s.rssStartBytes},
           {"rss_end_bytes", s.rssEndBytes}};
  if (s.addressDigest) sum["address_digest"] = *s.addressDigest;
  j["summary"] = sum;

  Json procs = Json::array();
  for (const ProcRow& p : r.procs) {
    Json row{{"p", p.p}, {"threads", p.threads}, {"allocs", p.allocs}, {"frees", p.frees},
             {"dependency_waits", p.dependencyWaits}};
    if (p.busySeconds) row["busy_seconds"] = *p.busySeconds;
    if (p.barrierSeconds) row["barrier_wait_seconds"] = *p.barrierSeconds;
    if (p.dependencySeconds) row["dependency_wait_seconds"] = *p.dependencySeconds;
    procs.push_back(row);
  }
  j["procs"] = procs;

  if (r.heap) {
    const HeapSection& h = *r.heap;
    Json heap = figures(h.final);
    heap["TotalAlloc"] = h.totalAlloc;
    heap["Mallocs"] = h.mallocs;
    heap["Frees"] = h.frees;
    heap["NextGC"] = h.nextGC;
    heap["NumGC"] = h.numGC;
    heap["NumForcedGC"] = h.numForcedGC;
    if (!h.baseline) {  // the Go model's own figures; a go-runtime report (with a baseline) has none
      heap["HeapLive"] = h.heapLive.value_or(0);
      heap["HeapMarked"] = h.heapMarked.value_or(0);
      heap["ArenaReserved"] = h.arenaReserved.value_or(0);
      heap["ScavengedBytes"] = h.scavengedBytes.value_or(0);
    }
    heap["peak"] = figures(h.peak);
    if (h.baseline) heap["baseline"] = figures(*h.baseline);
    if (h.baselineScanBytes) heap["baseline_scan_bytes"] = *h.baselineScanBytes;
    if (h.pacerGcEvents) heap["pacer_gc_events"] = *h.pacerGcEvents;
    if (h.pacerConsMarks) heap["pacer_cons_marks"] = *h.pacerConsMarks;
    if (h.firstPacedScanWork) heap["first_paced_scan_work"] = *h.firstPacedScanWork;
    if (h.stackScanBytes) heap["stack_scan_bytes"] = *h.stackScanBytes;
    if (h.globalsScanBytes) heap["globals_scan_bytes"] = *h.globalsScanBytes;
    if (h.pacerGcStarts) heap["pacer_gc_starts"] = *h.pacerGcStarts;
    j["heap"] = heap;
  }

  Json classes = Json::array();
  for (const ClassRow& c : r.sizeClasses) classes.push_back(classJson(c));
  j["size_classes"] = classes;

  if (r.locks) {
    Json locks = Json::array();
    for (const LockRow& l : *r.locks) locks.push_back(lockJson(l));
    j["locks"] = locks;
  }

  if (r.gcCycles) {
    Json cycles = Json::array();
    for (const GcCycleRow& c : *r.gcCycles) {
      Json row{{"cycle", c.cycle}, {"forced", c.forced}, {"concurrent", c.concurrent}};
      for (const auto& [key, v] : gcCycleFields(c))
        if (*v) row[key] = **v;
      cycles.push_back(row);
    }
    j["gc_cycles"] = cycles;
  }

  Json timeline = Json::array();
  for (const TimelineRow& t : r.timeline) {
    Json row{{"t_ms", t.tMs}, {"event", t.event}};
    if (t.events) row["events"] = *t.events;
    row["rss_bytes"] = t.rssBytes;
    if (t.heap) {
      row["heap_inuse_bytes"] = t.heap->heapInuse;
      row["heap_idle_bytes"] = t.heap->heapIdle;
      row["heap_released_bytes"] = t.heap->heapReleased;
      row["heap_sys_bytes"] = t.heap->heapSys;
      row["heap_alloc_bytes"] = t.heap->heapAlloc;
      row["heap_objects"] = t.heap->heapObjects;
    } else {
      row["heap_inuse_bytes"] = nullptr;
    }
    timeline.push_back(row);
  }
  j["timeline"] = timeline;

  if (r.verify) j["verify"] = Json{{"passed", r.verify->passed}, {"errors", r.verify->errors}};
  if (r.allocatorStats) j["allocator_stats"] = allocatorStatsToJson(*r.allocatorStats);
  if (r.latency) j["latency"] = latencyToJson(*r.latency);
  return j;
}

Json settingToJson(const std::string& text) {
  if (text == "true" || text == "false") return text == "true";
  if (!text.empty() && text.size() < 20 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      (text == "0" || text[0] != '0'))
    return std::stoull(text);
  const size_t dot = text.find('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < text.size() && text.size() < 30 &&
      std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
      std::count(text.begin(), text.end(), '.') == 1 && (dot == 1 || text[0] != '0')) {
    const double v = std::stod(text);
    if (Json(v).dump() == text) return v;  // only where the number reads back as the same text
  }
  return text;
}

std::string settingFromJson(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw std::runtime_error("expected a string, a number or true/false");
}

Report fromJson(const Json& j) {
  In top{j, ""};
  if (!j.is_object()) throw std::runtime_error("report JSON: expected an object");
  if (top.str("schema") != kSchema)
    throw std::runtime_error(fmt::format("report JSON: schema '{}' is not {}", top.str("schema"), kSchema));
  if (top.u64("version") < uint64_t(kOldestVersion) || top.u64("version") > uint64_t(kVersion))
    throw std::runtime_error(fmt::format("report JSON: version {} (this build reads versions {} to {})",
                                         top.u64("version"), kOldestVersion, kVersion));
  Report r;
  In tool = top.obj("tool");
  r.tool = ToolInfo{tool.str("name"), tool.str("version"), tool.str("go_model")};
  r.interrupted = top.boolean("interrupted");

  In t = top.obj("trace");
  r.trace = TraceSection{t.str("path"),          t.str("digest"),      t.u64("events"),
                         t.u64("threads"),       t.u64("slots"),       t.u64("gc_events"),
                         t.u64("live_at_end"),   t.u64("skipped_frees"), t.u64("implicit_frees")};
  if (t.has("ts_backwards")) r.trace.tsBackwards = t.u64("ts_backwards");
  if (t.has("warnings"))
    for (auto& w : t.arr("warnings")) {
      if (!w.is_string()) t.bad("warnings", "expected an array of strings");
      r.trace.warnings.push_back(w.get<std::string>());
    }

  In c = top.obj("config");
  r.config.backend = c.str("backend");
  if (c.has("library")) r.config.library = c.str("library");
  r.config.procs = int(c.u64("procs"));
  r.config.deterministic = c.boolean("deterministic");
  r.config.touch = c.str("touch");
  r.config.rssIntervalMs = unsigned(c.u64("rss_interval_ms"));
  In settings = c.obj("settings");
  for (auto& [k, v] : settings.j.items()) {
    try {
      r.config.settings.emplace_back(k, settingFromJson(v));
    } catch (const std::runtime_error& e) {
      settings.bad(k, e.what());
    }
  }

  In s = top.obj("summary");
  Summary& m = r.summary;
  m.events = s.u64("events");
  m.allocs = s.u64("allocs");
  m.frees = s.u64("frees");
  m.gcEvents = s.u64("gc_events");
  m.gcCycles = s.u64("gc_cycles");
  m.forcedGcCycles = s.u64("forced_gc_cycles");
  m.pacerStops = s.u64("pacer_stops");
  m.bytesRequested = s.u64("bytes_requested");
  m.liveObjects = s.u64("live_objects");
  m.liveBytesRequested = s.u64("live_bytes_requested");
  m.zeroSizeAllocs = s.u64("zero_size_allocs");
  if (s.has("wall_seconds")) {  // (a --no-timings report has none of these; the schema checks all or none)
    m.wallSeconds = s.num("wall_seconds");
    m.nsPerEvent = s.num("ns_per_event");
    m.eventsPerSecond = s.num("events_per_second");
    m.peakRssBytes = s.u64("peak_rss_bytes");
    m.peakRssScope = s.str("peak_rss_scope");
    m.rssStartBytes = s.u64("rss_start_bytes");
    m.rssEndBytes = s.u64("rss_end_bytes");
  }
  if (s.has("load_seconds")) m.loadSeconds = s.num("load_seconds");  // (reports of version 1 before it existed)
  if (s.has("address_digest")) m.addressDigest = s.str("address_digest");

  for (size_t i = 0; i < top.arr("procs").size(); i++) {
    In p = top.item("procs", i);
    ProcRow row;
    row.p = int(p.u64("p"));
    for (auto& x : p.arr("threads")) {
      if (!x.is_number_unsigned()) p.bad("threads", "expected thread numbers");
      row.threads.push_back(x.get<uint32_t>());
    }
    row.allocs = p.u64("allocs");
    row.frees = p.u64("frees");
    row.dependencyWaits = p.u64("dependency_waits");
    row.busySeconds = optNum(p, "busy_seconds");
    row.barrierSeconds = optNum(p, "barrier_wait_seconds");
    row.dependencySeconds = optNum(p, "dependency_wait_seconds");
    r.procs.push_back(row);
  }

  if (top.has("heap")) {
    In h = top.obj("heap");
    HeapSection heap;
    heap.final = figuresFrom(h);
    heap.peak = figuresFrom(h.obj("peak"));
    heap.totalAlloc = h.u64("TotalAlloc");
    heap.mallocs = h.u64("Mallocs");
    heap.frees = h.u64("Frees");
    heap.nextGC = h.u64("NextGC");
    heap.numGC = h.u64("NumGC");
    heap.numForcedGC = h.u64("NumForcedGC");
    if (h.has("HeapLive")) heap.heapLive = h.u64("HeapLive");
    if (h.has("HeapMarked")) heap.heapMarked = h.u64("HeapMarked");
    if (h.has("ArenaReserved")) heap.arenaReserved = h.u64("ArenaReserved");
    if (h.has("ScavengedBytes")) heap.scavengedBytes = h.u64("ScavengedBytes");
    if (h.has("baseline")) heap.baseline = figuresFrom(h.obj("baseline"));
    if (h.has("baseline_scan_bytes")) heap.baselineScanBytes = h.u64("baseline_scan_bytes");
    auto counts = [&](const char* key) {
      std::vector<uint64_t> events;
      for (const Json& e : h.arr(key)) {
        if (!e.is_number_unsigned()) h.bad(key, "expected non-negative integers");
        events.push_back(e.get<uint64_t>());
      }
      return events;
    };
    if (h.has("pacer_gc_events")) heap.pacerGcEvents = counts("pacer_gc_events");
    if (h.has("first_paced_scan_work")) heap.firstPacedScanWork = h.u64("first_paced_scan_work");
    if (h.has("stack_scan_bytes")) heap.stackScanBytes = h.u64("stack_scan_bytes");
    if (h.has("globals_scan_bytes")) heap.globalsScanBytes = h.u64("globals_scan_bytes");
    if (h.has("pacer_cons_marks")) {
      std::vector<double> v;
      for (const Json& e : h.arr("pacer_cons_marks")) {
        if (!e.is_number()) h.bad("pacer_cons_marks", "expected numbers");
        v.push_back(e.get<double>());
      }
      heap.pacerConsMarks = std::move(v);
    }
    if (h.has("pacer_gc_starts")) heap.pacerGcStarts = counts("pacer_gc_starts");
    r.heap = heap;
  }

  for (size_t i = 0; i < top.arr("size_classes").size(); i++) r.sizeClasses.push_back(classFrom(top.item("size_classes", i)));

  if (top.has("locks")) {
    std::vector<LockRow> locks;
    for (size_t i = 0; i < top.arr("locks").size(); i++) locks.push_back(lockFrom(top.item("locks", i)));
    r.locks = std::move(locks);
  }

  if (top.has("gc_cycles")) {
    std::vector<GcCycleRow> cycles;
    for (size_t i = 0; i < top.arr("gc_cycles").size(); i++) {
      In c = top.item("gc_cycles", i);
      GcCycleRow row;
      row.cycle = c.u64("cycle");
      row.forced = c.boolean("forced");
      row.concurrent = c.boolean("concurrent");
      for (const auto& [key, v] : gcCycleFields(row))
        if (c.has(key)) *v = c.u64(key);
      cycles.push_back(row);
    }
    r.gcCycles = std::move(cycles);
  }

  for (size_t i = 0; top.has("timeline") && i < top.arr("timeline").size(); i++) {
    In t = top.item("timeline", i);
    TimelineRow row{t.num("t_ms"), t.u64("rss_bytes"), std::nullopt, t.str("event")};
    if (t.has("events")) row.events = t.u64("events");
    if (t.has("heap_inuse_bytes"))
      row.heap = replay::HeapFigures{t.u64("heap_alloc_bytes"),    t.u64("heap_inuse_bytes"), t.u64("heap_idle_bytes"),
                                     t.u64("heap_released_bytes"), t.u64("heap_sys_bytes"),   t.u64("heap_objects")};
    r.timeline.push_back(row);
  }

  if (top.has("verify")) {
    In v = top.obj("verify");
    VerifySection vs;
    vs.passed = v.boolean("passed");
    for (auto& e : v.arr("errors")) {
      if (!e.is_string()) v.bad("errors", "expected strings");
      vs.errors.push_back(e.get<std::string>());
    }
    r.verify = vs;
  }
  if (top.has("allocator_stats")) r.allocatorStats = allocatorStatsFromJson(top.at("allocator_stats"));
  if (top.has("latency")) r.latency = latencyFromJson(top.at("latency"));
  return r;
}

std::string renderJson(const Report& r) { return toJson(r).dump(2) + "\n"; }

void stripVolatile(Json& j) {
  if (j.contains("summary"))
    for (const char* k : {"wall_seconds", "ns_per_event", "events_per_second", "load_seconds", "peak_rss_bytes",
                          "peak_rss_scope", "rss_start_bytes", "rss_end_bytes"})
      j["summary"].erase(k);
  if (j.contains("procs"))
    for (auto& p : j["procs"])
      for (const char* k : {"busy_seconds", "barrier_wait_seconds", "dependency_wait_seconds"}) p.erase(k);
  std::function<void(Json&)> lock = [&](Json& l) {
    for (const char* k : {"wait_ns", "max_wait_ns", "hold_ns"}) l.erase(k);
    if (l.contains("members"))
      for (auto& m : l["members"]) lock(m);
  };
  if (j.contains("locks"))
    for (auto& l : j["locks"]) lock(l);
  j.erase("timeline");
  j.erase("allocator_stats");  // (the harness's own allocations are in them, and the kernel's figures)
  j.erase("latency");
}

}  // namespace gomalloc::reports
