#include "reports/schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "replay/factory.h"
#include "reports/compare.h"
#include "reports/report.h"

namespace gomalloc::reports {

using Json = nlohmann::ordered_json;

namespace {

// The schema as data: each object's known fields, their types and when they are required.
// Settings: an object of strings, numbers and booleans (version 1 reports: strings only).
enum class Type { String, Bool, Count, Number, Object, Array, Strings, Counts, Numbers, CountOrNull, Settings };
enum class Need {
  Always,        // required
  Go,            // required in go reports, absent from the others
  Heap,          // required in go and go-runtime reports, absent from the others
  Runtime,       // required in go-runtime reports, absent from the others
  RuntimeOptional,  // may be in go-runtime reports, absent from the others
  Timed,         // required in a report with timings; left out by --no-timings
  TimedOptional, // left out by --no-timings, and not always written (concurrent mode only, older reports)
  Optional,      // may be absent
};
struct Shape;
struct Field {
  const char* key;
  Type type;
  Need need = Need::Always;
  const Shape* shape = nullptr;  // Object: its fields; Array: each element's (an object)
};
struct Shape {
  std::vector<Field> fields;
};

constexpr Need kGo = Need::Go, kHeap = Need::Heap, kRuntime = Need::Runtime, kRuntimeOpt = Need::RuntimeOptional,
               kTimed = Need::Timed, kTimedOpt = Need::TimedOptional, kOpt = Need::Optional;

struct Shapes {
  Shape tool, trace, config, summary, proc, figures, heap, refillsFrom, sizeClass, lock, gcCycle, timeline, verify,
      report;
  Shape compareTrace, options, metric, variant, compare;
  Shape allocatorStats, allocatorAtGc, latency, latencyGroup;  // (every figure of at_end, at_gc: checkFigures)

