// gomalloc fidelity TRACE...: replays each trace on the Go model (`go`, deterministic, one P) and on the real
// Go 1.19 runtime (`go-runtime`, GOMAXPROCS=1, --runs times), each replay in a child process, and compares
// them figure by figure against the bounds of docs/fidelity.md (reports/fidelity.h). Exit 0 when every bound
// holds, 1 when one is exceeded, 2 on bad input.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <memory>

#include "cli/app.h"
#include "cli/heap_options.h"
#include "reports/fidelity.h"
#include "traces/stats.h"

namespace gomalloc::cli {
namespace {

struct FidelityOpts {
  std::vector<std::string> traces;
  std::string gogc = "off";
  int runs = 5;
  std::string format = "table", output = "-";
  std::vector<std::string> sets;  // model settings (key=value), after the baseline's
  bool quiet = false, lenient = false;
};

int runFidelity(const FidelityOpts& o) {
  checkOutputs({o.output}, o.traces);
  HeapOptions model;  // the model's --set values, checked before any replay
  model.sets = o.sets;
  (void)model.resolve();
  const std::string exe = selfExe();
  ScratchDirectory tmp("fidelity");
  SigintGuard sigint(false);  // children get Ctrl-C too (same process group)
  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  std::vector<reports::FidelityTrace> results;
  for (size_t ti = 0; ti < o.traces.size(); ti++) {
    auto replay = [&](const std::string& allocator, int run, std::vector<std::string> extra = {}) {
      const std::string out = (tmp.path() / fmt::format("{}-{}-{}.json", ti, allocator, run)).string();
      std::vector<std::string> args = {"replay", o.traces[ti], "--allocator", allocator, "--procs", "1", "--gogc",
                                       o.gogc,   "--format",   "json",        "-o",      out,   "--quiet"};
      if (allocator == "go") args.push_back("--deterministic");
      args.insert(args.end(), extra.begin(), extra.end());
      if (o.lenient) args.push_back("--lenient");
      if (progress)
        std::fprintf(stderr, "\rfidelity: %s on %s (run %d)\x1b[K", o.traces[ti].c_str(), allocator.c_str(), run + 1);
      const int code = runChild(exe, args);
      if (code == 130 || sigintFlag().load()) throw UsageError("fidelity: interrupted", 130);
      if (code != 0)
        throw UsageError(fmt::format("fidelity: {} on {} failed (exit status {}; its message is above)", o.traces[ti],
                                     allocator, code),
                         childExitCode(code));
      return readChildReport(out);
    };
    // The runtime first: its own live heap at the start (the baseline) is live throughout, and its pacer counts
    // it; the model's pacer is given the same (gc_baseline_bytes, the runs' median), its figures stay the trace's.
    std::vector<reports::Report> runtime;
    for (int r = 0; r < o.runs; r++) runtime.push_back(replay("go-runtime", r));
    std::vector<std::string> modelArgs = {
        "--set", fmt::format("gc_baseline_bytes={}", reports::runtimeBaselineLive(runtime)), "--set",
        fmt::format("gc_baseline_scan_bytes={}",
                    reports::runtimeBaselineScan(runtime, [&](uint64_t events) {
                      return traces::liveScanBytesAfter(o.traces[ti], events);
                    }))};
    if (auto s = reports::runtimeStackScan(runtime))
      modelArgs.insert(modelArgs.end(), {"--set", fmt::format("gc_stacks_bytes={}", *s)});
    if (auto g = reports::runtimeGlobalsScan(runtime))
      modelArgs.insert(modelArgs.end(), {"--set", fmt::format("gc_globals_bytes={}", *g)});
    if (o.gogc != "off") {
      const reports::RuntimePacing pacing = reports::runtimePacing(runtime);
      if (!pacing.markEvents.empty())
        modelArgs.insert(modelArgs.end(), {"--set", fmt::format("gc_mark_events={}", fmt::join(pacing.markEvents, ",")),
                                           "--set", fmt::format("gc_mark_starts={}", fmt::join(pacing.markStarts, ","))});
      if (!pacing.consMarks.empty())
        modelArgs.insert(modelArgs.end(), {"--set", fmt::format("gc_cons_marks={}", fmt::join(pacing.consMarks, ","))});
    }
    for (auto& s : o.sets) modelArgs.insert(modelArgs.end(), {"--set", s});
    const reports::Report model = replay("go", 0, modelArgs);
    try {
      results.push_back(reports::compareFidelity(model, runtime, o.gogc == "off"));
    } catch (const std::runtime_error& e) {
      throw UsageError(e.what(), 2);
    }
  }
  if (progress) std::fputs("\r\x1b[K", stderr);
  std::string text;
  if (o.format == "json") text = reports::fidelityToJson(results).dump(2) + "\n";
  else if (o.format == "markdown") text = reports::renderFidelityMarkdown(results);
  else if (o.format == "html") text = reports::renderFidelityHtml(results);
  else text = reports::renderFidelityTable(results);
  writeOutput(o.output, text);
  size_t failed = 0;
  for (auto& t : results) failed += t.failed();
  if (failed) {
    warn(fmt::format("{} bound{} exceeded", failed, failed == 1 ? "" : "s"));
    return kExitRegression;
  }
  return 0;
}

}  // namespace

void registerFidelity(Registry& r) {
  auto o = std::make_shared<FidelityOpts>();
  auto* sub = r.app.add_subcommand("fidelity", "Compare the Go model with the real Go 1.19 runtime on the same traces");
  sub->add_option("traces", o->traces, "Trace files")->required();
  sub->add_option("--gogc", o->gogc, "GOGC for both: a percentage or off (default off: collections at gc events only)");
  sub->add_option("--runs", o->runs, "Runs of the real runtime per trace (it varies from run to run; default 5)")
      ->check(CLI::Range(1, 100));
  sub->add_option("--format", o->format, "table, json, markdown or html")
      ->check(CLI::IsMember({"table", "json", "markdown", "html"}));
  sub->add_option("-o,--output", o->output, "Write the result to this file (atomically) instead of stdout");
  sub->add_option("--set", o->sets, "Set one Go-model setting for the model's replay, key=value (repeatable; "
                                    "docs/config.md), e.g. to see which pacer settings fit the runtime");
  sub->add_flag("--lenient", o->lenient, "Load the traces leniently (as replay --lenient)");
  sub->add_flag("--quiet", o->quiet, "No progress line");
  r.add(sub, [o] {
    if (o->gogc != "off") {
      char* end = nullptr;
      const long v = std::strtol(o->gogc.c_str(), &end, 10);
      if (o->gogc.empty() || *end || v < 0 || v > 1'000'000)
        throw UsageError("fidelity: --gogc " + o->gogc + ": expected a percentage (0 to 1000000) or off");
    }
    return runFidelity(*o);
  });
}

}  // namespace gomalloc::cli
