#include "reports/preload.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "traces/output.h"

extern char** environ;

namespace gomalloc::reports {

const std::vector<PreloadLibrary>& preloadLibraries() {
  static const std::vector<PreloadLibrary> libs = {
      {"jemalloc", "libjemalloc.so.2", "libjemalloc2"},
      {"tcmalloc", "libtcmalloc.so.4", "libgoogle-perftools4"},
      {"mimalloc", "libmimalloc.so.2", "libmimalloc2.0"},
  };
  return libs;
}

bool isPreloadBackend(std::string_view backend) {
  for (auto& l : preloadLibraries())
    if (l.backend == backend) return true;
  return false;
}

std::string findPreloadLibrary(std::string_view backend, const std::vector<std::string>& dirs) {
  static const std::vector<std::string> defaults = {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                                    "/usr/lib", "/usr/local/lib"};
  const std::vector<std::string>& where = dirs.empty() ? defaults : dirs;
  for (auto& l : preloadLibraries()) {
    if (l.backend != backend) continue;
    std::string searched;
    for (auto& d : where) {
      std::filesystem::path p = std::filesystem::path(d) / l.file;
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return p.string();
      searched += (searched.empty() ? "" : ", ") + d;
    }
    throw std::runtime_error("the " + l.backend + " backend needs " + l.file + ", which is not installed (looked in " +
                             searched + "); install the Debian package " + l.package);
  }
  throw std::runtime_error("'" + std::string(backend) + "' is not a preloaded backend (jemalloc, tcmalloc, mimalloc)");
}

ChildOutput runPreloaded(const std::string& exe, const std::vector<std::string>& args, const std::string& library,
                         const std::atomic<bool>* interrupt) {
  std::vector<std::string> env;
  std::string preload = "LD_PRELOAD=" + library;
  for (char** e = environ; *e; e++) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) == 0) {
      if ((*e)[11] != '\0') preload += std::string(" ") + (*e + 11);
    } else {
      env.emplace_back(*e);
    }
  }
  env.push_back(preload);
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = exe;
  argv.push_back(arg0.data());
  std::vector<std::string> argCopy = args;
  for (auto& a : argCopy) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("cannot start " + exe + ": " + std::strerror(rc));
  }
  traces::forwardSignalsTo(pid);  // a fatal signal ends the child before us (docs/reliability.md)
  ChildOutput result;
  char buf[65536];
  bool forwarded = false;
  for (;;) {
    if (interrupt && !forwarded && interrupt->load()) {
      ::kill(pid, SIGINT);
      forwarded = true;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 50);
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;  // look at the interrupt flag again
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) result.out.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  traces::forwardSignalsTo(0);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  return result;
}

}  // namespace gomalloc::reports
