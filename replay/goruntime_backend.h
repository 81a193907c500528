// The go-runtime backend: the trace replayed inside the real Go runtime, in a child process running
// gomalloc-goruntime (replay/goruntime/main.go, built by the project's build when Go 1.19 is installed, next
// to the gomalloc binary). gomalloc writes the loaded program's per-thread op streams to a temporary file
// (16-byte records, as traces::ReplayOp), the child replays them with one goroutine per trace thread on
// GOMAXPROCS = procs (with one P: every thread's ops merged in the trace's order, on one goroutine) and prints runtime.MemStats at the start (the runtime's own baseline), at every gc event,
// at every collection the pacer started and at the end, RSS on a timer, and its counts; runGoRuntime turns that
// into a Result. What the runtime cannot tell (cache-level hit rates, locks, mcentral and mheap counters) is
// not in the Result (Result::go stays empty); Result::runtime holds what only this backend has.
#pragma once

#include <atomic>
#include <stdexcept>
#include <string>

#include "replay/limits.h"
#include "replay/result.h"
#include "traces/program.h"

namespace gomalloc::replay {

inline constexpr const char* kGoRuntimeBackend = "go-runtime";
inline constexpr const char* kGoRuntimeProgram = "gomalloc-goruntime";  // the child, next to gomalloc
inline constexpr const char* kGoRuntimePackage = "golang-1.19-go";      // the Debian package it is built with

// The child is missing (Go 1.19 was not installed when gomalloc was built) or failed.
struct GoRuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Ctrl-C (opt.cancel) came before the child could replay anything: there is no report.
struct GoRuntimeInterrupted : GoRuntimeError {
  using GoRuntimeError::GoRuntimeError;
};

// The child program next to exe (gomalloc's own path). Throws GoRuntimeError naming the package and the setup
// script when it is not there.
std::string findGoRuntimeProgram(const std::string& exe);

struct GoRuntimeOptions {
  std::string program;        // gomalloc-goruntime's path
  int procs = 0;              // GOMAXPROCS; 0: the program's thread count up to kMaxProcs
  std::string gogc = "100";   // a percentage or "off"
  TouchMode touch = TouchMode::Pages;
  unsigned rssIntervalMs = 10;  // 0: RSS only at the points that have heap figures
  const std::atomic<bool>* cancel = nullptr;  // forwarded to the child as SIGINT; the result is then interrupted
  MemoryLimit memoryLimit;    // a program whose live objects would pass it is refused before starting
};

// GOGC as the child takes it: a percentage, or "off" for a negative one.
std::string gogcText(int gogc);

// Replays program in the real runtime. Throws std::invalid_argument for an inconsistent program or procs out of
// range, MemoryLimitError past the limit, GoRuntimeError when the child cannot run or its output is unreadable,
// GoRuntimeInterrupted when cancelled before the replay started.
Result runGoRuntime(const traces::ReplayProgram& program, const GoRuntimeOptions& opt);

}  // namespace gomalloc::replay
