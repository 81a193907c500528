// Writing outputs without destroying what the user has (docs/reliability.md, "Outputs").
//
//   * A new path or an existing regular file is written atomically: a temporary file NAME.tmp.PID in the same
//     directory, renamed over NAME when complete. An existing file keeps its mode (and, for root, its owner).
//   * A symbolic link is followed: the file it names is replaced, the link stays.
//   * Anything else that exists (a device such as /dev/null, a FIFO) is written in place, never replaced.
//   * "-" is standard output; every write to it is checked, and finish() flushes and checks it.
//   * Temporary files are registered while they exist: a fatal signal the process can catch removes them before
//     the process dies (installTempCleanup), and an unfinished sink removes its own when destroyed.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "traces/io.h"

namespace gomalloc::traces {

// An output that must not or cannot be written, said in the user's terms ("cannot write out.json: the
// directory nodir does not exist").
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Checks, before any work is done, that each of outputs can be written: not empty, not a directory, its
// directory exists and is writable, not the same file as one of inputs (device and inode, symlinks followed;
// "-" and paths that do not exist are never the same as anything) nor as another output. Throws OutputError.
void checkOutputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs = {});

// fileSink(path) (declared in io.h) is a sink for path as this header describes ("-": standard output). It
// throws OutputError when path cannot be opened.
// Writes text to path through fileSink and finishes it.
void writeFile(const std::string& path, const std::string& text);

// Flushes standard output and throws OutputError if anything written to it was lost (a full disk, a closed
// pipe, /dev/full).
void checkStdout();

// Installs, once per process, handlers for every fatal signal the process can catch (SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGPIPE, ...) that still has its default action: they remove the registered temporary
// files, then let the signal end the process as it would have. SIGXFSZ is ignored instead, so a write past
// the file size limit fails with a message rather than killing the process. fileSink calls this itself.
void installTempCleanup();
// Registers a temporary file, or a directory of files, for removal by the fatal-signal handlers (fileSink's
// temporaries are registered by fileSink). Returns a handle for unregister (-1: not registered, the path is
// too long or too many are registered). The caller still removes it on the normal paths.
int registerTemporary(const std::string& path, bool directory = false);
void unregisterTemporary(int handle);
// While pid is not 0, a fatal signal is passed on to that child process (and waited for) before the
// temporaries are removed: a command that runs one child at a time (compare) sets it around each.
void forwardSignalsTo(int pid);
// Removes every registered temporary. Async-signal-safe: for signal handlers of the caller's own.
void removeTemporaries() noexcept;
// Removes the temporaries, restores sig's default action and raises it: the process ends by sig.
// Async-signal-safe.
[[noreturn]] void dieBySignal(int sig) noexcept;

}  // namespace gomalloc::traces
