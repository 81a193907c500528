#include "replay/factory.h"

#include <stdexcept>

#include "replay/basic_backends.h"
#include "replay/go_backend.h"

namespace gomalloc::replay {

const std::vector<std::string>& backendNames() {
  static const std::vector<std::string> names = {"go", "system", "jemalloc", "tcmalloc", "mimalloc", "null"};
  return names;
}

bool isInProcessBackend(std::string_view name) { return name == "go" || name == "system" || name == "null"; }

std::unique_ptr<Backend> makeBackend(std::string_view name, int procs, const core::Config& goConfig) {
  if (name == "go") return std::make_unique<GoBackend>(goConfig, procs);
  if (name == "system") return std::make_unique<SystemBackend>();
  if (name == "null") return std::make_unique<NullBackend>(procs);
  throw std::invalid_argument("backend '" + std::string(name) + "' does not run in this process");
}

}  // namespace gomalloc::replay
