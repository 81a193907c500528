// The jemalloc, tcmalloc and mimalloc backends: the same replay, with the `system` backend, in a child
// process that has the allocator's Debian library preloaded (LD_PRELOAD). The child writes its JSON report to
// a pipe; the parent relabels it (report.h: relabel) and renders it like any other.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

namespace gomalloc::reports {

struct PreloadLibrary {
  std::string backend;  // jemalloc, tcmalloc, mimalloc
  std::string file;     // the shared object's file name
  std::string package;  // the Debian package that installs it
};
const std::vector<PreloadLibrary>& preloadLibraries();
bool isPreloadBackend(std::string_view backend);

// The library's path: the first of dirs (default: /usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu,
// /usr/lib, /usr/local/lib) that holds it. Throws std::runtime_error naming the file, the places searched and
// the package to install.
std::string findPreloadLibrary(std::string_view backend, const std::vector<std::string>& dirs = {});

struct ChildOutput {
  int exitCode = 0;  // the child's exit status, or 128 + the signal that ended it
  std::string out;   // everything it wrote to stdout
};
// Runs exe with args (argv[1..]) and LD_PRELOAD=library in front of any LD_PRELOAD already set; stdout is
// captured, stdin and stderr are inherited. The child runs in a process group of its own, so a Ctrl-C reaches
// it only through this process: once *interrupt is set, the child gets one SIGINT. Throws std::runtime_error
// if the child cannot be started.
ChildOutput runPreloaded(const std::string& exe, const std::vector<std::string>& args, const std::string& library,
                         const std::atomic<bool>* interrupt = nullptr);

}  // namespace gomalloc::reports
