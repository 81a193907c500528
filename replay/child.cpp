#include "replay/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "traces/output.h"

extern char** environ;

namespace gomalloc::replay {

namespace {

std::string nameOf(const std::string& entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

ChildOutput runChild(const std::string& exe, const std::vector<std::string>& args, const std::vector<std::string>& env,
                     const std::atomic<bool>* interrupt, uint64_t dataLimit, int stderrFd) {
  std::vector<std::string> vars;
  for (char** e = environ; *e; e++) {
    const std::string entry = *e;
    bool replaced = false;
    for (auto& x : env) replaced = replaced || nameOf(x) == nameOf(entry);
    if (!replaced) vars.push_back(entry);
  }
  vars.insert(vars.end(), env.begin(), env.end());
  std::vector<char*> envp, argv;
  for (auto& e : vars) envp.push_back(e.data());
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
  if (stderrFd >= 0) posix_spawn_file_actions_adddup2(&actions, stderrFd, STDERR_FILENO);
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
  if (dataLimit != 0) {
    // Set before the child has mapped more than its start-up needs (it has just been spawned).
    const rlimit rl{rlim_t(dataLimit), rlim_t(dataLimit)};
    if (::prlimit(pid, RLIMIT_DATA, &rl, nullptr) != 0) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      traces::forwardSignalsTo(0);
      ::close(fds[0]);
      throw std::runtime_error(std::string("cannot limit the memory of ") + exe + ": " + std::strerror(errno));
    }
  }
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

}  // namespace gomalloc::replay
