// gomalloc replay: replays a trace through an allocator backend and prints the report (docs/report.md).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/heap_options.h"
#include "replay/factory.h"
#include "replay/goruntime_backend.h"
#include "replay/replayer.h"
#include "reports/html.h"
#include "reports/json_input.h"
#include "reports/preload.h"
#include "reports/render.h"
#include "reports/schema.h"
#include "traces/error.h"
#include "traces/loader.h"

namespace gomalloc::cli {
namespace {

// "[=========>          ]  45.2%  12.3 M events/s  ETA 3 s" on stderr, redrawn in place.
class ProgressBar {
 public:
  void draw(const replay::Progress& p) {
    const double frac = p.total ? double(p.done) / double(p.total) : 1.0;
    const int width = 30, filled = int(frac * width);
    std::string bar(size_t(filled), '=');
    if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
    const double rate = p.elapsedSeconds > 0 ? double(p.done) / p.elapsedSeconds : 0;
    std::string eta = rate > 0 && p.total > p.done ? fmt::format("ETA {:.0f} s", double(p.total - p.done) / rate) : "";
    std::string line = fmt::format("\r[{}] {:5.1f}%  {:.2f} M events/s  {}\x1b[K", bar, 100 * frac, rate / 1e6, eta);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (!drawn_) return;
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
  }

 private:
  bool drawn_ = false;
};

struct ReplayOpts {
  HeapOptions heap;
  std::string trace;
  std::string allocator = "go";
  int procs = 0;
  bool deterministic = false;
  std::string touch = "pages";
  std::string memoryLimit = "auto";
  unsigned rssIntervalMs = 10;
  bool verify = false;
  bool lenient = false;
  std::string format = "table";
  std::string output = "-";
  bool noTimings = false;
  bool quiet = false;
};

// --memory-limit's values: auto or a size (replay/limits.h).
CLI::Validator memoryLimitValidator() {
  return CLI::Validator(
      [](std::string& s) {
        try {
          replay::parseMemoryLimit(s);
          return std::string();
        } catch (const std::invalid_argument& e) {
          return std::string(e.what());
        }
      },
      "SIZE|auto");
}

reports::ToolInfo toolInfo() { return reports::ToolInfo{"gomalloc", GOMALLOC_VERSION, "go1.19.8"}; }

bool hasHeapOptions(const HeapOptions& h) {
  return !h.preset.empty() || !h.configFile.empty() || !h.sets.empty() || !h.gogc.empty();
}

// Writes the report; returns the exit status it calls for.
int finish(const ReplayOpts& o, const reports::Report& rep) {
  const reports::Format format = o.format == "html" ? reports::Format::Table : *reports::parseFormat(o.format);
  std::string text;
  if (o.format == "html") {
    text = reports::renderHtml(rep);
  } else if (format == reports::Format::Json && o.noTimings) {
    nlohmann::ordered_json j = reports::toJson(rep);
    reports::stripVolatile(j);
    text = j.dump(2) + "\n";
  } else {
    text = reports::render(rep, format);
  }
  writeOutput(o.output, text);
  if (rep.interrupted) {
    warn("interrupted; the report covers the events replayed");
    return 130;
  }
  if (rep.verify && !rep.verify->passed) {
    warn(fmt::format("the heap verifier found {} problem(s)", rep.verify->errors.size()));
    return kExitRegression;
  }
  return 0;
}

// jemalloc, tcmalloc, mimalloc: the same replay with the system backend in a child with the library preloaded.
int runPreloaded(const ReplayOpts& o) {
  std::string library;
  try {
    library = reports::findPreloadLibrary(o.allocator);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what(), kExitFailed);
  }
  std::vector<std::string> args = {"replay",  o.trace, "--allocator",   "system", "--format", "json", "-o", "-",
                                   "--touch", o.touch, "--rss-interval", std::to_string(o.rssIntervalMs),
                                   "--memory-limit", o.memoryLimit};
  if (o.procs > 0) args.insert(args.end(), {"--procs", std::to_string(o.procs)});
  if (o.deterministic) args.push_back("--deterministic");
  if (o.lenient) args.push_back("--lenient");
  if (o.quiet) args.push_back("--quiet");
  SigintGuard guard;  // Ctrl-C is forwarded to the child, which writes its report and exits 130
  reports::ChildOutput child = reports::runPreloaded(selfExe(), args, library, &sigintFlag());
  if (child.exitCode == 130 && child.out.empty()) throw UsageError("replay: interrupted before the replay started; nothing was replayed, no report written", 130);
  if (child.exitCode != 0 && child.exitCode != 130)
    throw UsageError(fmt::format("the replay under {} failed (exit status {})", o.allocator, child.exitCode),
                     childExitCode(child.exitCode));
  reports::Report rep;
  try {
    const nlohmann::ordered_json j = reports::parseJsonChecked(child.out, "the child's report");
    reports::checkReportSchema(j);
    rep = reports::fromJson(j);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("the replay under {} wrote an unreadable report: {}", o.allocator, e.what()), kExitFailed);
  }
  try {
    rep = reports::relabel(std::move(rep), o.allocator, library);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what(), kExitFailed);
  }
  return finish(o, rep);
}

