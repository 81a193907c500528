// The JSON of the allocator's own statistics and of the sampled latency (docs/report.md: allocator_stats,
// latency), both ways.
#include <fmt/format.h>

#include <stdexcept>

#include "reports/render.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

namespace {

[[noreturn]] void bad(const std::string& path, const char* why) {
  throw std::runtime_error(fmt::format("report JSON: {}: {}", path, why));
}

const Json& field(const Json& j, const std::string& path, const char* key) {
  if (!j.is_object()) bad(path, "expected an object");
  if (!j.contains(key)) bad(path + "." + key, "missing");
  return j[key];
}

uint64_t count(const Json& v, const std::string& path) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    bad(path, "expected a non-negative integer");
  return v.get<uint64_t>();
}

double number(const Json& v, const std::string& path) {
  if (!v.is_number()) bad(path, "expected a number");
  return v.get<double>();
}

std::string text(const Json& v, const std::string& path) {
  if (!v.is_string()) bad(path, "expected a string");
  return v.get<std::string>();
}

Json figuresJson(const replay::AllocatorFigures& f, Json into = Json::object()) {
  for (auto& [k, v] : f) into[k] = v;
  return into;
}

// Every member but those in skip, as figures.
replay::AllocatorFigures figuresFrom(const Json& j, const std::string& path, bool skipPosition = false) {
  if (!j.is_object()) bad(path, "expected an object");
  replay::AllocatorFigures out;
  for (auto& [k, v] : j.items())
    if (!skipPosition || (k != "event" && k != "gc")) out.emplace_back(k, count(v, path + "." + k));
  return out;
}

}  // namespace

Json allocatorStatsToJson(const replay::AllocatorStats& a) {
  Json atGc = Json::array();
  for (const replay::AllocatorStatsAtGc& g : a.atGc) atGc.push_back(figuresJson(g.figures, Json{{"event", g.event}, {"gc", g.gc}}));
  return Json{{"source", a.source}, {"at_end", figuresJson(a.atEnd)}, {"at_gc", atGc}};
}

replay::AllocatorStats allocatorStatsFromJson(const Json& j) {
  const std::string p = "allocator_stats";
  replay::AllocatorStats a;
  a.source = text(field(j, p, "source"), p + ".source");
  a.atEnd = figuresFrom(field(j, p, "at_end"), p + ".at_end");
  const Json& atGc = field(j, p, "at_gc");
  if (!atGc.is_array()) bad(p + ".at_gc", "expected an array");
  for (size_t i = 0; i < atGc.size(); i++) {
    const std::string q = fmt::format("{}.at_gc[{}]", p, i);
    replay::AllocatorStatsAtGc g;
    g.event = count(field(atGc[i], q, "event"), q + ".event");
    g.gc = count(field(atGc[i], q, "gc"), q + ".gc");
    g.figures = figuresFrom(atGc[i], q, true);
    a.atGc.push_back(std::move(g));
  }
  return a;
}

Json latencyToJson(const replay::LatencyStats& l) {
  Json groups = Json::array();
  for (const replay::LatencyGroup& g : l.groups)
    groups.push_back(Json{{"group", g.name},
                          {"samples", g.samples},
                          {"p50_ns", g.p50Ns},
                          {"p99_ns", g.p99Ns},
                          {"p999_ns", g.p999Ns},
                          {"max_ns", g.maxNs}});
  return Json{{"sample_every", l.sampleEvery},
              {"clock", l.clock},
              {"timer_overhead_ns", l.timerOverheadNs},
              {"groups", groups}};
}

replay::LatencyStats latencyFromJson(const Json& j) {
  const std::string p = "latency";
  replay::LatencyStats l;
  l.sampleEvery = uint32_t(count(field(j, p, "sample_every"), p + ".sample_every"));
  l.clock = text(field(j, p, "clock"), p + ".clock");
  l.timerOverheadNs = number(field(j, p, "timer_overhead_ns"), p + ".timer_overhead_ns");
  const Json& groups = field(j, p, "groups");
  if (!groups.is_array()) bad(p + ".groups", "expected an array");
  for (size_t i = 0; i < groups.size(); i++) {
    const std::string q = fmt::format("{}.groups[{}]", p, i);
    const Json& g = groups[i];
    replay::LatencyGroup row;
    row.name = text(field(g, q, "group"), q + ".group");
    row.samples = count(field(g, q, "samples"), q + ".samples");
    row.p50Ns = number(field(g, q, "p50_ns"), q + ".p50_ns");
    row.p99Ns = number(field(g, q, "p99_ns"), q + ".p99_ns");
    row.p999Ns = number(field(g, q, "p999_ns"), q + ".p999_ns");
    row.maxNs = number(field(g, q, "max_ns"), q + ".max_ns");
    l.groups.push_back(row);
  }
  return l;
}

}  // namespace gomalloc::reports
