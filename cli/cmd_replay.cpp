// gomalloc replay: replays a trace through an allocator backend and prints the report (docs/report.md).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
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
    const double rate = p.elapsedSeconds > 0 ? double(p.done) / p.elapsedSeconds : 0;
    std::string line;
    if (p.total == 0) {  // a streamed trace of unknown length: what is done so far
      line = fmt::format("\r{:.1f} M events  {:.2f} M events/s\x1b[K", double(p.done) / 1e6, rate / 1e6);
    } else {
      const double frac = std::min(1.0, double(p.done) / double(p.total));
      const int width = 30, filled = int(frac * width);
      std::string bar(size_t(filled), '=');
      if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
      std::string eta = rate > 0 && p.total > p.done ? fmt::format("ETA {:.0f} s", double(p.total - p.done) / rate) : "";
      line = fmt::format("\r[{}] {:5.1f}%  {:.2f} M events/s  {}\x1b[K", bar, 100 * frac, rate / 1e6, eta);
    }
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
  uint64_t window = 0;  // 0: the default (replay::defaultWindow)
  std::string format = "table";
  std::string output = "-";
  bool noTimings = false;
  bool quiet = false;
  bool allClasses = false, allGcCycles = false;  // table
  std::string xAxis;                              // html: events (default) or time
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
    text = reports::renderHtml(rep, {o.xAxis == "time" ? reports::TimelineAxis::Time : reports::TimelineAxis::Events});
  } else if (format == reports::Format::Json && o.noTimings) {
    nlohmann::ordered_json j = reports::toJson(rep);
    reports::stripVolatile(j);
    text = j.dump(2) + "\n";
  } else {
    text = reports::render(rep, format, {o.allClasses, o.allGcCycles});
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
  if (o.window != 0) args.insert(args.end(), {"--window", std::to_string(o.window)});
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

void printWarnings(const ReplayOpts& o, const std::vector<std::string>& warnings) {
  if (o.quiet) return;
  for (size_t i = 0; i < warnings.size() && i < 5; i++) warn(warnings[i]);
  if (warnings.size() > 5) warn(fmt::format("... and {} more warnings", warnings.size() - 5));
}

// f() loads (some of) the trace before the replay: a bad trace exits 2, Ctrl-C 130.
template <class F>
auto loading(F&& f) {
  try {
    return f();
  } catch (const traces::TraceError& e) {
    throw UsageError(e.what(), 2);
  } catch (const traces::LoadCancelled&) {
    throw UsageError("replay: interrupted while loading the trace; nothing was replayed, no report written", 130);
  }
}

bool isRegularFile(const std::string& path) {
  struct stat st {};
  return path != "-" && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int runReplay(const ReplayOpts& o) {
  checkOutputs({o.output}, {o.trace, o.heap.configFile});
  if (o.noTimings && o.format != "json") throw UsageError("--no-timings applies to --format json only");
  if ((o.allClasses || o.allGcCycles) && o.format != "table")
    throw UsageError(std::string(o.allClasses ? "--all-classes" : "--all-gc-cycles") +
                     " applies to --format table only (json and csv have every row)");
  if (!o.xAxis.empty() && o.format != "html") throw UsageError("--x-axis applies to --format html only");
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
  if (cfg.marksGiven() && !o.deterministic)
    throw UsageError(replay::Backend::kNeedsDeterministic);

  // From here until the report is written, Ctrl-C stops the work (loading or replaying) and a late one does
  // not cut the report short; a second Ctrl-C ends the process.
  SigintGuard guard;
  traces::LoadOptions lo{o.lenient};
  lo.cancel = &sigintFlag();
  if (goRuntime) {  // the whole program, written to a file for the child (replay/goruntime_backend.h)
    const auto loadStart = std::chrono::steady_clock::now();
    const traces::ReplayProgram program = loading([&] { return traces::loadProgram(o.trace, lo); });
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();
    printWarnings(o, program.warnings);
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
  if (o.noTimings) ropt.latencySampleEvery = 0;  // (left out of the report anyway: not deterministic)
  ropt.cancel = &sigintFlag();
  ProgressBar bar;
  if (!o.quiet && ::isatty(STDERR_FILENO)) ropt.onProgress = [&bar](const replay::Progress& p) { bar.draw(p); };

  // The trace streams in windows (docs/design.md, "Streaming replay"). The thread set comes from the first
  // window; a thread that first appears later starts the replay again, with the set from a pass over the file
  // (a pipe cannot be read twice: that is an error).
  std::optional<std::vector<uint16_t>> threadIds;
  for (;;) {
    const auto loadStart = std::chrono::steady_clock::now();
    traces::ReplayProgram first;
    auto stream = loading([&] {
      auto open = [&] { return traces::openTrace(o.trace, traces::readOptionsFor(lo)); };
      traces::ProgramStream::Options so{lo, o.window, threadIds};
      if (o.window == 0) {
        replay::useDefaultWindows(so);
        if (isRegularFile(o.trace)) so.reopen = open;
      }
      auto s = std::make_unique<traces::ProgramStream>(open(), so);
      s->next(first);
      return s;
    });
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();

    std::unique_ptr<replay::Backend> backend;
    try {
      const int procs = replay::effectiveProcs(first, ropt);
      if (o.window == 0) stream->setWindow(replay::defaultWindow(procs, ropt));
      const replay::MemoryLimit limit = replay::resolveMemoryLimit(o.memoryLimit, procs, first.slots);
      backend = replay::makeBackend(o.allocator, procs, cfg, limit);
      ropt.memoryLimit = replay::backendMemoryLimit(o.allocator, cfg, limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what(), 2);
    }

    replay::Result result;
    try {
      result = replay::runStream(*stream, first, *backend, ropt);
    } catch (const traces::NewThreadError& e) {
      bar.clear();
      if (threadIds || !isRegularFile(o.trace))
        throw UsageError(std::string(e.what()) + "; the thread set must be known when the replay starts: replay a file "
                         "(read twice when this happens) rather than a pipe, or a larger --window",
                         2);
      threadIds = loading([&] { return traces::traceThreadIds(o.trace, lo); });
      continue;
    } catch (const traces::TraceError& e) {
      bar.clear();
      throw UsageError(std::string(e.what()) + " (the replay stopped there; no report written)", 2);
    } catch (...) {
      bar.clear();
      throw;
    }
    bar.clear();
    printWarnings(o, result.trace.warnings);
    result.loadSeconds = loadSeconds;
    return finish(o, reports::build(result, toolInfo()));
  }
}

}  // namespace

void registerReplay(Registry& r) {
  auto o = std::make_shared<ReplayOpts>();
  auto* sub = r.app.add_subcommand("replay", "Replay a trace through an allocator and report what happened");
  sub->add_option("trace", o->trace, "Trace file (.json, .jsonl, .gmt, optionally .zst or .gz; - for standard input)")
      ->required();
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
  sub->add_option("--window", o->window,
                  "Events per streaming window: loading runs one window ahead of the replay (default: 16384 "
                  "growing to 1048576 with several Ps, 16384 with one replay thread; about 40 bytes per event of "
                  "memory)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  sub->add_flag("--lenient", o->lenient, "Skip frees of dead ids; free live ids that are allocated again");
  sub->add_option("--format", o->format, "table, json, csv or html")
      ->check(CLI::IsMember({"table", "json", "csv", "html"}));
  sub->add_option("-o,--output", o->output, "Write the report to this file (atomically) instead of stdout");
  sub->add_flag("--no-timings", o->noTimings, "JSON without time- and kernel-dependent fields (CI diffs)");
  sub->add_flag("--quiet", o->quiet, "No progress bar");
  sub->add_flag("--all-classes", o->allClasses,
                fmt::format("Table: every size class used (default: the {} with the most allocations)",
                            reports::kTableClasses));
  sub->add_flag("--all-gc-cycles", o->allGcCycles,
                fmt::format("Table: every GC cycle (default: the first {} and the last {})", reports::kTableFirstGcs,
                            reports::kTableLastGcs));
  sub->add_option("--x-axis", o->xAxis, "HTML timeline's x axis: events (trace events done; default) or time")
      ->check(CLI::IsMember({"events", "time"}));
  o->heap.addTo(sub);
  r.add(sub, [o] { return runReplay(*o); });
}

}  // namespace gomalloc::cli