// go-runtime: the loaded program replayed in the real Go runtime, in a child process (replay/goruntime_backend.h).
reports::Report replayOnGoRuntime(const ReplayOpts& o, const traces::ReplayProgram& program, const std::string& exe,
                                  int gogc) {
  replay::GoRuntimeOptions g;
  g.program = exe;
  g.procs = o.procs;
  g.gogc = replay::gogcText(gogc);
  g.touch = *replay::parseTouchMode(o.touch);
  g.rssIntervalMs = o.rssIntervalMs;
  g.cancel = &sigintFlag();
  replay::Result result;
  try {
    replay::Options ropt;
    ropt.procs = o.procs;
    g.memoryLimit = replay::resolveMemoryLimit(o.memoryLimit, replay::effectiveProcs(program, ropt), program.slots);
    result = replay::runGoRuntime(program, g);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what(), 2);
  } catch (const replay::GoRuntimeInterrupted& e) {
    throw UsageError(std::string("replay: ") + e.what(), 130);
  } catch (const replay::GoRuntimeError& e) {
    throw UsageError(e.what(), kExitFailed);
  }
  return reports::build(result, toolInfo());
}

int runReplay(const ReplayOpts& o) {
  checkOutputs({o.output}, {o.trace, o.heap.configFile});
  if (o.noTimings && o.format != "json") throw UsageError("--no-timings applies to --format json only");
  const bool goRuntime = o.allocator == replay::kGoRuntimeBackend;
  const bool onlyGogc = o.heap.preset.empty() && o.heap.configFile.empty() &&
                        std::all_of(o.heap.sets.begin(), o.heap.sets.end(),
                                    [](const std::string& s) { return s.rfind("gogc=", 0) == 0; });
  if (o.allocator != "go" && hasHeapOptions(o.heap) && !(goRuntime && onlyGogc))
    throw UsageError(goRuntime ? "--allocator go-runtime takes --gogc (or --set gogc=N) only"
                               : "--preset, --config, --set and --gogc apply to --allocator go only");
  if (o.verify && o.allocator != "go")
    throw UsageError("--verify runs the Go model's heap verifier, so it applies to --allocator go only (not " +
                     o.allocator + ")");
  if (goRuntime && o.deterministic)
    throw UsageError("--deterministic does not apply to --allocator go-runtime: the real runtime's scheduling is not "
                     "deterministic (--procs 1 replays the trace in its order)");
  std::string goRuntimeExe;
  if (goRuntime) {
    try {
      goRuntimeExe = replay::findGoRuntimeProgram(selfExe());
    } catch (const replay::GoRuntimeError& e) {
      throw UsageError(e.what(), 2);
    }
  }
  const auto touch = replay::parseTouchMode(o.touch);  // checked by CLI11 already
  if (reports::isPreloadBackend(o.allocator)) return runPreloaded(o);

  core::Config cfg;
  if (o.allocator == "go" || goRuntime) cfg = o.heap.resolve();

  // From here until the report is written, Ctrl-C stops the work (loading or replaying) and a late one does
  // not cut the report short; a second Ctrl-C ends the process.
  SigintGuard guard;
  traces::ReplayProgram program;
  const auto loadStart = std::chrono::steady_clock::now();
  try {
    traces::LoadOptions lo{o.lenient};
    lo.cancel = &sigintFlag();
    program = traces::loadProgram(o.trace, lo);
  } catch (const traces::TraceError& e) {
    throw UsageError(e.what(), 2);
  } catch (const traces::LoadCancelled&) {
    throw UsageError("replay: interrupted while loading the trace; nothing was replayed, no report written", 130);
  }
  const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();
  if (!o.quiet && !program.warnings.empty()) {
    for (size_t i = 0; i < program.warnings.size() && i < 5; i++)
      warn(program.warnings[i]);
    if (program.warnings.size() > 5) warn(fmt::format("... and {} more warnings", program.warnings.size() - 5));
  }

  if (goRuntime) {
    reports::Report rep = replayOnGoRuntime(o, program, goRuntimeExe, cfg.gogc);
    rep.summary.loadSeconds = loadSeconds;
    return finish(o, rep);
  }

  replay::Options ropt;
  ropt.procs = o.procs;
  // --set procs=N (or a config file's procs) stands for --procs N when --procs is not given.
  const bool procsSet = std::any_of(o.heap.sets.begin(), o.heap.sets.end(),
                                    [](const std::string& s) { return s.rfind("procs=", 0) == 0; });
  if (o.procs == 0 && o.allocator == "go" && (procsSet || cfg.procs != core::Config{}.procs)) ropt.procs = cfg.procs;
  ropt.deterministic = o.deterministic;
  ropt.touch = *touch;
  ropt.rssIntervalMs = o.rssIntervalMs;
  ropt.verify = o.verify;
  ropt.cancel = &sigintFlag();
  ProgressBar bar;
  if (!o.quiet && ::isatty(STDERR_FILENO)) ropt.onProgress = [&bar](const replay::Progress& p) { bar.draw(p); };

  std::unique_ptr<replay::Backend> backend;
  int procs = 0;
  try {
    procs = replay::effectiveProcs(program, ropt);
    const replay::MemoryLimit limit = replay::resolveMemoryLimit(o.memoryLimit, procs, program.slots);
    backend = replay::makeBackend(o.allocator, procs, cfg, limit);
    ropt.memoryLimit = replay::backendMemoryLimit(o.allocator, cfg, limit);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what(), 2);
  }

  replay::Result result;
  try {
    result = replay::run(program, *backend, ropt);
  } catch (...) {
    bar.clear();
    throw;
  }
  bar.clear();
  result.loadSeconds = loadSeconds;
  return finish(o, reports::build(result, toolInfo()));
}

}  // namespace

