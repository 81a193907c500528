#include "cli/app.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "core/mheap.h"
#include "replay/limits.h"
#include "reports/render.h"
#include "reports/json_input.h"
#include "reports/schema.h"
#include "traces/output.h"

extern char** environ;

namespace gomalloc::cli {

namespace {

std::string gCommand;  // the subcommand running (commandName())

// Every command's output ends here: flushes stdout and turns a lost write into kExitFailed (unless the command
// already failed with a more specific code).
int checkedExit(int code) {
  std::cout.flush();
  try {
    traces::checkStdout();
  } catch (const traces::OutputError& e) {
    std::cerr << message(e.what()) << "\n";
    return code == 0 ? kExitFailed : code;
  }
  return code;
}

// nlohmann's messages start "[json.exception.type_error.302] "; the rest is what a user can read.
std::string withoutJsonTag(const std::string& what) {
  if (what.rfind("[json.exception.", 0) != 0) return what;
  const size_t end = what.find("] ");
  return end == std::string::npos ? what : what.substr(end + 2);
}

int runParsed(int argc, char** argv) {
  CLI::App app{"gomalloc: replays allocation traces through a model of Go 1.19's memory allocator"};
  app.set_version_flag("--version", std::string("gomalloc ") + GOMALLOC_VERSION + " (Go model: go1.19.8)");
  app.name("gomalloc");
  app.require_subcommand(1);
  Registry reg{app, {}};
  registerClasses(reg);
  registerTraceCommands(reg);
  registerReplay(reg);
  registerCompare(reg);
  registerGate(reg);
  registerFidelity(reg);
  registerRecord(reg);
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
  // `gomalloc help [COMMAND]` is `gomalloc [COMMAND] --help`.
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") {
    args.erase(args.begin());
    args.push_back("--help");
  }
  if (!args.empty() && args[0].rfind("-", 0) != 0) {
    if (std::find(names.begin(), names.end(), args[0]) == names.end()) {
      std::string known;
      for (auto& n : names) known += (known.empty() ? "" : ", ") + n;
      std::cerr << fmt::format("gomalloc: unknown command '{}' (commands: {}; gomalloc help COMMAND tells more)\n",
                               args[0], known);
      return kExitUsage;
    }
    gCommand = args[0];
  }
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes the arguments in reverse
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (gCommand.empty()) {
      std::cerr << fmt::format("gomalloc: {} (gomalloc help lists the commands)\n", e.what());
    } else {
      std::cerr << message(e.what()) << "\n"
                << fmt::format("Run 'gomalloc {} --help' for more information.\n", gCommand);
    }
    return kExitUsage;
  }
  try {
    for (auto& [sub, runner] : reg.commands)
      if (sub->parsed()) return runner();
  } catch (const UsageError& e) {
    std::cerr << message(e.what()) << "\n";
    return e.code;
  } catch (const replay::MemoryLimitError& e) {  // a bound exceeded: --memory-limit
    std::cerr << message(e.what()) << "\n";
    return kExitRegression;
  } catch (const core::HeapLimitError& e) {  // a bound exceeded: max_heap_bytes
    std::cerr << message(e.what()) << "\n";
    return kExitRegression;
  } catch (const nlohmann::json::exception& e) {  // a reader missed a check: still the user's input
    std::cerr << message(withoutJsonTag(e.what())) << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << message(e.what()) << "\n";
    return kExitFailed;
  }
  return 0;
}

std::atomic<bool> gSigint{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");
std::atomic<bool> gResetHand{true};
// The first Ctrl-C is noted; with resetHand a second one ends the process (temporary files removed first).
extern "C" void onSigint(int sig) {
  if (gSigint.exchange(true, std::memory_order_relaxed) && gResetHand.load(std::memory_order_relaxed))
    traces::dieBySignal(sig);
}

}  // namespace

const std::string& commandName() { return gCommand; }

std::string message(const std::string& text) {
  if (gCommand.empty() || text.rfind(gCommand + ": ", 0) == 0) return "gomalloc: " + text;
  return "gomalloc: " + gCommand + ": " + text;
}

void warn(const std::string& text) { std::cerr << message(text) << "\n"; }

int run(int argc, char** argv) {
  traces::installTempCleanup();
  return checkedExit(runParsed(argc, argv));
}

std::atomic<bool>& sigintFlag() { return gSigint; }

SigintGuard::SigintGuard(bool resetHand) {
  gSigint.store(false);
  gResetHand.store(resetHand);
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  installed_ = ::sigaction(SIGINT, &sa, &old_) == 0;
}

SigintGuard::~SigintGuard() {
  if (installed_) ::sigaction(SIGINT, &old_, nullptr);
}

std::string selfExe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw UsageError("cannot find gomalloc's own executable (/proc/self/exe)", kExitFailed);
  return std::string(buf, size_t(n));
}

int runChild(const std::string& exe, const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  std::string arg0 = exe;
  argv.push_back(arg0.data());
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int err = ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ))
    throw UsageError(fmt::format("cannot start {}: {}", exe, std::strerror(err)), kExitFailed);
  return waitChild(pid);
}

int waitChild(pid_t pid) {
  traces::forwardSignalsTo(pid);  // SIGTERM and the like end the child first, then us (docs/reliability.md)
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      traces::forwardSignalsTo(0);
      throw UsageError(std::string("waitpid: ") + std::strerror(errno), kExitFailed);
    }
  traces::forwardSignalsTo(0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

ScratchDirectory::ScratchDirectory(const std::string& name) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("gomalloc-" + name + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw UsageError(std::string("cannot create a temporary directory: ") + std::strerror(errno), kExitFailed);
  path_ = tmpl;
  handle_ = traces::registerTemporary(path_.string(), true);  // a fatal signal removes it too
}

ScratchDirectory::~ScratchDirectory() {
  traces::unregisterTemporary(handle_);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

reports::Report readChildReport(const std::filesystem::path& p) {
  const nlohmann::ordered_json j = reports::readJsonFile(p.string(), reports::kReportInput);
  reports::checkReportSchema(j);
  return reports::fromJson(j);
}

void writeOutput(const std::string& path, const std::string& text) {
  try {
    traces::writeFile(path, text);
  } catch (const traces::OutputError& e) {
    throw UsageError(e.what(), kExitFailed);
  }
}

void checkOutputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs) {
  try {
    traces::checkOutputs(outputs, inputs);
  } catch (const traces::OutputError& e) {
    throw UsageError(e.what(), 2);
  }
}

}  // namespace gomalloc::cli
