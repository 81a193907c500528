#include "cli/app.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "traces/output.h"

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
