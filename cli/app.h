// The gomalloc command line: a thin CLI11 front end. Each command lives in its own cmd_*.cpp and
// registers itself here; main() parses, runs the chosen command, and maps errors to exit codes.
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reports/report.h"

namespace gomalloc::cli {

// A command's body; returns the process exit code.
using Runner = std::function<int()>;

struct Registry {
  CLI::App& app;
  std::vector<std::pair<CLI::App*, Runner>> commands;
  void add(CLI::App* sub, Runner run) { commands.emplace_back(sub, std::move(run)); }
};

// Exit codes (docs/reliability.md): 1 means a regression or a bound exceeded and nothing else.
inline constexpr int kExitRegression = 1;  // gate found a regression, fidelity a bound exceeded, a replay passed
                                           // its memory limit, the heap verifier found a problem
inline constexpr int kExitUsage = 2;       // bad input or usage, an output path that cannot be written
inline constexpr int kExitFailed = 3;      // the work could not be finished: an output could not be written
                                           // after it (a full disk), a child process failed or did not start

// An error the user caused (bad input, bad flag value) or a failure with its own exit code: printed as
// "gomalloc: COMMAND: <what>" (see message()).
struct UsageError : std::runtime_error {
  int code;
  explicit UsageError(const std::string& what, int exitCode = kExitUsage) : std::runtime_error(what), code(exitCode) {}
};

// The subcommand running ("replay", "gate", "import"; empty before one is chosen).
const std::string& commandName();
// "gomalloc: COMMAND: text", without repeating COMMAND when text already starts with "COMMAND: ".
std::string message(const std::string& text);
// Prints message(text) and a newline on standard error.
void warn(const std::string& text);

void registerClasses(Registry& r);        // cmd_classes.cpp
void registerTraceCommands(Registry& r);  // cmd_traces.cpp: validate, info, gen, convert
void registerReplay(Registry& r);         // cmd_replay.cpp: replay
void registerCompare(Registry& r);        // cmd_compare.cpp: compare
void registerGate(Registry& r);           // cmd_gate.cpp: gate
void registerFidelity(Registry& r);       // cmd_fidelity.cpp: fidelity
void registerRecord(Registry& r);         // cmd_record.cpp: record

// While alive, SIGINT sets sigintFlag() instead of ending the process. With resetHand the first Ctrl-C is
// caught and a second one ends the process at once (its temporary files removed); without, every Ctrl-C is
// only noted.
class SigintGuard {
 public:
  explicit SigintGuard(bool resetHand = true);
  ~SigintGuard();
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction old_ {};
  bool installed_ = false;
};
std::atomic<bool>& sigintFlag();

// The path of the running gomalloc executable (for child processes).
std::string selfExe();

// Runs exe with args; stdin, stdout and stderr inherited; fatal signals are passed on to it
// (traces::forwardSignalsTo). Returns the exit status (128 + signal if killed). Throws UsageError
// (kExitFailed) when it cannot start.
int runChild(const std::string& exe, const std::vector<std::string>& args);
// Waits for the child pid, passing fatal signals on to it meanwhile; returns its status as runChild does.
int waitChild(pid_t pid);
// The exit code a command passes on for a child gomalloc that failed with code: 1, 2 and 3 as they are,
// anything else (a signal, a crash) kExitFailed.
inline int childExitCode(int code) { return code >= 1 && code <= 3 ? code : kExitFailed; }

// A fresh directory under $TMPDIR (gomalloc-NAME-XXXXXX) for child processes' reports, removed with its files
// at the end and by fatal signals.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& name);
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int handle_ = -1;
};

// A child's JSON report: read as gate reads its inputs (size limit, duplicate keys), checked against the schema.
reports::Report readChildReport(const std::filesystem::path& p);

// gomalloc's main, callable from tests.
int run(int argc, char** argv);

// Writes text to path ("-": stdout, checked) as traces/output.h describes: atomically for a new path or a
// regular file, in place for a device or a FIFO. Throws UsageError (kExitFailed) when the write fails.
void writeOutput(const std::string& path, const std::string& text);
// Checks, before any work, that the outputs can be written and name none of the inputs (traces/output.h).
// Every command calls it with every output it may write (-o, --junit, traces) before reading an input.
// Throws UsageError (kExitUsage) naming the path as the user gave it.
void checkOutputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs);

}  // namespace gomalloc::cli