void registerReplay(Registry& r) {
  auto o = std::make_shared<ReplayOpts>();
  auto* sub = r.app.add_subcommand("replay", "Replay a trace through an allocator and report what happened");
  sub->add_option("trace", o->trace, "Trace file (.json, .jsonl, .gmt, optionally .zst or .gz)")->required();
  sub->add_option("--allocator", o->allocator, "Backend: go, system, jemalloc, tcmalloc, mimalloc, null or go-runtime")
      ->check(CLI::IsMember(replay::backendNames()));
  sub->add_option("--procs", o->procs, "Number of Ps (default: the trace's thread count, at most 1024)")
      ->check(CLI::Range(1, replay::kMaxProcs));
  sub->add_flag("--deterministic", o->deterministic, "One OS thread interleaves every P in trace order");
  sub->add_option("--touch", o->touch, "Writes into each object: none, first, pages (default) or full")
      ->check(CLI::IsMember({"none", "first", "pages", "full"}));
  sub->add_option("--memory-limit", o->memoryLimit,
                  "Most memory the replay may take, every backend: SIZE (512MiB, 8GiB) or auto (default: the "
                  "machine's memory, cgroup limit and ulimits); go's max_heap_bytes defaults to it")
      ->check(memoryLimitValidator());
  sub->add_option("--rss-interval", o->rssIntervalMs, "RSS sampling period in ms (0: only at GC barriers)")
      ->check(CLI::Range(0u, 3'600'000u));
  sub->add_flag("--verify", o->verify, "Run the Go model's heap verifier after the last event");
  sub->add_flag("--lenient", o->lenient, "Skip frees of dead ids; free live ids that are allocated again");
  sub->add_option("--format", o->format, "table, json, csv or html")
      ->check(CLI::IsMember({"table", "json", "csv", "html"}));
  sub->add_option("-o,--output", o->output, "Write the report to this file (atomically) instead of stdout");
  sub->add_flag("--no-timings", o->noTimings, "JSON without time- and kernel-dependent fields (CI diffs)");
  sub->add_flag("--quiet", o->quiet, "No progress bar");
  o->heap.addTo(sub);
  r.add(sub, [o] { return runReplay(*o); });
}

}  // namespace gomalloc::cli
