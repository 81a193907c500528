// Backends by name, as `gomalloc replay --allocator` spells them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "replay/backend.h"
#include "replay/limits.h"

namespace gomalloc::replay {

// Every backend name: go, system, jemalloc, tcmalloc, mimalloc, null, go-runtime.
const std::vector<std::string>& backendNames();
// Backends that run in this process (go, system, null). jemalloc, tcmalloc and mimalloc run `system` in a
// child process with their library preloaded (reports/preload.h); go-runtime runs the trace in the real Go
// runtime, in a child process (replay/goruntime_backend.h).
bool isInProcessBackend(std::string_view name);
// An in-process backend for procs Ps; goConfig is used by `go` only. limit: the replay's memory limit
// (replay/limits.h; none by default), which is go's max_heap_bytes unless goConfig sets that. Throws
// std::invalid_argument for a name that is not an in-process backend.
std::unique_ptr<Backend> makeBackend(std::string_view name, int procs, const core::Config& goConfig = {},
                                     const MemoryLimit& limit = {});
// The limit the live objects of backend `name` must stay under (replay::Options::memoryLimit): go's
// max_heap_bytes (as given, or the memory limit), the memory limit for the others.
MemoryLimit backendMemoryLimit(std::string_view name, const core::Config& goConfig, const MemoryLimit& limit);

}  // namespace gomalloc::replay
