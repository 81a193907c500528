// gomalloc compare: replays one trace or a suite of traces under several allocator configurations, each run in
// a child process of its own (`gomalloc replay ... --format json`), repeated and interleaved, and prints the
// comparison (reports/compare.h, reports/suite.h; docs/compare.md). --shard I/N runs one part of the runs and
// writes a part file; --merge puts the parts together into what one run prints.
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/heap_options.h"
#include "replay/factory.h"
#include "replay/limits.h"
#include "reports/compare.h"
#include "reports/html.h"
#include "reports/json_input.h"
#include "reports/render.h"
#include "reports/schema.h"
#include "reports/suite.h"
#include "traces/output.h"
#include "traces/stats.h"

extern char** environ;

namespace gomalloc::cli {
namespace {

namespace fs = std::filesystem;

struct CompareCliOptions {
  reports::CompareOptions run;
  std::vector<std::string> traces;  // the traces; with --merge, the part files
  std::vector<std::string> variants, configs, allocators;
  std::string format = "table";
  std::string output = "-";
  std::string memoryLimit;  // passed to every replay (empty: the replay's default, auto)
  std::string shard;  // --shard I/N
  bool merge = false;
  bool quiet = false;
};



// The variants in command-line order, whichever flag gave each.
std::vector<reports::VariantSpec> collectVariants(const CLI::App* sub, const CLI::Option* variantOpt,
                                                  const CLI::Option* configOpt, const CLI::Option* allocOpt) {
  std::vector<reports::VariantSpec> out;
  size_t iv = 0, ic = 0, ia = 0;
  for (const CLI::Option* o : sub->parse_order()) {
    if (o == variantOpt) {
      try {
        out.push_back(reports::parseVariant(variantOpt->results().at(iv++)));
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
      }
    } else if (o == configOpt) {
      const std::string file = configOpt->results().at(ic++);
      core::Config probe;
      const nlohmann::ordered_json j = applyConfigFile(probe, file);  // names the file if it is missing or wrong
      reports::VariantSpec v;
      v.configFile = file;
      v.name = fs::path(file).stem().string();
      if (j.contains("name")) {
        if (!j["name"].is_string() || j["name"].get<std::string>().empty())
          throw UsageError("config file " + file + ": \"name\" must be a non-empty string (the variant's name)");
        v.name = j["name"].get<std::string>();
      }
      out.push_back(v);
    } else if (o == allocOpt) {
      reports::VariantSpec v;
      v.allocator = v.name = allocOpt->results().at(ia++);
      out.push_back(v);
    }
  }
  for (size_t i = 0; i < out.size(); i++)
    for (size_t k = 0; k < i; k++)
      if (out[i].name == out[k].name)
        throw UsageError(fmt::format("two variants are named '{}'; give them different names (--variant NAME:..., or "
                                     "\"name\" in a config file)",
                                     out[i].name));
  return out;
}

// The run's effective Go-model settings (empty for other backends): what a part file records, so that parts
// whose config files or settings differ between machines do not merge.
reports::Settings resolvedSettings(const reports::VariantSpec& v) {
  if (v.allocator != "go") return {};
  core::Config cfg;
  if (!v.configFile.empty()) applyConfigFile(cfg, v.configFile);
  for (auto& [k, val] : v.sets) cfg.set(k, val);
  return cfg.entries();
}

void writeResult(const CompareCliOptions& o, const reports::SuiteResult& s) {
  std::string text;
  if (s.traces.size() == 1) {  // one trace: the compare report as it always was
    const reports::CompareResult& c = s.traces[0];
    if (o.format == "table") text = reports::renderCompareTable(c);
    else if (o.format == "markdown") text = reports::renderCompareMarkdown(c);
    else if (o.format == "csv") text = reports::renderCompareCsv(c);
    else if (o.format == "json") text = reports::compareToJson(c).dump(2) + "\n";
    else text = reports::renderCompareHtml(c);
  } else {
    if (o.format == "table") text = reports::renderSuiteTable(s);
    else if (o.format == "markdown") text = reports::renderSuiteMarkdown(s);
    else if (o.format == "csv") text = reports::renderSuiteCsv(s);
    else if (o.format == "json") text = reports::suiteToJson(s).dump(2) + "\n";
    else text = reports::renderSuiteHtml(s);
  }
  writeOutput(o.output, text);
}

// The flags that describe the runs: a merge takes them from the parts.
const char* const kRunFlags[] = {"--variant", "--config",        "--allocator", "--repeat", "--procs", "--deterministic",
                                 "--touch",   "--lenient",       "--memory-limit", "--alpha", "--shard"};

int runMerge(const CompareCliOptions& o, const CLI::App* sub) {
  for (const char* flag : kRunFlags)
    if (sub->count(flag))
      throw UsageError(fmt::format("compare: --merge takes the runs and their settings from the part files; {} "
                                   "cannot be given with it (only --format, -o and --quiet)",
                                   flag));
  checkOutputs({o.output}, o.traces);
  std::vector<std::pair<std::string, reports::Part>> parts;
  for (const std::string& file : o.traces) {
    try {
      parts.emplace_back(file, reports::partFromJson(reports::readJsonFile(file, reports::kReportInput)));
    } catch (const reports::JsonInputError& e) {
      throw UsageError(std::string("compare: --merge: ") + e.what());
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("compare: --merge: {}: {}", file, e.what()));
    }
  }
  reports::ToolInfo tool;
  try {
    auto [matrix, runs] = reports::mergeParts(parts, &tool);
    parts.clear();
    writeResult(o, reports::assembleSuite(matrix, tool, std::move(runs)));
  } catch (const reports::MergeError& e) {
    throw UsageError(std::string("compare: --merge: ") + e.what());
  }
  return 0;
}

int runCompare(CompareCliOptions& o, const CLI::App* sub, const CLI::Option* variantOpt, const CLI::Option* configOpt,
               const CLI::Option* allocOpt) {
  if (o.merge) return runMerge(o, sub);
  {
    std::vector<std::string> inputs = o.configs;
    inputs.insert(inputs.end(), o.traces.begin(), o.traces.end());
    checkOutputs({o.output}, inputs);
  }
  try {
    if (!o.memoryLimit.empty()) replay::parseMemoryLimit(o.memoryLimit);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::optional<reports::Shard> shard;
  if (!o.shard.empty()) {
    try {
      shard = reports::parseShard(o.shard);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("compare: ") + e.what());
    }
    if (sub->count("--format") && o.format != "json")
      throw UsageError("compare: --shard writes a part file (JSON); --format is for the run that merges the parts "
                       "(gomalloc compare --merge PARTS... --format " + o.format + ")");
  }
  std::vector<reports::VariantSpec> variants = collectVariants(sub, variantOpt, configOpt, allocOpt);
  if (variants.empty())
    throw UsageError("compare needs variants: --variant NAME:key=value,..., --config FILE.json or --allocator NAME "
                     "(the first is the baseline)");
  reports::Matrix m;
  m.variants = variants;
  m.options = o.run;
  m.memoryLimit = o.memoryLimit;
  for (const std::string& t : o.traces) {
    std::error_code ec;
    if (!fs::is_regular_file(t, ec)) throw UsageError("cannot read trace " + t + ": no such file");
    m.traces.push_back(reports::MatrixTrace{t, "", 0});
  }
  if (shard) {
    // A part names what every other part must have run: the traces by digest, the variants by their settings.
    for (auto& t : m.traces) {
      try {
        const traces::TraceStats st = traces::computeStats(t.path, traces::LoadOptions{o.run.lenient, nullptr});
        t.digest = st.digest;
        t.events = st.events;
      } catch (const std::exception& e) {
        throw UsageError(e.what());
      }
    }
    for (auto& v : variants) m.resolved.push_back(resolvedSettings(v));
  }
  std::vector<size_t> which;
  if (shard) which = reports::shardRuns(m.runs(), *shard);
  else
    for (size_t k = 0; k < m.runs(); k++) which.push_back(k);

  const std::string exe = selfExe();
  ScratchDirectory tmp("compare");
  SigintGuard sigint(false);  // children get Ctrl-C too (same process group) and write interrupted reports
  const int total = int(which.size());
  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  int done = 0;
  auto runOne = [&](const reports::RunIndex& at) {
    const reports::VariantSpec& v = variants[at.variant];
    const std::string& trace = m.traces[at.trace].path;
    if (progress)
      std::fprintf(stderr, "\rcompare: run %d/%d: %s%s%s (round %d/%d)\x1b[K", ++done, total,
                   m.traces.size() > 1 ? trace.c_str() : "", m.traces.size() > 1 ? " " : "", v.name.c_str(),
                   at.round + 1, o.run.repeat);
    const fs::path out = tmp.path() / fmt::format("{}-{}-{}.json", at.trace, at.variant, at.round);
    reports::CompareOptions one = o.run;
    one.trace = trace;
    std::vector<std::string> args = reports::replayArgs(one, v, out.string());
    if (!o.memoryLimit.empty()) args.insert(args.end(), {"--memory-limit", o.memoryLimit});
    const int code = runChild(exe, args);
    if (code == 130 || sigintFlag().load()) throw UsageError("interrupted", 130);
    if (code != 0)
      throw UsageError(fmt::format("variant {}: the replay failed (exit status {}; its message is above)", v.name, code),
                       childExitCode(code));
    try {
      return readChildReport(out);
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("variant {}: the replay wrote an unreadable report: {}", v.name, e.what()), kExitFailed);
    }
  };
  std::vector<reports::MatrixRun> runs;
  try {
    runs = reports::runMatrix(m, which, runOne);
  } catch (...) {
    if (progress) std::fputs("\r\x1b[K", stderr);
    throw;
  }
  if (progress) std::fputs("\r\x1b[K", stderr);

