// Running a replay in a child process: the preloaded mallocs (reports/preload.h) and the real Go runtime
// (replay/goruntime_backend.h) both start a program, capture its stdout and forward Ctrl-C to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace gomalloc::replay {

struct ChildOutput {
  int exitCode = 0;  // the child's exit status, or 128 + the signal that ended it
  std::string out;   // everything it wrote to stdout
};

// Runs exe with args (argv[1..]) and this process's environment with env's "NAME=value" entries set (replacing
// any of the same name); stdout is captured, stdin and stderr are inherited. The child runs in a process group
// of its own, so a Ctrl-C reaches it only through this process: once *interrupt is set, the child gets one
// SIGINT. dataLimit (bytes, 0 for none): the child's RLIMIT_DATA (its writable private mappings: a heap past
// it fails to map memory instead of taking the machine's). stderrFd >= 0: the child's stderr goes there
// instead. Throws std::runtime_error if the child cannot be started.
ChildOutput runChild(const std::string& exe, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {}, const std::atomic<bool>* interrupt = nullptr,
                     uint64_t dataLimit = 0, int stderrFd = -1);

}  // namespace gomalloc::replay
