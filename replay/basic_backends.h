// Backends without a model behind them: `system` (this process's malloc/free, which is jemalloc, tcmalloc
// or mimalloc when one is preloaded) and `null` (measures the harness itself).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "replay/backend.h"

namespace gomalloc::replay {

// Hands out memory from one bump region per P without any reuse bookkeeping: when a region is used up,
// allocation starts again at its beginning (objects may then overlap older ones; nothing reads them).
// Objects larger than a quarter of a region get a mapping of their own, unmapped when freed.
// The regions (one mapping) are pre-faulted (MAP_POPULATE) when they total at most 1 GiB, so that the kernel's
// page faults do not count as harness time. RSS is procs x region bytes plus the large objects live at a time.
// Addresses are reproducible (deterministic mode) except those of the objects with mappings of their own.
class NullBackend final : public BackendImpl<NullBackend> {
 public:
  static constexpr bool kHarnessClasses = true;
  static constexpr bool kHasGc = false;
  static constexpr size_t kDefaultRegionBytes = size_t{8} << 20;

  explicit NullBackend(int procs, size_t regionBytes = kDefaultRegionBytes);
  ~NullBackend() override;

  std::string name() const override { return "null"; }
  std::vector<std::pair<std::string, std::string>> settings() const override;

  void* mallocFast(int p, size_t size, bool) {
    Region& r = regions_[size_t(p)];
    const size_t n = (size + 15) & ~size_t{15};
    if (n > bigThreshold_) return bigAlloc(size);
    if (n > size_t(r.end - r.next)) r.next = r.begin;
    void* q = r.next;
    r.next += n;
    return q;
  }
  void freeFast(int, void* ptr, size_t size) {
    if (((size + 15) & ~size_t{15}) > bigThreshold_) bigFree(ptr, size);
  }
  bool gcRequestedFast() const { return false; }

 private:
  struct alignas(64) Region {
    char* begin = nullptr;
    char* next = nullptr;
    char* end = nullptr;
  };
  void* bigAlloc(size_t size);
  void bigFree(void* ptr, size_t size);

  std::unique_ptr<Region[]> regions_;
  int procs_;
  size_t regionBytes_;
  size_t bigThreshold_;
};

// malloc/free of this process. When LD_PRELOAD put another allocator in front of glibc's, the setting
// "malloc" names the library (found in /proc/self/maps), so a report says which allocator really ran.
class SystemBackend final : public BackendImpl<SystemBackend> {
 public:
  static constexpr bool kHarnessClasses = true;
  static constexpr bool kHasGc = false;

  SystemBackend();
  std::string name() const override { return "system"; }
  std::vector<std::pair<std::string, std::string>> settings() const override;
  void releaseLive(const LiveObjects& live) override;

  void* mallocFast(int, size_t size, bool) {
    void* p = std::malloc(size);
    if (p == nullptr && size != 0) throw std::bad_alloc();
    return p;
  }
  void freeFast(int, void* ptr, size_t) { std::free(ptr); }
  bool gcRequestedFast() const { return false; }

  // The allocator library mapped into this process ("glibc" if none of jemalloc/tcmalloc/mimalloc is).
  static std::string detectMallocLibrary();

 private:
  std::string library_;
};

extern template class BackendImpl<NullBackend>;
extern template class BackendImpl<SystemBackend>;

}  // namespace gomalloc::replay