  const reports::ToolInfo tool{"gomalloc", GOMALLOC_VERSION, "go1.19.8"};
  if (shard) {
    writeOutput(o.output, reports::partToJson(reports::Part{tool, m, *shard, std::move(runs)}).dump(2) + "\n");
    return 0;
  }
  writeResult(o, reports::assembleSuite(m, tool, std::move(runs)));
  return 0;
}

}  // namespace

void registerCompare(Registry& r) {
  auto o = std::make_shared<CompareCliOptions>();
  auto* sub = r.app.add_subcommand("compare", "Replay a trace under several allocator configurations and compare them");
  sub->add_option("traces", o->traces,
                  "Trace files (.json, .jsonl, .gmt, optionally .zst or .gz); several make a suite. With --merge: the "
                  "part files")
      ->required();
  auto* variantOpt = sub->add_option("--variant", o->variants,
                                     "A Go-model variant, NAME or NAME:key=value,key=value (settings as --set takes them)")
                         ->allow_extra_args(false);
  auto* configOpt = sub->add_option("--config", o->configs, "A Go-model variant from a JSON settings file (its name: "
                                                             "the file's \"name\", else the file name)")
                        ->allow_extra_args(false);
  auto* allocOpt = sub->add_option("--allocator", o->allocators,
                                   "A backend as a variant: go, system, jemalloc, tcmalloc, mimalloc, null or go-runtime")
                       ->allow_extra_args(false)
                       ->check(CLI::IsMember(replay::backendNames()));
  sub->add_option("--repeat", o->run.repeat, "Runs per variant, interleaved (A B C A B C ...); default 1")
      ->check(CLI::Range(1, 1000));
  sub->add_option("--procs", o->run.procs, "Number of Ps for every variant (default: the trace's thread count)")
      ->check(CLI::Range(1, 1024));
  sub->add_flag("--deterministic", o->run.deterministic, "Deterministic replays (model figures become exact)");
  sub->add_option("--touch", o->run.touch, "Writes into each object: none, first, pages (default) or full")
      ->check(CLI::IsMember({"none", "first", "pages", "full"}));
  sub->add_flag("--lenient", o->run.lenient, "Load the trace leniently (as replay --lenient)");
  sub->add_option("--memory-limit", o->memoryLimit, "Most memory each replay may take: SIZE or auto (as replay's)");
  sub->add_option("--alpha", o->run.alpha, "Significance level of the Mann-Whitney U test (default 0.05)")
      ->check(CLI::Range(0.0001, 0.5));
  sub->add_option("--format", o->format, "table, json, csv, markdown or html")
      ->check(CLI::IsMember({"table", "json", "csv", "markdown", "html"}));
  sub->add_option("-o,--output", o->output, "Write the result to this file (atomically) instead of stdout");
  sub->add_flag("--quiet", o->quiet, "No progress line");
  sub->add_option("--shard", o->shard,
                  "Run only part I of N (1-based) of the trace x round x variant runs and write them as a part file")
      ->allow_extra_args(false);
  sub->add_flag("--merge", o->merge, "Merge part files (the positional arguments) into the result of one run");
  r.add(sub, [o, sub, variantOpt, configOpt, allocOpt] { return runCompare(*o, sub, variantOpt, configOpt, allocOpt); });
}

}  // namespace gomalloc::cli
