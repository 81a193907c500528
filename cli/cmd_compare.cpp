// gomalloc compare: replays one trace under several allocator configurations, each run in a child process of
// its own (`gomalloc replay ... --format json`), repeated and interleaved, and prints the comparison
// (reports/compare.h; docs/compare.md).
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
#include "traces/output.h"

extern char** environ;

namespace gomalloc::cli {
namespace {

namespace fs = std::filesystem;

struct CompareCliOptions {
  reports::CompareOptions run;
  std::vector<std::string> variants, configs, allocators;
  std::string format = "table";
  std::string output = "-";
  std::string memoryLimit;  // passed to every replay (empty: the replay's default, auto)
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

int runCompare(CompareCliOptions& o, const CLI::App* sub, const CLI::Option* variantOpt, const CLI::Option* configOpt,
               const CLI::Option* allocOpt) {
  {
    std::vector<std::string> inputs = o.configs;
    inputs.push_back(o.run.trace);
    checkOutputs({o.output}, inputs);
  }
  try {
    if (!o.memoryLimit.empty()) replay::parseMemoryLimit(o.memoryLimit);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::vector<reports::VariantSpec> variants = collectVariants(sub, variantOpt, configOpt, allocOpt);
  if (variants.empty())
    throw UsageError("compare needs variants: --variant NAME:key=value,..., --config FILE.json or --allocator NAME "
                     "(the first is the baseline)");
  {
    std::error_code ec;
    if (!fs::is_regular_file(o.run.trace, ec)) throw UsageError("cannot read trace " + o.run.trace + ": no such file");
  }
  const std::string exe = selfExe();
  ScratchDirectory tmp("compare");
  SigintGuard sigint(false);  // children get Ctrl-C too (same process group) and write interrupted reports
  const int total = o.run.repeat * int(variants.size());
  const bool progress = !o.quiet && ::isatty(STDERR_FILENO);
  int done = 0;
  auto runOne = [&](size_t vi, int round) {
    const reports::VariantSpec& v = variants[vi];
    if (progress)
      std::fprintf(stderr, "\rcompare: run %d/%d: %s (round %d/%d)\x1b[K", ++done, total, v.name.c_str(), round + 1,
                   o.run.repeat);
    const fs::path out = tmp.path() / fmt::format("{}-{}.json", vi, round);
    std::vector<std::string> args = reports::replayArgs(o.run, v, out.string());
    if (!o.memoryLimit.empty()) args.insert(args.end(), {"--memory-limit", o.memoryLimit});
    const int code = runChild(exe, args);
    if (code == 130 || sigintFlag().load()) throw UsageError("interrupted", 130);
    if (code != 0)
      throw UsageError(fmt::format("variant {}: the replay failed (exit status {}; its message is above)", v.name, code),
                       code == 2 ? 2 : 1);
    try {
      return readChildReport(out);
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("variant {}: the replay wrote an unreadable report: {}", v.name, e.what()), 1);
    }
  };
  reports::CompareResult result;
  try {
    result = reports::runCompare(o.run, variants, reports::ToolInfo{"gomalloc", GOMALLOC_VERSION, "go1.19.8"}, runOne);
  } catch (...) {
    if (progress) std::fputs("\r\x1b[K", stderr);
    throw;
  }
  if (progress) std::fputs("\r\x1b[K", stderr);

  std::string text;
  if (o.format == "table") text = reports::renderCompareTable(result);
  else if (o.format == "markdown") text = reports::renderCompareMarkdown(result);
  else if (o.format == "csv") text = reports::renderCompareCsv(result);
  else if (o.format == "json") text = reports::compareToJson(result).dump(2) + "\n";
  else text = reports::renderCompareHtml(result);
  writeOutput(o.output, text);
  return 0;
}

}  // namespace

void registerCompare(Registry& r) {
  auto o = std::make_shared<CompareCliOptions>();
  auto* sub = r.app.add_subcommand("compare", "Replay a trace under several allocator configurations and compare them");
  sub->add_option("trace", o->run.trace, "Trace file (.json, .jsonl, .gmt, optionally .zst or .gz)")->required();
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
  r.add(sub, [o, sub, variantOpt, configOpt, allocOpt] { return runCompare(*o, sub, variantOpt, configOpt, allocOpt); });
}

}  // namespace gomalloc::cli
