// gomalloc validate, info, gen and convert: the trace commands (traces/ does the work; see
// docs/trace-format.md).
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "core/sizeclasses.h"
#include "reports/info.h"
#include "reports/metrics.h"
#include "traces/convert.h"
#include "traces/generate.h"
#include "traces/import.h"
#include "traces/loader.h"
#include "traces/reader.h"
#include "traces/stats.h"
#include "traces/writer.h"

namespace gomalloc::cli {
namespace {

using traces::TraceError;

constexpr size_t kMaxListedErrors = 100;

using reports::formatName;

// The number format of every command (reports/metrics.h): grouped digits, bytes in binary units.
std::string count(uint64_t n) { return reports::formatValue(double(n), reports::Unit::Count); }
std::string bytes(uint64_t n) { return reports::formatValue(double(n), reports::Unit::Bytes); }

std::string pct(uint64_t part, uint64_t whole) {
  return whole ? fmt::format("{:.1f}%", 100.0 * double(part) / double(whole)) : "-";
}

// ---- validate ----

int runValidate(const std::string& path, bool lenient) {
  std::vector<std::string> errors;
  uint64_t more = 0;
  traces::ProgramBuilder::Options o;
  o.lenient = lenient;
  o.keepOps = false;
  o.onError = [&](const std::string& m) {
    if (errors.size() < kMaxListedErrors) errors.push_back(m);
    else more++;
  };
  traces::ProgramBuilder b(path, o);
  uint64_t allocs = 0, frees = 0, gcs = 0;
  std::unique_ptr<traces::TraceReader> r;
  try {
    traces::ReadOptions ro{lenient, {}};
    ro.recover = true;  // errors confined to one event are listed and the reading goes on
    r = traces::openTrace(path, ro);
    std::vector<traces::Event> buf(1024);
    std::vector<traces::EventError> bad;
    size_t nextBad = 0;
    auto reportBad = [&](uint64_t upTo) {  // the reader's errors of events up to index upTo, in file order
      for (; nextBad < bad.size() && bad[nextBad].index <= upTo; nextBad++) o.onError(bad[nextBad].message);
    };
    while (size_t n = r->read(buf.data(), buf.size())) {
      bad = r->takeEventErrors();
      nextBad = 0;
      uint64_t index = r->batchFirst();
      for (size_t i = 0; i < n; i++, index++) {
        reportBad(index);
        auto step = b.add(buf.data(), n, i, index);
        switch (buf[i].op) {
          case traces::Op::Alloc: allocs++; break;
          case traces::Op::Free: frees += !step.skipped; break;
          case traces::Op::Gc: gcs++; break;
        }
      }
      reportBad(~uint64_t{0});
    }
    for (auto& e : r->takeEventErrors()) o.onError(e.message);
  } catch (const TraceError& e) {
    if (r)
      for (auto& q : r->takeEventErrors()) o.onError(q.message);  // events before the error that ends the reading
    errors.push_back(e.what());  // a reader error ends the reading
  }
  for (auto& e : errors) warn(e);
  if (more) warn(fmt::format("{}: ... and {} more errors", path, more));
  if (!errors.empty()) {
    warn(fmt::format("{}: invalid trace ({} error{})", path, errors.size() + more, errors.size() + more == 1 ? "" : "s"));
    return kExitUsage;
  }
  traces::ReplayProgram p = b.finish();
  for (auto& w : p.warnings) warn(w);
  for (auto& w : r->warnings()) warn(w);
  writeOutput("-", fmt::format("{}: valid {} trace: {} events ({} alloc, {} free, {} gc), {} thread{}, {} objects "
                               "live at the end\n",
                               path, formatName(r->format()), count(p.events), count(allocs), count(frees), count(gcs),
                               count(p.threadIds.size()), p.threadIds.size() == 1 ? "" : "s", count(p.liveAtEnd)));
  return 0;
}

// ---- info ----

using reports::infoClassRows;
using reports::lifetimeLabel;

// meta[key] when it is a string, else "".
std::string metaString(const traces::TraceStats& s, const char* key) {
  const auto& m = s.header.meta;
  return m.is_object() && m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : "";
}

std::string renderTable(const traces::TraceStats& s, const std::optional<traces::ReadTiming>& time) {
  std::string out;
  auto line = [&](const char* key, const std::string& v) { out += fmt::format("{:<19}{}\n", key, v); };
  line("trace", s.path);
  line("format", fmt::format("{}, {}{}", formatName(s.format), bytes(s.rawBytes),
                             s.rawBytes != s.bytes ? fmt::format(" ({} decompressed)", bytes(s.bytes)) : ""));
  if (const std::string source = metaString(s, "source"); !source.empty()) {
    const std::string command = metaString(s, "command");  // the recorded program (heaptrack's X line)
    line("source", command.empty() ? source : fmt::format("{} of `{}`", source, command));
  }
  for (const char* key : {"import", "record"}) {  // what an importer or the recorder repaired and counted
    if (!s.header.meta.is_object() || !s.header.meta.contains(key) || !s.header.meta[key].is_object()) continue;
    std::string counts;
    for (auto& [k, v] : s.header.meta[key].items()) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", k, v.dump());
    line(key, counts);
  }
  line("digest", s.digest);
  line("events", fmt::format("{}: {} alloc, {} free, {} gc", count(s.events), count(s.allocs), count(s.frees),
                             count(s.gcs)));
  line("threads", fmt::format("{}{}{}", count(s.threads),
                              s.header.threads ? fmt::format(" (header: {})", *s.header.threads) : "",
                              metaString(s, "threads") == "unknown"
                                  ? "; thread ids unknown: the source has none, every event is on thread 0"
                                  : ""));
  // What an importer could not know and assumed instead (heaptrack: coarse times, pointers, free pairing).
  for (const char* key : {"times", "scan", "free_pairing"})
    if (const std::string v = metaString(s, key); !v.empty()) line(key, v);
  // "requested": the sizes the trace asks for, replay's summary.bytes_requested (not rounded up to a class).
  line("requested", fmt::format("{} in {} allocs ({} with pointers)", bytes(s.bytesAllocated), count(s.allocs),
                                pct(s.scanAllocs, s.allocs)));
  line("peak live", fmt::format("{} requested, {} objects", bytes(s.peakLiveBytes), count(s.peakLiveObjects)));
  line("live at exit", fmt::format("{} requested, {} objects", bytes(s.liveBytesAtEnd), count(s.liveAtEnd)));
  line("cross-thread frees", fmt::format("{} ({} of frees)", count(s.crossThreadFrees), pct(s.crossThreadFrees, s.frees)));
  if (s.unknownKeys.total) {
    std::string names;
    uint64_t named = 0;
    for (auto& [k, n] : s.unknownKeys.keys) {
      if (names.size() > 60) break;  // a few; the JSON has the first 16
      names += fmt::format("{}\"{}\" {}", names.empty() ? "" : ", ", k, count(n));
      named += n;
    }
    if (named < s.unknownKeys.total) names += ", ...";
    line("unknown keys", fmt::format("{} skipped ({})", count(s.unknownKeys.total), names));
  }
  if (s.skippedFrees || s.implicitFrees)
    line("lenient", fmt::format("{} frees skipped, {} implicit frees", count(s.skippedFrees), count(s.implicitFrees)));
  if (time) {
    double sec = time->seconds > 0 ? time->seconds : 1e-9;
    line("read time", fmt::format("{:.3f} s: {:.1f} MB/s of file, {:.1f} MB/s decompressed, {:.2f} M events/s "
                                  "(a pass that only reads)",
                                  sec, double(time->rawBytes) / sec / 1e6, double(time->bytes) / sec / 1e6,
                                  double(time->events) / sec / 1e6));
    line("stats time", fmt::format("{:.3f} s (the statistics pass, reading included: {:.3f} s)", s.seconds,
                                   s.readSeconds));
  }
  out += "\nsize class  object size      allocs   share   requested\n";
  for (auto& r : infoClassRows(s))
    out += fmt::format("{:>10}  {:>11}  {:>10}  {:>6}  {:>10}\n", r.label, r.bytes ? bytes(r.bytes) : "-",
                       count(r.objects), pct(r.objects, s.allocs), bytes(r.requested));
  out += "\nlifetime (events)     objects   share\n";
  uint64_t died = 0;
  for (auto c : s.lifetimeLog2) died += c;
  for (size_t k = 0; k < s.lifetimeLog2.size(); k++)
    if (s.lifetimeLog2[k])
      out += fmt::format("{:>17}  {:>10}  {:>6}\n", lifetimeLabel(k), count(s.lifetimeLog2[k]), pct(s.lifetimeLog2[k], died));
  if (s.liveAtEnd) out += fmt::format("{:>17}  {:>10}\n", "live at exit", count(s.liveAtEnd));
  return out;
}

std::string renderJson(const traces::TraceStats& s, const std::optional<traces::ReadTiming>& time) {
  nlohmann::ordered_json j;
  j["schema"] = "gomalloc-info";
  j["version"] = 1;
  j["trace"] = s.path;
  j["format"] = formatName(s.format);
  j["file_bytes"] = s.rawBytes;
  j["bytes"] = s.bytes;
  j["digest"] = s.digest;
  j["meta"] = s.header.meta;
  j["events"] = {{"total", s.events}, {"alloc", s.allocs}, {"free", s.frees}, {"gc", s.gcs}};
  j["threads"] = s.threads;
  if (s.header.threads) j["declared_threads"] = *s.header.threads;
  j["bytes_requested"] = s.bytesAllocated;  // replay's summary.bytes_requested
  j["scan_allocs"] = s.scanAllocs;
  j["peak_live"] = {{"bytes", s.peakLiveBytes}, {"objects", s.peakLiveObjects}};
  j["live_at_exit"] = {{"bytes", s.liveBytesAtEnd}, {"objects", s.liveAtEnd}};
  j["cross_thread_frees"] = s.crossThreadFrees;
  j["skipped_frees"] = s.skippedFrees;
  j["implicit_frees"] = s.implicitFrees;
  nlohmann::ordered_json keys = nlohmann::ordered_json::object();
  for (auto& [k, n] : s.unknownKeys.keys) keys[k] = n;
  j["unknown_keys"] = {{"total", s.unknownKeys.total}, {"keys", keys}};
  auto classes = nlohmann::ordered_json::array();
  for (auto& r : infoClassRows(s))
    classes.push_back({{"class", r.label}, {"object_bytes", r.bytes}, {"objects", r.objects},
                       {"bytes_requested", r.requested}});
  j["size_classes"] = classes;
  auto life = nlohmann::ordered_json::array();
  for (size_t k = 0; k < s.lifetimeLog2.size(); k++)
    if (s.lifetimeLog2[k])
      life.push_back({{"min_events", uint64_t{1} << k}, {"max_events", (uint64_t{1} << k) * 2 - 1},
                      {"objects", s.lifetimeLog2[k]}});
  j["lifetimes"] = life;
  j["warnings"] = s.warnings;
  if (time) {
    double sec = time->seconds > 0 ? time->seconds : 1e-9;
    j["time"] = {{"seconds", s.seconds},
                 {"read_seconds", time->seconds},
                 {"stats_read_seconds", s.readSeconds},
                 {"file_mb_per_s", double(time->rawBytes) / sec / 1e6},
                 {"mb_per_s", double(time->bytes) / sec / 1e6},
                 {"events_per_s", double(time->events) / sec}};
  }
  return j.dump(2) + "\n";
}

}  // namespace

void registerTraceCommands(Registry& r) {
  // validate
  {
    struct Opts {
      std::string trace;
      bool lenient = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = r.app.add_subcommand("validate", "Check a trace against the format (exit 0 valid, 2 invalid)");
    sub->add_option("trace", o->trace, "Trace file (.json, .jsonl, .gmt; optionally .zst or .gz)")->required();
    sub->add_flag("--lenient", o->lenient, "Skip frees of dead ids and free live ids re-allocated (warnings)");
    r.add(sub, [o] { return runValidate(o->trace, o->lenient); });
  }
  // info
  {
    struct Opts {
      std::string trace, format = "table", output = "-";
      bool time = false, lenient = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = r.app.add_subcommand("info", "Summarize a trace: events, threads, sizes, live set, lifetimes");
    sub->add_option("trace", o->trace, "Trace file")->required();
    sub->add_option("--format", o->format, "table, json or html (the size and lifetime histograms)")
        ->check(CLI::IsMember({"table", "json", "html"}));
    sub->add_option("-o,--output", o->output, "Output file (- for stdout), written atomically");
    sub->add_flag("--time", o->time, "Report the read throughput (MB/s, events/s)");
    sub->add_flag("--lenient", o->lenient, "Read leniently (see validate)");
    r.add(sub, [o] {
      checkOutputs({o->output}, {o->trace});
      traces::TraceStats s;
      try {
        s = traces::computeStats(o->trace, traces::LoadOptions{o->lenient});
      } catch (const TraceError& e) {
        throw UsageError(e.what(), 2);
      }
      std::optional<traces::ReadTiming> time;
      if (o->time) time = traces::timeRead(o->trace, traces::ReadOptions{o->lenient, std::nullopt});
      for (auto& w : s.warnings) warn(w);
      writeOutput(o->output, o->format == "json"   ? renderJson(s, time)
                             : o->format == "html" ? reports::renderInfoHtml(s, time)
                                                   : renderTable(s, time));
      return 0;
    });
  }
  // gen
  {
    auto o = std::make_shared<traces::GenOptions>();
    auto out = std::make_shared<std::string>();
    auto threads = std::make_shared<uint32_t>(0);
    auto gcEvery = std::make_shared<uint64_t>(0);
    std::string kinds;
    for (auto& k : traces::genKinds()) kinds += fmt::format("\n  {:<18} {}", k.name, k.summary);
    auto* sub = r.app.add_subcommand("gen", "Generate a synthetic trace. Kinds:" + kinds);
    std::vector<std::string> names;
    for (auto& k : traces::genKinds()) names.emplace_back(k.name);
    sub->add_option("kind", o->kind, "Workload kind")->required()->check(CLI::IsMember(names));
    sub->add_option("-o,--output", *out, "Output trace (.json, .jsonl, .gmt; optionally .zst or .gz)")->required();
    sub->add_option("--events", o->events, "Number of events")->capture_default_str();
    auto* th = sub->add_option("--threads", *threads, "Threads (default: the kind's)")->check(CLI::Range(1, 65536));
    sub->add_option("--seed", o->seed, "Random seed (same seed, same trace)")->capture_default_str();
    auto* gc = sub->add_option("--gc-every", *gcEvery, "A gc event every N events, 0 for none (default: the kind's)");
    r.add(sub, [o, out, threads, gcEvery, th, gc] {
      checkOutputs({*out}, {});
      if (th->count()) o->threads = *threads;
      if (gc->count()) o->gcEvery = *gcEvery;
      try {
        auto w = traces::createWriter(*out, traces::genHeader(*o));
        traces::generate(*o, *w);
        w->finish();
        std::cerr << fmt::format("wrote {}: {} events ({}, seed {})\n", *out, w->eventsWritten(), o->kind, o->seed);
      } catch (const TraceError& e) {
        throw UsageError(e.what(), 2);
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what(), 2);
      }
      return 0;
    });
  }
  // import FORMAT: one subcommand per format of traces::importFormats(), each with FILE (- for stdin), -o and its
  // own options
  {
    std::string formats;
    for (auto& f : traces::importFormats()) formats += fmt::format("\n  {:<18} {}", f.name, f.summary);
    auto* imp = r.app.add_subcommand("import", "Import another tool's allocation trace. Formats:" + formats);
    imp->require_subcommand(1);
    for (const traces::ImportFormat& f : traces::importFormats()) {
      struct Opts {
        std::string in, out;
        std::map<std::string, std::string> options;
      };
      auto o = std::make_shared<Opts>();
      auto* sub = imp->add_subcommand(f.name, "Import " + f.summary + " (plain, .zst or .gz; - for stdin)");
      sub->add_option("file", o->in, f.inputHelp)->required();
      sub->add_option("-o,--output", o->out, "Output trace (.json, .jsonl, .gmt; optionally .zst or .gz)")->required();
      for (const traces::ImportOption& opt : f.options) {
        o->options[opt.name] = opt.defaultValue;
        sub->add_option("--" + opt.name, o->options[opt.name], opt.help)->check(CLI::IsMember(opt.values));
      }
      r.add(sub, [o, &f] {
        checkOutputs({o->out}, {o->in});
        std::string summary;
        try {
          summary = f.run(o->in, o->out, o->options);
        } catch (const TraceError& e) {
          throw UsageError(e.what(), 2);
        }
        std::cerr << fmt::format("imported {}: {}\n", o->in, summary);
        return 0;
      });
    }
  }
  // convert
  {
    struct Opts {
      std::string in, out;
      bool lenient = false;
    };
    auto o = std::make_shared<Opts>();
    auto* sub = r.app.add_subcommand("convert", "Convert a trace to the encoding named by OUT's suffix (lossless)");
    sub->add_option("in", o->in, "Input trace")->required();
    sub->add_option("out", o->out, "Output trace (.json, .jsonl, .ndjson, .gmt; optionally .zst or .gz)")->required();
    sub->add_flag("--lenient", o->lenient, "Repair instead of failing: drop frees of dead ids, free re-allocated ids");
    r.add(sub, [o] {
      checkOutputs({o->out}, {o->in});
      traces::ConvertResult res;
      try {
        res = traces::convertTrace(o->in, o->out, traces::ConvertOptions{o->lenient});
      } catch (const TraceError& e) {
        throw UsageError(e.what(), 2);
      }
      for (auto& w : res.warnings) warn(w);
      std::cerr << fmt::format("converted {} ({}, {} events) to {} ({}, {} events)\n", o->in, formatName(res.from),
                               res.eventsIn, o->out, formatName(res.to), res.eventsOut);
      return 0;
    });
  }
}

}  // namespace gomalloc::cli