  Shapes() {
    tool.fields = {{"name", Type::String}, {"version", Type::String}, {"go_model", Type::String}};
    trace.fields = {{"path", Type::String},        {"digest", Type::String},          {"events", Type::Count},
                    {"threads", Type::Count},      {"slots", Type::Count},            {"gc_events", Type::Count},
                    {"live_at_end", Type::Count},  {"skipped_frees", Type::Count},    {"implicit_frees", Type::Count},
                    {"ts_backwards", Type::Count, kOpt}, {"warnings", Type::Strings, kOpt},
                    {"lenient", Type::Object, kOpt}};
    config.fields = {{"backend", Type::String},   {"library", Type::String, kOpt},    {"procs", Type::Count},
                     {"deterministic", Type::Bool}, {"touch", Type::String},          {"rss_interval_ms", Type::Count},
                     {"settings", Type::Settings}};
    summary.fields = {{"events", Type::Count},
                      {"allocs", Type::Count},
                      {"frees", Type::Count},
                      {"gc_events", Type::Count},
                      {"gc_cycles", Type::Count},
                      {"forced_gc_cycles", Type::Count},
                      {"pacer_stops", Type::Count},
                      {"bytes_requested", Type::Count},
                      {"live_objects", Type::Count},
                      {"live_bytes_requested", Type::Count},
                      {"zero_size_allocs", Type::Count},
                      {"wall_seconds", Type::Number, kTimed},
                      {"ns_per_event", Type::Number, kTimed},
                      {"events_per_second", Type::Number, kTimed},
                      {"load_seconds", Type::Number, kTimedOpt},
                      {"peak_rss_bytes", Type::Count, kTimed},
                      {"peak_rss_scope", Type::String, kTimed},
                      {"rss_start_bytes", Type::Count, kTimed},
                      {"rss_end_bytes", Type::Count, kTimed},
                      {"address_digest", Type::String, kOpt}};
    proc.fields = {{"p", Type::Count},
                   {"threads", Type::Counts},
                   {"allocs", Type::Count},
                   {"frees", Type::Count},
                   {"dependency_waits", Type::Count},
                   {"busy_seconds", Type::Number, kTimedOpt},
                   {"barrier_wait_seconds", Type::Number, kTimedOpt},
                   {"dependency_wait_seconds", Type::Number, kTimedOpt}};
    figures.fields = {{"HeapAlloc", Type::Count},    {"HeapInuse", Type::Count}, {"HeapIdle", Type::Count},
                      {"HeapReleased", Type::Count}, {"HeapSys", Type::Count},   {"HeapObjects", Type::Count}};
    heap.fields = figures.fields;
    for (const char* k : {"TotalAlloc", "Mallocs", "Frees", "NextGC", "NumGC", "NumForcedGC"})
      heap.fields.push_back({k, Type::Count});
    for (const char* k : {"HeapLive", "HeapMarked", "ArenaReserved", "ScavengedBytes"})  // the model's own
      heap.fields.push_back({k, Type::Count, kGo});
    heap.fields.push_back({"peak", Type::Object, Need::Always, &figures});
    heap.fields.push_back({"baseline", Type::Object, kRuntime, &figures});
    heap.fields.push_back({"baseline_scan_bytes", Type::Count, kRuntimeOpt});
    heap.fields.push_back({"pacer_gc_events", Type::Counts, kRuntime});
    heap.fields.push_back({"pacer_gc_starts", Type::Counts, Need::Optional});
    heap.fields.push_back({"pacer_cons_marks", Type::Numbers, kRuntimeOpt});
    heap.fields.push_back({"first_paced_scan_work", Type::Count, kRuntimeOpt});
    heap.fields.push_back({"stack_scan_bytes", Type::Count, kRuntimeOpt});
    heap.fields.push_back({"globals_scan_bytes", Type::Count, kRuntimeOpt});
    for (const char* k : kRefillSourceKeys) refillsFrom.fields.push_back({k, Type::Count});
    sizeClass.fields = {{"class", Type::Count},
                        {"size", Type::Count},
                        {"large", Type::Bool},
                        {"allocs", Type::Count},
                        {"frees", Type::Count},
                        {"bytes_requested", Type::Count},
                        {"mcache_hits", Type::Count, kGo},
                        {"hit_rate", Type::Number, kGo},
                        {"tiny_hits", Type::Count, kGo},
                        {"fast_hits", Type::Count, kGo},
                        {"slow_hits", Type::Count, kGo},
                        {"refills", Type::Count, kGo},
                        {"refills_from", Type::Object, kGo, &refillsFrom},
                        {"swept_frees", Type::Count, kGo},
                        {"bytes_allocated", Type::Count, kGo},
                        {"internal_fragmentation", Type::Number, kGo},
                        {"spans_in_use", Type::Count, kGo},
                        {"spans_in_use_peak", Type::Count, kGo},
                        {"tail_waste_per_span", Type::Count, kGo},
                        {"tail_waste_bytes_peak", Type::Count, kGo},
                        {"large_spans", Type::Count, kGo},
                        {"runtime_mallocs", Type::Count, kRuntimeOpt},
                        {"runtime_frees", Type::Count, kRuntimeOpt}};
    lock.fields = {{"name", Type::String},
                   {"acquisitions", Type::Count},
                   {"contended", Type::Count},
                   {"wait_ns", Type::Count, kTimed},
                   {"max_wait_ns", Type::Count, kTimed},
                   {"hold_ns", Type::Count, kTimed},
                   {"members", Type::Array, kOpt, &lock}};
    // What is not known of a cycle is absent (go-runtime: the events and HeapInuse; GOGC=off: the goal).
    gcCycle.fields = {{"cycle", Type::Count}, {"forced", Type::Bool}, {"concurrent", Type::Bool}};
    for (const char* k : {"mark_start_event", "end_event", "heap_start", "heap_end", "heap_marked", "goal", "trigger",
                          "next_goal", "next_trigger", "heap_inuse_before", "heap_inuse_after"})
      gcCycle.fields.push_back({k, Type::Count, kOpt});
    // The heap figures of a row are required when heap_inuse_bytes is a number (checkTimeline).
    timeline.fields = {{"t_ms", Type::Number},
                       {"event", Type::String},
                       {"events", Type::Count, kOpt},
                       {"rss_bytes", Type::Count},
                       {"heap_inuse_bytes", Type::CountOrNull},
                       {"heap_idle_bytes", Type::Count, kOpt},
                       {"heap_released_bytes", Type::Count, kOpt},
                       {"heap_sys_bytes", Type::Count, kOpt},
                       {"heap_alloc_bytes", Type::Count, kOpt},
                       {"heap_objects", Type::Count, kOpt}};
    verify.fields = {{"passed", Type::Bool}, {"errors", Type::Strings}};
    report.fields = {{"schema", Type::String},
                     {"version", Type::Count},
                     {"tool", Type::Object, Need::Always, &tool},
                     {"interrupted", Type::Bool},
                     {"trace", Type::Object, Need::Always, &trace},
                     {"config", Type::Object, Need::Always, &config},
                     {"summary", Type::Object, Need::Always, &summary},
                     {"procs", Type::Array, Need::Always, &proc},
                     {"heap", Type::Object, kHeap, &heap},
                     {"size_classes", Type::Array, Need::Always, &sizeClass},
                     {"locks", Type::Array, kGo, &lock},
                     {"gc_cycles", Type::Array, kOpt, &gcCycle},
                     {"timeline", Type::Array, kTimed, &timeline},
                     {"verify", Type::Object, kOpt, &verify},
                     {"allocator_stats", Type::Object, kTimedOpt, &allocatorStats},
                     {"latency", Type::Object, kTimedOpt, &latency}};
    allocatorAtGc.fields = {{"event", Type::Count}, {"gc", Type::Count}};
    allocatorStats.fields = {{"source", Type::String}, {"at_end", Type::Object}, {"at_gc", Type::Array, Need::Always, &allocatorAtGc}};
    latencyGroup.fields = {{"group", Type::String},   {"samples", Type::Count}, {"p50_ns", Type::Number},
                           {"p99_ns", Type::Number},  {"p999_ns", Type::Number}, {"max_ns", Type::Number}};
    latency.fields = {{"sample_every", Type::Count}, {"clock", Type::String}, {"timer_overhead_ns", Type::Number},
                      {"groups", Type::Array, Need::Always, &latencyGroup}};

    compareTrace.fields = {{"path", Type::String}, {"digest", Type::String}, {"events", Type::Count}};
    options.fields = {{"repeat", Type::Count},        {"procs", Type::Count}, {"deterministic", Type::Bool},
                      {"touch", Type::String},        {"lenient", Type::Bool}, {"alpha", Type::Number}};
    metric.fields = {{"name", Type::String}};
    // Each of reports[] is a replay report (checkCompare).
    variant.fields = {{"name", Type::String},
                      {"allocator", Type::String},
                      {"config_file", Type::String},
                      {"settings", Type::Settings},
                      {"reports", Type::Array}};
    compare.fields = {{"schema", Type::String},
                      {"version", Type::Count},
                      {"tool", Type::Object, Need::Always, &tool},
                      {"trace", Type::Object, Need::Always, &compareTrace},
                      {"options", Type::Object, Need::Always, &options},
                      {"baseline", Type::String},
                      {"metrics", Type::Array, Need::Always, &metric},
                      {"variants", Type::Array, Need::Always, &variant}};
  }
};

const Shapes& shapes() {
  static const Shapes s;
  return s;
}

const char* expected(Type t) {
  switch (t) {
    case Type::String: return "a string";
    case Type::Bool: return "true or false";
    case Type::Count: return "a non-negative integer";
    case Type::Number: return "a number";
    case Type::Object: return "an object";
    case Type::Array: return "an array";
    case Type::Strings: return "an array of strings";
    case Type::Counts: return "an array of non-negative integers";
    case Type::Numbers: return "an array of numbers";
    case Type::CountOrNull: return "a non-negative integer or null";
    case Type::Settings: return "an object of strings, numbers and booleans";
  }
  return "";
}

std::string found(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      return "a string " + (s.size() > 40 ? Json(s.substr(0, 37) + "...") : v).dump();
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return v.dump();
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    default: return "a value of another kind";
  }
}

bool isCount(const Json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }
bool isNumber(const Json& v) { return v.is_number() && (!v.is_number_float() || std::isfinite(v.get<double>())); }

bool scalarOk(const Json& v, Type t) {
  switch (t) {
    case Type::String: return v.is_string();
    case Type::Bool: return v.is_boolean();
    case Type::Count: return isCount(v);
    case Type::Number: return isNumber(v);
    case Type::CountOrNull: return v.is_null() || isCount(v);
    default: return false;
  }
}

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
std::string index(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

// Checks one replay report (or a compare report's own fields); base is the report's path inside a compare
// report ("variants[0].reports[1]"), empty at the top.
class Checker {
 public:
  explicit Checker(std::string base) : base_(std::move(base)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& why) const {
    const std::string full = base_.empty() ? path : path.empty() ? base_ : base_ + "." + path;
    throw SchemaError(full.empty() ? why : full + ": " + why);
  }
  void typeError(const std::string& path, Type t, const Json& v) const {
    fail(path, fmt::format("expected {}, found {}", expected(t), found(v)));
  }

  // The fields of s in object j (already known to be an object).
  void object(const Json& j, const Shape& s, const std::string& path) const {
    for (const Field& f : s.fields) {
      const std::string p = join(path, f.key);
      const auto it = j.find(f.key);
      if (it == j.end()) {
        if (f.need == Need::Always) fail(p, "missing");
        if (f.need == Need::Go && go_) fail(p, "missing (required for the go backend)");
        if (f.need == Need::Heap && (go_ || runtime_)) fail(p, fmt::format("missing (required for the {} backend)", backend_));
        if (f.need == Need::Runtime && runtime_) fail(p, "missing (required for the go-runtime backend)");
        if (f.need == Need::Timed && timed_)
          fail(p, "missing (a report with timings has it; only --no-timings reports leave out every time- and "
                  "kernel-dependent field)");
        continue;
      }
      if (f.need == Need::Go && !go_)
        fail(p, fmt::format("unexpected in a report of the {} backend (only go reports have it)", backend_));
      if (f.need == Need::Heap && !go_ && !runtime_)  // "go reports": go and go-runtime
        fail(p, fmt::format("unexpected in a report of the {} backend (only go reports have it)", backend_));
      if ((f.need == Need::Runtime || f.need == Need::RuntimeOptional) && !runtime_)
        fail(p, fmt::format("unexpected in a report of the {} backend (only go-runtime reports have it)", backend_));
      value(*it, f, p);
    }
  }

  void value(const Json& v, const Field& f, const std::string& p) const {
    switch (f.type) {
      case Type::Object:
        if (!v.is_object()) typeError(p, f.type, v);
        if (f.shape) object(v, *f.shape, p);
        return;
      case Type::Array:
        if (!v.is_array()) typeError(p, f.type, v);
        if (f.shape)
          for (size_t i = 0; i < v.size(); i++) {
            if (!v[i].is_object()) typeError(index(p, i), Type::Object, v[i]);
            object(v[i], *f.shape, index(p, i));
          }
        return;
      case Type::Strings:
      case Type::Counts:
      case Type::Numbers:
        if (!v.is_array()) typeError(p, f.type, v);
        for (size_t i = 0; i < v.size(); i++) {
          const Type each = f.type == Type::Strings ? Type::String : f.type == Type::Counts ? Type::Count : Type::Number;
          if (!scalarOk(v[i], each)) typeError(index(p, i), each, v[i]);
        }
        return;
      case Type::Settings:
        if (!v.is_object()) typeError(p, f.type, v);
        for (auto& [k, x] : v.items())
          if (!x.is_string() && !x.is_number() && !x.is_boolean())
            fail(join(p, k), fmt::format("expected a string, a number or true/false, found {}", found(x)));
        return;
      default:
        if (!scalarOk(v, f.type)) typeError(p, f.type, v);
    }
  }

  // A required string field of the top-level object, for the checks that run before the others.
  std::string topString(const Json& j, const char* key) const {
    const auto it = j.find(key);
    if (it == j.end()) fail(key, "missing");
    if (!it->is_string()) typeError(key, Type::String, *it);
    return it->get<std::string>();
  }
  void version(const Json& j, int oldest, int newest) const {
    const auto it = j.find("version");
    if (it == j.end()) fail("version", "missing");
    if (!isCount(*it)) typeError("version", Type::Count, *it);
    if (it->get<uint64_t>() < uint64_t(oldest) || it->get<uint64_t>() > uint64_t(newest))
      fail("version", fmt::format("{} (this build reads versions {} to {})", it->dump(), oldest, newest));
  }
  void oneOf(const std::string& path, const std::string& v, const std::vector<std::string>& allowed) const {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(path, fmt::format("'{}' is not one of {}", v, list));
  }

  void report(const Json& j) {
    if (!j.is_object()) fail("", fmt::format("expected a replay report (a JSON object), found {}", found(j)));
    if (topString(j, "schema") != kSchema) fail("schema", fmt::format("'{}' is not {}", j["schema"].get<std::string>(), kSchema));
    version(j, kOldestVersion, kVersion);
    // The backend decides what is required, so it is checked first.
    const auto config = j.find("config");
    if (config == j.end()) fail("config", "missing");
    if (!config->is_object()) typeError("config", Type::Object, *config);
    const auto backend = config->find("backend");
    if (backend == config->end()) fail("config.backend", "missing");
    if (!backend->is_string()) typeError("config.backend", Type::String, *backend);
    backend_ = backend->get<std::string>();
    oneOf("config.backend", backend_, replay::backendNames());
    go_ = backend_ == "go";
    runtime_ = backend_ == "go-runtime";
    timed_ = hasTimings(j);

    object(j, shapes().report, "");

    oneOf("config.touch", j["config"]["touch"].get<std::string>(), {"none", "first", "pages", "full"});
    if (j["procs"].empty()) fail("procs", "empty (a replay has at least one P)");
    const Json& s = j["summary"];
    const uint64_t allocs = s["allocs"].get<uint64_t>(), zero = s["zero_size_allocs"].get<uint64_t>();
    if (j["size_classes"].empty() && allocs > zero)
      fail("size_classes", fmt::format("empty, but summary.allocs is {} ({} of them zero-size, the only allocations "
                                       "without a class)",
                                       allocs, zero));
    if (go_ && j["locks"].empty()) fail("locks", "empty (the go backend always has the mheap lock)");
    if (j.contains("timeline"))
      for (size_t i = 0; i < j["timeline"].size(); i++) {
        const Json& row = j["timeline"][i];
        if (row["heap_inuse_bytes"].is_null()) continue;
        for (const char* k : {"heap_idle_bytes", "heap_released_bytes", "heap_sys_bytes", "heap_alloc_bytes", "heap_objects"})
          if (!row.contains(k)) fail(join(index("timeline", i), k), "missing (required when heap_inuse_bytes is a number)");
      }
    if (j.contains("allocator_stats")) checkFigures(j["allocator_stats"]);
  }

  void compare(const Json& j) {
    if (!j.is_object()) fail("", fmt::format("expected a compare report (a JSON object), found {}", found(j)));
    if (topString(j, "schema") != kCompareSchema)
      fail("schema", fmt::format("'{}' is not {}", j["schema"].get<std::string>(), kCompareSchema));
    version(j, kOldestCompareVersion, kCompareVersion);
    object(j, shapes().compare, "");
    const Json& o = j["options"];
    if (o["repeat"].get<uint64_t>() == 0) fail("options.repeat", "0 (a compare runs each variant at least once)");
    oneOf("options.touch", o["touch"].get<std::string>(), {"none", "first", "pages", "full"});
    if (!(o["alpha"].get<double>() > 0 && o["alpha"].get<double>() < 1)) fail("options.alpha", "not between 0 and 1");
    const Json& variants = j["variants"];
    if (variants.empty()) fail("variants", "empty (a compare report has at least one variant)");
    for (size_t i = 0; i < variants.size(); i++) {
      const Json& v = variants[i];
      const std::string p = index("variants", i);
      const std::string name = v["name"].get<std::string>();
      if (name.empty()) fail(join(p, "name"), "empty");
      for (size_t k = 0; k < i; k++)
        if (variants[k]["name"] == v["name"])
          fail(join(p, "name"), fmt::format("'{}' is also the name of variants[{}]", name, k));
      const std::string allocator = v["allocator"].get<std::string>();
      oneOf(join(p, "allocator"), allocator, replay::backendNames());
      const Json& runs = v["reports"];
      if (runs.empty()) fail(join(p, "reports"), "empty (every variant ran at least once)");
      for (size_t k = 0; k < runs.size(); k++) {
        const std::string rp = join(p, index("reports", k));
        Checker inner(base_.empty() ? rp : base_ + "." + rp);
        inner.report(runs[k]);
        const std::string backend = runs[k]["config"]["backend"].get<std::string>();
        if (backend != allocator)
          fail(join(rp, "config.backend"), fmt::format("'{}', but the variant's allocator is '{}'", backend, allocator));
      }
    }
    if (j["baseline"] != variants[0]["name"])
      fail("baseline", fmt::format("'{}' is not the first variant, '{}'", j["baseline"].get<std::string>(),
                                   variants[0]["name"].get<std::string>()));
  }

  // The allocator's figures: every member of at_end and of each at_gc element is a count.
  void checkFigures(const Json& a) const {
    auto each = [&](const Json& o, const std::string& path) {
      for (auto& [k, v] : o.items())
        if (!isCount(v)) typeError(join(path, k), Type::Count, v);
    };
    each(a["at_end"], "allocator_stats.at_end");
    for (size_t i = 0; i < a["at_gc"].size(); i++) each(a["at_gc"][i], index("allocator_stats.at_gc", i));
  }

 private:
  std::string base_;
  std::string backend_;
  bool go_ = false, runtime_ = false, timed_ = false;
};

// Whether any field of s that --no-timings leaves out is in j (types not yet checked).
bool anyTimed(const Json& j, const Shape& s) {
  if (!j.is_object()) return false;
  for (const Field& f : s.fields) {
    const auto it = j.find(f.key);
    if (it == j.end()) continue;
    if (f.need == Need::Timed || f.need == Need::TimedOptional) return true;
    if (!f.shape) continue;
    if (f.type == Type::Object && anyTimed(*it, *f.shape)) return true;
    if (f.type == Type::Array && it->is_array())
      for (const Json& e : *it)
        if (anyTimed(e, *f.shape)) return true;
  }
  return false;
}

}  // namespace

bool hasTimings(const Json& report) { return anyTimed(report, shapes().report); }

void checkReportSchema(const Json& j) { Checker("").report(j); }

void checkCompareSchema(const Json& j) { Checker("").compare(j); }

void checkAnySchema(const Json& j) {
  const std::string expect = fmt::format("expected \"schema\": \"{}\" or \"{}\"", kSchema, kCompareSchema);
  if (!j.is_object()) throw SchemaError(fmt::format("not a gomalloc report (a JSON object), found {}", found(j)));
  const auto it = j.find("schema");
  if (it == j.end()) throw SchemaError("not a gomalloc report (no \"schema\" field; " + expect + ")");
  if (it->is_string() && *it == kCompareSchema) return checkCompareSchema(j);
  if (it->is_string() && *it == kSchema) return checkReportSchema(j);
  throw SchemaError(fmt::format("not a gomalloc report (\"schema\" is {}; {})", found(*it), expect));
}

}  // namespace gomalloc::reports
