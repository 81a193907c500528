#include "replay/factory.h"

#include <stdexcept>

#include "replay/basic_backends.h"
#include "replay/go_backend.h"

namespace gomalloc::replay {

const std::vector<std::string>& backendNames() {
  static const std::vector<std::string> names = {"go",       "system", "jemalloc", "tcmalloc",
                                                 "mimalloc", "null",   "go-runtime"};
  return names;
}

bool isInProcessBackend(std::string_view name) { return name == "go" || name == "system" || name == "null"; }

namespace {

// go's config with max_heap_bytes=auto standing for the memory limit.
core::Config withHeapLimit(core::Config cfg, const MemoryLimit& limit) {
  if (limit.bytes != 0) {
    cfg.autoMaxHeapBytes = limit.bytes;
    cfg.autoMaxHeapOrigin = limit.origin.empty() ? "from " + limit.setting : limit.origin;
  }
  return cfg;
}

}  // namespace

std::unique_ptr<Backend> makeBackend(std::string_view name, int procs, const core::Config& goConfig,
                                     const MemoryLimit& limit) {
  if (name == "go") return std::make_unique<GoBackend>(withHeapLimit(goConfig, limit), procs);
  if (name == "system") return std::make_unique<SystemBackend>(limit);
  if (name == "null")
    return std::make_unique<NullBackend>(procs, NullBackend::kDefaultSmallRegionBytes,
                                         NullBackend::kDefaultLargeRegionBytes, limit);
  throw std::invalid_argument("backend '" + std::string(name) + "' does not run in this process");
}

MemoryLimit backendMemoryLimit(std::string_view name, const core::Config& goConfig, const MemoryLimit& limit) {
  if (name != "go") return limit;
  const core::Config cfg = withHeapLimit(goConfig, limit);
  std::string origin;
  if (cfg.maxHeapBytes == 0) origin = cfg.autoMaxHeapOrigin.empty() ? "auto" : cfg.autoMaxHeapOrigin;
  return MemoryLimit{cfg.heapLimitBytes(), "max_heap_bytes", origin};
}

}  // namespace gomalloc::replay
