// The table (human) and CSV renderers.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "reports/render.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

std::optional<Format> parseFormat(std::string_view s) {
  if (s == "table") return Format::Table;
  if (s == "json") return Format::Json;
  if (s == "csv") return Format::Csv;
  return std::nullopt;
}

std::string render(const Report& r, Format f, const TableOptions& table) {
  switch (f) {
    case Format::Table: return renderTable(r, table);
    case Format::Json: return renderJson(r);
    case Format::Csv: return renderCsv(r);
  }
  return {};
}

std::string groupDigits(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

namespace {

std::string count(uint64_t n) { return groupDigits(n); }

std::string bytes(uint64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = -1;
  while (v >= 1024 && u < 3) v /= 1024, u++;
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string seconds(double s) {
  if (s < 1e-3) return fmt::format("{:.1f} us", s * 1e6);
  if (s < 1) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.3f} s", s);
}

std::string nanos(uint64_t ns) { return seconds(double(ns) / 1e9); }

std::string rate(double perSecond) {
  if (perSecond >= 1e9) return fmt::format("{:.2f} G", perSecond / 1e9);
  if (perSecond >= 1e6) return fmt::format("{:.2f} M", perSecond / 1e6);
  if (perSecond >= 1e3) return fmt::format("{:.1f} k", perSecond / 1e3);
  return fmt::format("{:.0f} ", perSecond);
}

std::string pct(double f) { return fmt::format("{:.1f}", 100 * f); }

void classTable(std::string& out, const Report& r, bool all) {
  if (r.sizeClasses.empty()) return;
  const bool go = r.sizeClasses.front().go.has_value();
  const bool runtime = r.heap && r.heap->baseline;  // go-runtime: MemStats.BySize beside the trace's counts
  // The top kTableClasses by allocations (ties: the smaller class), shown in the report's order.
  std::vector<const ClassRow*> shown;
  for (const ClassRow& c : r.sizeClasses) shown.push_back(&c);
  if (!all && shown.size() > kTableClasses) {
    std::vector<const ClassRow*> top = shown;
    std::stable_sort(top.begin(), top.end(), [](auto* a, auto* b) { return a->allocs > b->allocs; });
    top.resize(kTableClasses);
    std::erase_if(shown, [&](const ClassRow* c) { return std::find(top.begin(), top.end(), c) == top.end(); });
  }
  if (shown.size() < r.sizeClasses.size()) {
    uint64_t allocs = 0;
    for (const ClassRow& c : r.sizeClasses)
      if (std::find(shown.begin(), shown.end(), &c) == shown.end()) allocs += c.allocs;
    out += fmt::format("\nsize classes (the {} of {} used with the most allocations, in size order; the other {} have "
                       "{} allocations: --all-classes or JSON for them)\n",
                       shown.size(), r.sizeClasses.size(), r.sizeClasses.size() - shown.size(), count(allocs));
  } else {
    out += "\nsize classes (used)\n";
  }
  if (go) {
    out += fmt::format("{:>5} {:>7} {:>12} {:>12} {:>6} {:>9} {:>23} {:>7} {:>10} {:>10} {:>6} {:>10}\n", "class",
                       "size", "allocs", "frees", "hit%", "refills", "psw/pusw/fusw/grown", "spans^", "requested",
                       "handed out", "frag%", "tail^");
  } else {
    out += fmt::format("{:>5} {:>7} {:>12} {:>12} {:>10}{}\n", "class", "size", "allocs", "frees", "requested",
                       runtime ? fmt::format(" {:>12} {:>12}", "rt mallocs", "rt frees") : "");
  }
  for (const ClassRow* row : shown) {
    const ClassRow& c = *row;
    const std::string cls = c.cls == 0 ? "large" : std::to_string(c.cls);
    const std::string size = c.cls == 0 ? ">32K" : std::to_string(c.size);
    if (!go) {
      out += fmt::format("{:>5} {:>7} {:>12} {:>12} {:>10}{}\n", cls, size, count(c.allocs), count(c.frees),
                         bytes(c.bytesRequested),
                         runtime ? fmt::format(" {:>12} {:>12}", c.runtimeMallocs ? count(*c.runtimeMallocs) : "-",
                                               c.runtimeFrees ? count(*c.runtimeFrees) : "-")
                                 : "");
      continue;
    }
    const GoClassFields& g = *c.go;
    const std::string from = c.cls == 0 ? "-"
                                        : fmt::format("{}/{}/{}/{}", g.refillFrom[0], g.refillFrom[1], g.refillFrom[2],
                                                      g.refillFrom[3]);
    out += fmt::format("{:>5} {:>7} {:>12} {:>12} {:>6} {:>9} {:>23} {:>7} {:>10} {:>10} {:>6} {:>10}\n", cls, size,
                       count(c.allocs), count(c.frees), c.cls == 0 ? "-" : pct(c.hitRate()),
                       c.cls == 0 ? "-" : count(g.refills), from, count(g.spansInUsePeak), bytes(c.bytesRequested),
                       bytes(g.bytesAllocated), pct(c.internalFragmentation()),
                       c.cls == 0 ? "-" : bytes(c.tailWastePeakBytes()));
  }
  if (runtime)
    out += "  rt = the runtime's MemStats.BySize since the baseline (tiny allocations counted as their 16-byte "
           "blocks);\n  the runtime does not count cache-level hits, refills or locks\n";
  if (go)
    out += "  hit% = mcache fast path (tiny block or nextFreeFast) / allocs; refills by source: partial swept,\n"
           "  partial unswept, full unswept, heap growth; ^ = peak spans in use, and their tail waste\n";
}

// One line per GC cycle, as Go's gctrace prints it: heap at the mark's start -> at its end -> marked, the goal.
void gcTable(std::string& out, const Report& r, bool all) {
  if (!r.gcCycles || r.gcCycles->empty()) return;
  const std::vector<GcCycleRow>& cycles = *r.gcCycles;
  const bool leaveOut = !all && cycles.size() > kTableFirstGcs + kTableLastGcs + 1;
  out += fmt::format("\nGC cycles ({}; gctrace: heap when the mark began -> when it ended -> marked, the goal it ran "
                     "against{})\n",
                     count(cycles.size()),
                     leaveOut ? fmt::format("; the first {} and the last {}", kTableFirstGcs, kTableLastGcs) : "");
  out += fmt::format("{:>6} {:>13} {:>5} {:>32} {:>10} {:>10} {:>10} {:>21}\n", "cycle", "ended@event", "mark",
                     "start -> end -> marked", "goal", "next goal", "next trig", "HeapInuse before/after");
  auto opt = [](const std::optional<uint64_t>& v) { return v ? bytes(*v) : std::string("-"); };
  auto line = [&](const GcCycleRow& c) {
    const std::string heap = fmt::format("{} -> {} -> {}", opt(c.heapStart), opt(c.heapEnd), opt(c.heapMarked));
    const std::string inuse = c.heapInuseBefore || c.heapInuseAfter
                                  ? fmt::format("{} -> {}", opt(c.heapInuseBefore), opt(c.heapInuseAfter))
                                  : std::string("-");
    out += fmt::format("{:>6} {:>13} {:>5} {:>32} {:>10} {:>10} {:>10} {:>21}{}\n", c.cycle,
                       c.endEvent ? count(*c.endEvent) : "-", c.concurrent ? "pacer" : "stop", heap, opt(c.goal),
                       opt(c.nextGoal), opt(c.nextTrigger), inuse, c.forced ? "  forced" : "");
  };
  for (size_t i = 0; i < cycles.size(); i++) {
    if (leaveOut && i == kTableFirstGcs) {
      const size_t skipped = cycles.size() - kTableFirstGcs - kTableLastGcs;
      out += fmt::format("{:>6} ... {} cycles left out (--all-gc-cycles, or gc_cycles in the JSON report)\n", "",
                         count(skipped));
      i += skipped - 1;
      continue;
    }
    line(cycles[i]);
  }
  out += "  mark: pacer = a concurrent mark the pacer started at its trigger, stop = marked at the stop; - = not known";
  out += r.heap && r.heap->baseline ? " (go-runtime: MiB from gctrace, bytes where gcpacertrace printed them)\n" : "\n";
}

void lockTable(std::string& out, const Report& r) {
  if (!r.locks) return;
  out += "\nlocks\n";
  out += fmt::format("{:<24} {:>14} {:>12} {:>10} {:>10} {:>10}\n", "name", "acquisitions", "contended", "wait",
                     "max wait", "hold");
  for (const LockRow& l : *r.locks) {
    const std::string name = l.members.empty() ? l.name : fmt::format("{} ({} used)", l.name, l.members.size());
    out += fmt::format("{:<24} {:>14} {:>12} {:>10} {:>10} {:>10}\n", name, count(l.acquisitions), count(l.contended),
                       nanos(l.waitNs), nanos(l.maxWaitNs), nanos(l.holdNs));
  }
}

void procTable(std::string& out, const Report& r) {
  if (r.procs.empty() || !r.procs.front().busySeconds) return;
  out += "\nPs\n";
  out += fmt::format("{:>4} {:<14} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}\n", "P", "threads", "allocs", "frees",
                     "busy", "barriers", "dep waits", "dep wait");
  const size_t shown = std::min<size_t>(r.procs.size(), 16);
  for (size_t i = 0; i < shown; i++) {
    const ProcRow& p = r.procs[i];
    std::string threads;
    for (size_t k = 0; k < p.threads.size() && k < 4; k++) threads += (k ? "," : "") + std::to_string(p.threads[k]);
    if (p.threads.size() > 4) threads += fmt::format(",+{}", p.threads.size() - 4);
    if (p.threads.empty()) threads = "-";
    out += fmt::format("{:>4} {:<14} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}\n", p.p, threads, count(p.allocs),
                       count(p.frees), seconds(p.busySeconds.value_or(0)), seconds(p.barrierSeconds.value_or(0)),
                       count(p.dependencyWaits), seconds(p.dependencySeconds.value_or(0)));
  }
  if (r.procs.size() > shown) out += fmt::format("     ... {} more Ps in the JSON/CSV report\n", r.procs.size() - shown);
}

std::string latencyNs(double ns) { return ns < 1e3 ? fmt::format("{:.0f} ns", ns) : seconds(ns / 1e9); }

void latencyTable(std::string& out, const Report& r) {
  if (!r.latency) return;
  const replay::LatencyStats& l = *r.latency;
  out += fmt::format("\nlatency   per op, 1 op in {} timed on average per P ({}, {:.0f} ns of timer overhead subtracted)\n",
                     l.sampleEvery, l.clock, l.timerOverheadNs);
  out += fmt::format("  {:<8} {:>12} {:>10} {:>10} {:>10} {:>10}\n", "group", "samples", "p50", "p99", "p99.9", "max");
  for (const replay::LatencyGroup& g : l.groups) {
    if (g.samples == 0) continue;
    out += fmt::format("  {:<8} {:>12} {:>10} {:>10} {:>10} {:>10}\n", g.name, count(g.samples), latencyNs(g.p50Ns),
                       latencyNs(g.p99Ns), latencyNs(g.p999Ns), latencyNs(g.maxNs));
  }
}

// The malloc's own figures at the end (bytes, but for times, page faults and chunk counts).
void allocatorStatsLines(std::string& out, const Report& r) {
  if (!r.allocatorStats) return;
  const replay::AllocatorStats& a = *r.allocatorStats;
  std::string figs;
  for (auto& [k, v] : a.atEnd) {
    const bool plain = k.find("msecs") != std::string::npos || k.find("faults") != std::string::npos || k == "hblks";
    figs += fmt::format("{}{} {}", figs.empty() ? "" : ", ", k, plain ? count(v) : bytes(v));
  }
  out += fmt::format("\nallocator {} at the end: {}\n", a.source, figs.empty() ? "none read" : figs);
  if (!a.atGc.empty()) out += fmt::format("          and at each of {} gc events: in JSON/CSV (allocator_stats.at_gc)\n", a.atGc.size());
}

}  // namespace

std::string renderTable(const Report& r, const TableOptions& o) {
  std::string out;
  const Summary& s = r.summary;
  const ConfigSection& c = r.config;
  out += fmt::format("{} {} replay of {}\n", r.tool.name, r.tool.version, r.trace.path);
  out += fmt::format("trace     {} events, {} threads, {} gc events, digest {}\n", count(r.trace.events),
                     r.trace.threads, r.trace.gcEvents, r.trace.digest.empty() ? "-" : r.trace.digest);
  std::string settings;
  for (auto& [k, v] : c.settings) settings += fmt::format("{}{}={}", settings.empty() ? "" : " ", k, v);
  out += fmt::format("backend   {}{}, {} P{}, {}, touch={}\n", c.backend,
                     c.library.empty() ? "" : " (" + c.library + ")", c.procs, c.procs == 1 ? "" : "s",
                     c.deterministic ? "deterministic" : "concurrent", c.touch);
  if (!settings.empty()) out += fmt::format("settings  {}\n", settings);
  for (const std::string& w : r.trace.warnings) out += fmt::format("warning   {}\n", w);
  if (r.interrupted)
    out += fmt::format("INTERRUPTED after {} of {} events: the figures cover the part replayed\n", count(s.events),
                       count(r.trace.events));
  out += fmt::format("time      wall {}, {:.2f} ns/event, {}events/s", seconds(s.wallSeconds), s.nsPerEvent,
                     rate(s.eventsPerSecond));
  if (s.loadSeconds > 0) out += fmt::format(" (loading before it: {})", seconds(s.loadSeconds));
  out += "\n";
  out += fmt::format("events    {} allocs ({} requested), {} frees, {} gc events", count(s.allocs),
                     bytes(s.bytesRequested), count(s.frees), count(s.gcEvents));
  if (r.heap)
    out += fmt::format("; {} GC cycles ({} forced, {} by the pacer)", count(s.gcCycles), count(s.forcedGcCycles),
                       count(s.gcCycles - std::min(s.gcCycles, s.forcedGcCycles)));
  out += "\n";
  out += fmt::format("live      {} objects, {} requested, at the end\n", count(s.liveObjects), bytes(s.liveBytesRequested));
  out += fmt::format("RSS       peak {} (since {} start), {} at the start, {} at the end\n", bytes(s.peakRssBytes),
                     s.peakRssScope, bytes(s.rssStartBytes), bytes(s.rssEndBytes));
  if (r.heap) {
    auto line = [&](const char* label, const replay::HeapFigures& h) {
      out += fmt::format("{:<9} HeapAlloc {}  HeapInuse {}  HeapIdle {}  HeapReleased {}  HeapSys {}  HeapObjects {}\n",
                         label, bytes(h.heapAlloc), bytes(h.heapInuse), bytes(h.heapIdle), bytes(h.heapReleased),
                         bytes(h.heapSys), count(h.heapObjects));
    };
    line("heap", r.heap->final);
    line("peak", r.heap->peak);
    if (r.heap->baseline) line("baseline", *r.heap->baseline);  // go-runtime: included in the figures above
  }
  classTable(out, r, o.allClasses);
  gcTable(out, r, o.allGcCycles);
  lockTable(out, r);
  procTable(out, r);
  latencyTable(out, r);
  allocatorStatsLines(out, r);

  size_t samples = 0;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const TimelineRow& t : r.timeline) {
    samples++;
    lo = std::min(lo, t.rssBytes);
    hi = std::max(hi, t.rssBytes);
  }
  if (samples)
    out += fmt::format("\ntimeline  {} points (every {} ms and at each GC): RSS from {} to {}; full series in JSON/CSV/HTML\n",
                       samples, c.rssIntervalMs, bytes(lo), bytes(hi));
  if (r.verify) {
    if (r.verify->passed) {
      out += "verify    heap verifier passed\n";
    } else {
      out += fmt::format("verify    heap verifier FAILED: {} problem(s)\n", r.verify->errors.size());
      for (size_t i = 0; i < r.verify->errors.size() && i < 10; i++) out += "          " + r.verify->errors[i] + "\n";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// CSV: blocks of rows whose first column names the table, each block with its own header row.

namespace {

std::string csvField(const Json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_array()) {
    for (auto& e : v) s += (s.empty() ? "" : " ") + (e.is_string() ? e.get<std::string>() : e.dump());
  } else s = v.dump();
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

// Flattens nested objects into dotted keys (arrays stay values).
void flatten(const Json& j, const std::string& prefix, std::vector<std::pair<std::string, Json>>& out) {
  for (auto& [k, v] : j.items()) {
    if (v.is_object()) flatten(v, prefix + k + ".", out);
    else if (v.is_array())
      for (size_t i = 0; i < v.size(); i++) out.emplace_back(prefix + k + "." + std::to_string(i), v[i]);
    else out.emplace_back(prefix + k, v);
  }
}

void csvBlock(std::string& out, const std::string& table, const std::vector<Json>& rows) {
  if (rows.empty()) return;
  std::vector<std::string> columns;
  std::map<std::string, bool> seen;
  std::vector<std::vector<std::pair<std::string, Json>>> flat(rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    flatten(rows[i], "", flat[i]);
    for (auto& [k, v] : flat[i])
      if (!seen[k]) seen[k] = true, columns.push_back(k);
  }
  if (!out.empty()) out += "\n";
  out += "table";
  for (auto& c : columns) out += "," + c;
  out += "\n";
  for (auto& row : flat) {
    std::map<std::string, const Json*> byKey;
    for (auto& [k, v] : row) byKey[k] = &v;
    out += table;
    for (auto& c : columns) out += "," + (byKey.count(c) ? csvField(*byKey[c]) : std::string());
    out += "\n";
  }
}

}  // namespace

std::string renderCsv(const Report& r) {
  const Json j = toJson(r);
  std::string out;
  std::vector<Json> kv;
  for (const char* section : {"schema", "version", "tool", "interrupted", "trace", "config", "summary", "heap", "verify"}) {
    if (!j.contains(section)) continue;
    std::vector<std::pair<std::string, Json>> flat;
    if (j[section].is_object()) flatten(j[section], std::string(section) + ".", flat);
    else flat.emplace_back(section, j[section]);
    for (auto& [k, v] : flat) kv.push_back(Json{{"key", k}, {"value", v}});
  }
  csvBlock(out, "summary", kv);
  csvBlock(out, "size_classes", std::vector<Json>(j["size_classes"].begin(), j["size_classes"].end()));
  if (j.contains("locks")) {
    std::vector<Json> rows;
    for (auto& l : j["locks"]) {
      Json top = l;
      top.erase("members");
      top["family"] = "";
      rows.push_back(top);
      if (l.contains("members"))
        for (auto m : l["members"]) {
          m["family"] = l["name"];
          rows.push_back(m);
        }
    }
    csvBlock(out, "locks", rows);
  }
  csvBlock(out, "procs", std::vector<Json>(j["procs"].begin(), j["procs"].end()));
  if (j.contains("gc_cycles")) csvBlock(out, "gc_cycles", std::vector<Json>(j["gc_cycles"].begin(), j["gc_cycles"].end()));
  csvBlock(out, "timeline", std::vector<Json>(j["timeline"].begin(), j["timeline"].end()));
  if (j.contains("latency")) {
    std::vector<Json> rows;
    for (Json g : j["latency"]["groups"]) {
      g["sample_every"] = j["latency"]["sample_every"];
      rows.push_back(g);
    }
    csvBlock(out, "latency", rows);
  }
  if (j.contains("allocator_stats")) {
    Json end = Json{{"at", "end"}, {"source", j["allocator_stats"]["source"]}};
    end.update(j["allocator_stats"]["at_end"]);
    std::vector<Json> rows = {end};
    for (auto& g : j["allocator_stats"]["at_gc"]) {
      Json row = Json{{"at", "gc"}, {"source", j["allocator_stats"]["source"]}};
      row.update(g);
      rows.push_back(row);
    }
    csvBlock(out, "allocator_stats", rows);
  }
  return out;
}

}  // namespace gomalloc::reports
