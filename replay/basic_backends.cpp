#include "replay/basic_backends.h"

#include <sys/mman.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "replay/engine.h"

namespace gomalloc::replay {

template class BackendImpl<NullBackend>;
template class BackendImpl<SystemBackend>;

namespace {

void* mapBytes(size_t n, bool populate = false) {
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (populate ? MAP_POPULATE : 0), -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

}  // namespace

NullBackend::NullBackend(int procs, size_t regionBytes)
    : regions_(new Region[size_t(procs)]), procs_(procs), regionBytes_(regionBytes), bigThreshold_(regionBytes / 4) {
  if (procs < 1) throw std::invalid_argument("null backend: needs at least one P");
  if (regionBytes < 4096) throw std::invalid_argument("null backend: region of at least 4 KiB needed");
  // One mapping for every P, so that the regions' relative placement (and so deterministic addresses) does
  // not depend on the process's other mappings.
  const size_t total = size_t(procs) * regionBytes;
  auto* base = static_cast<char*>(mapBytes(total, total <= (size_t{1} << 30)));
  for (int p = 0; p < procs; p++) {
    char* b = base + size_t(p) * regionBytes;
    regions_[size_t(p)] = Region{b, b, b + regionBytes};
  }
}

NullBackend::~NullBackend() { ::munmap(regions_[0].begin, size_t(procs_) * regionBytes_); }

std::vector<std::pair<std::string, std::string>> NullBackend::settings() const {
  return {{"region_bytes", std::to_string(regionBytes_)}};
}

void* NullBackend::bigAlloc(size_t size) { return mapBytes(size); }

void NullBackend::bigFree(void* ptr, size_t size) { ::munmap(ptr, size); }

SystemBackend::SystemBackend() : library_(detectMallocLibrary()) {}

std::vector<std::pair<std::string, std::string>> SystemBackend::settings() const { return {{"malloc", library_}}; }

void SystemBackend::releaseLive(const LiveObjects& live) {
  for (auto& [ptr, size] : live) std::free(const_cast<void*>(ptr));
}

std::string SystemBackend::detectMallocLibrary() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    for (const char* lib : {"libjemalloc", "libtcmalloc", "libmimalloc"}) {
      if (line.find(lib) == std::string::npos) continue;
      auto slash = line.find('/');
      return slash == std::string::npos ? std::string(lib) : line.substr(slash);
    }
  }
  return "glibc";
}

}  // namespace gomalloc::replay
