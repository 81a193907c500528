#include "cli/app.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace gomalloc::cli {

int run(int argc, char** argv) {
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

namespace {
std::atomic<bool> gSigint{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");
extern "C" void onSigint(int) { gSigint.store(true, std::memory_order_relaxed); }
}  // namespace

std::atomic<bool>& sigintFlag() { return gSigint; }

SigintGuard::SigintGuard(bool resetHand) {
  gSigint.store(false);
  struct sigaction sa {};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = resetHand ? SA_RESETHAND : 0;
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
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path tmp = target;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw UsageError("cannot write " + path + ": cannot create " + tmp.string(), 1);
    out.write(text.data(), std::streamsize(text.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw UsageError("cannot write " + path, 1);
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw UsageError("cannot write " + path + ": " + ec.message(), 1);
  }
}

}  // namespace gomalloc::cli
