#include "cli/app.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "reports/render.h"
#include "reports/json_input.h"
#include "reports/schema.h"
#include "traces/output.h"

extern char** environ;

namespace gomalloc::cli {

namespace {

// Every command's output ends here: flushes stdout and turns a lost write into exit 1 (unless the command
// already failed with a more specific code).
int checkedExit(int code) {
  std::cout.flush();
  try {
    traces::checkStdout();
  } catch (const traces::OutputError& e) {
    std::cerr << "gomalloc: " << e.what() << "\n";
    return code == 0 ? 1 : code;
  }
  return code;
}

int runParsed(int argc, char** argv) {
  CLI::App app{"gomalloc: replays allocation traces through a model of Go 1.19's memory allocator"};
  app.set_version_flag("--version", std::string("gomalloc ") + GOMALLOC_VERSION + " (Go model: go1.19.8)");
  app.require_subcommand(1);
  Registry reg{app, {}};
  registerClasses(reg);
  registerTraceCommands(reg);
  registerReplay(reg);
  registerCompare(reg);
  registerGate(reg);
  registerFidelity(reg);
  registerRecord(reg);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, runner] : reg.commands)
      if (sub->parsed()) return runner();
  } catch (const UsageError& e) {
    std::cerr << "gomalloc: " << e.what() << "\n";
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "gomalloc: " << e.what() << "\n";
    return 1;
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
  if (n <= 0) throw UsageError("cannot find gomalloc's own executable (/proc/self/exe)", 1);
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
    throw UsageError(fmt::format("cannot start {}: {}", exe, std::strerror(err)), 1);
  return waitChild(pid);
}

int waitChild(pid_t pid) {
  traces::forwardSignalsTo(pid);  // SIGTERM and the like end the child first, then us (docs/reliability.md)
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      traces::forwardSignalsTo(0);
      throw UsageError(std::string("waitpid: ") + std::strerror(errno), 1);
    }
  traces::forwardSignalsTo(0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

ScratchDirectory::ScratchDirectory(const std::string& name) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("gomalloc-" + name + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw UsageError(std::string("cannot create a temporary directory: ") + std::strerror(errno), 1);
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
    throw UsageError(e.what(), 1);
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
