// Backends without a model behind them: `system` (this process's malloc/free, which is jemalloc, tcmalloc
// or mimalloc when one is preloaded) and `null` (measures the harness itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "replay/allocstats.h"
#include "replay/backend.h"
#include "replay/limits.h"

namespace gomalloc::replay {

// Hands out memory from bump regions without any reuse bookkeeping: when a region is used up, allocation starts
// again at its beginning (objects may then overlap older ones; nothing reads them). Each P has a small region
// for objects up to 32 KiB, small enough to stay in the cache the way memory a real allocator reuses does
// (otherwise every touch of a new object would be a cache miss no allocator pays), and one of 2 MiB for objects
// up to its size (touch writes one line per page: 512 lines at a 4 KiB stride fit the L2 sets they map to);
// larger objects get a mapping of their own, unmapped when freed. The regions (one mapping) are pre-faulted
// (MAP_POPULATE) when they total at most 1 GiB, so that the kernel's page faults do not count as harness time. RSS is procs x both regions plus the own-mapping objects live at a time.
// Addresses are reproducible (deterministic mode) except those of the objects with mappings of their own.
// The memory limit (replay/limits.h) counts the objects with mappings of their own: the rest reuses the regions.
class NullBackend final : public BackendImpl<NullBackend> {
 public:
  static constexpr bool kHarnessClasses = true;
  static constexpr bool kHasGc = false;
  static constexpr size_t kSmallObjectMax = 32768;
  static constexpr size_t kDefaultSmallRegionBytes = size_t{128} << 10;
  static constexpr size_t kDefaultLargeRegionBytes = size_t{2} << 20;

  explicit NullBackend(int procs, size_t smallRegionBytes = kDefaultSmallRegionBytes,
                       size_t largeRegionBytes = kDefaultLargeRegionBytes, MemoryLimit limit = {});
  ~NullBackend() override;

  std::string name() const override { return "null"; }
  std::vector<std::pair<std::string, std::string>> settings() const override;

  void* mallocFast(int p, size_t size, bool scan) { return applyFast(p, false, size, scan, nullptr); }
  void freeFast(int p, void* ptr, size_t size) { applyFast(p, true, size, false, ptr); }
  // Without a branch on alloc versus free (they come in no predictable order): a free bumps by 0 bytes.
  [[gnu::always_inline]] void* applyFast(int p, bool isFree, size_t size, bool, void* old) {
    const size_t n = (size + 15) & ~size_t{15};
    if (n > kSmallObjectMax) [[unlikely]] return isFree ? (freeLarge(old, n), nullptr) : allocLarge(p, n);
    // (Masks rather than ?: which the compiler turns back into a branch.)
    const uintptr_t alloc = uintptr_t(isFree) - 1;  // all ones for an alloc
    Region& r = small_[size_t(p)];
    const size_t bump = n & alloc;
    if (bump > size_t(r.end - r.next)) [[unlikely]] r.next = r.begin;
    char* q = r.next;
    r.next = q + bump;
    return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(q) & alloc) |
                                   (reinterpret_cast<uintptr_t>(old) & ~alloc));
  }
  bool gcRequestedFast() const { return false; }

 private:
  struct alignas(64) Region {
    char* begin = nullptr;
    char* next = nullptr;
    char* end = nullptr;
  };
  void* allocLarge(int p, size_t n);
  void freeLarge(void* ptr, size_t n);

  std::unique_ptr<Region[]> small_, large_;
  int procs_;
  size_t smallBytes_, largeBytes_;
  char* base_ = nullptr;
  LiveBytesGuard guard_;  // the objects with mappings of their own
};

// malloc/free of this process. When LD_PRELOAD put another allocator in front of glibc's, the setting
// "malloc" names the library (found in /proc/self/maps), so a report says which allocator really ran.
// The memory limit (replay/limits.h) counts the live objects of kTrackedObjectBytes and more as they come and
// go (one comparison per op; the trace's peak of live bytes was checked before the replay).
class SystemBackend final : public BackendImpl<SystemBackend> {
 public:
  static constexpr bool kHarnessClasses = true;
  static constexpr bool kHasGc = false;

  explicit SystemBackend(MemoryLimit limit = {});
  std::string name() const override { return "system"; }
  std::vector<std::pair<std::string, std::string>> settings() const override;
  void releaseLive(const LiveObjects& live) override;
  // The malloc's own statistics (replay/allocstats.h), when its functions are found.
  std::string allocatorStatsSource() const override { return stats_.source(); }
  AllocatorFigures allocatorStats() const override { return stats_.read(); }

  void* mallocFast(int, size_t size, bool) {
    if (size >= kTrackedObjectBytes) [[unlikely]] return mallocTracked(size);
    void* p = std::malloc(size);
    if (p == nullptr && size != 0) [[unlikely]] guard_.outOfMemory("malloc", size);
    return p;
  }
  void freeFast(int, void* ptr, size_t size) {
    if (size >= kTrackedObjectBytes) [[unlikely]] guard_.sub(size);
    std::free(ptr);
  }
  bool gcRequestedFast() const { return false; }

  // The allocator library mapped into this process ("glibc" if none of jemalloc/tcmalloc/mimalloc is).
  static std::string detectMallocLibrary();

 private:
  void* mallocTracked(size_t size);
  std::string library_;
  LiveBytesGuard guard_;
  AllocatorStatsReader stats_;
};

extern template class BackendImpl<NullBackend>;
extern template class BackendImpl<SystemBackend>;

}  // namespace gomalloc::replay
