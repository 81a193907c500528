// The jemalloc, tcmalloc and mimalloc backends: the same replay, with the `system` backend, in a child
// process that has the allocator's Debian library preloaded (LD_PRELOAD). The child writes its JSON report to
// a pipe; the parent relabels it (report.h: relabel) and renders it like any other. Starting the child is
// replay/child.h's.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "replay/child.h"

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

using ChildOutput = replay::ChildOutput;
// Runs exe with args (argv[1..]) and LD_PRELOAD=library in front of any LD_PRELOAD already set (replay::runChild:
// stdout captured, Ctrl-C forwarded once *interrupt is set). Throws std::runtime_error if the child cannot be
// started.
ChildOutput runPreloaded(const std::string& exe, const std::vector<std::string>& args, const std::string& library,
                         const std::atomic<bool>* interrupt = nullptr);

}  // namespace gomalloc::reports
