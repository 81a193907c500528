#include "replay/basic_backends.h"

#include <sys/mman.h>

#include <algorithm>
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
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

NullBackend::NullBackend(int procs, size_t smallRegionBytes, size_t largeRegionBytes, MemoryLimit limit)
    : small_(new Region[size_t(std::max(procs, 1))]),
      large_(new Region[size_t(std::max(procs, 1))]),
      procs_(procs),
      smallBytes_(smallRegionBytes),
      largeBytes_(largeRegionBytes),
      guard_(std::move(limit)) {
  if (procs < 1) throw std::invalid_argument("null backend: needs at least one P");
  if (smallRegionBytes < 4 * kSmallObjectMax || largeRegionBytes < smallRegionBytes || smallRegionBytes % 4096 ||
      largeRegionBytes % 4096)
    throw std::invalid_argument("null backend: regions must be multiples of 4 KiB, the small one at least 128 KiB "
                                "and the large one at least as large");
  // One mapping for every P, so that the regions' relative placement (and so deterministic addresses) does
  // not depend on the process's other mappings.
  const size_t per = smallRegionBytes + largeRegionBytes, total = size_t(procs) * per;
  base_ = static_cast<char*>(mapBytes(total, total <= (size_t{1} << 30)));
  if (!base_) guard_.outOfMemory("null backend: mapping the regions", total);
  for (int p = 0; p < procs; p++) {
    char* b = base_ + size_t(p) * per;
    small_[size_t(p)] = Region{b, b, b + smallRegionBytes};
    b += smallRegionBytes;
    large_[size_t(p)] = Region{b, b, b + largeRegionBytes};
  }
}

NullBackend::~NullBackend() { ::munmap(base_, size_t(procs_) * (smallBytes_ + largeBytes_)); }

std::vector<std::pair<std::string, std::string>> NullBackend::settings() const {
  return {{"small_region_bytes", std::to_string(smallBytes_)}, {"large_region_bytes", std::to_string(largeBytes_)}};
}

void* NullBackend::allocLarge(int p, size_t n) {
  if (n > largeBytes_) {
    guard_.add(n);
    if (void* q = mapBytes(n)) return q;
    guard_.sub(n);
    guard_.outOfMemory("mmap", n);
  }
  Region& r = large_[size_t(p)];
  if (n > size_t(r.end - r.next)) r.next = r.begin;
  char* q = r.next;
  r.next += n;
  return q;
}

void NullBackend::freeLarge(void* ptr, size_t n) {
  if (n > largeBytes_) {
    ::munmap(ptr, n);
    guard_.sub(n);
  }
}

SystemBackend::SystemBackend(MemoryLimit limit)
    : library_(detectMallocLibrary()), guard_(std::move(limit)), stats_(library_) {}

void* SystemBackend::mallocTracked(size_t size) {
  guard_.add(size);
  if (void* p = std::malloc(size)) return p;
  guard_.sub(size);
  guard_.outOfMemory("malloc", size);
}

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
