#include "reports/preload.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

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
  std::string preload = "LD_PRELOAD=" + library;
  if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(" ") + old;
  return replay::runChild(exe, args, {preload}, interrupt);
}

}  // namespace gomalloc::reports
