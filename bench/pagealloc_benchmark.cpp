// Page allocator benchmarks: first-fit search on a fragmented heap, and serving pages from a per-P page cache.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "core/pagealloc.h"

namespace {

using gomalloc::core::kPageSize;
using gomalloc::core::kPallocChunkBytes;
using gomalloc::core::PageAlloc;
using gomalloc::core::PageCache;

constexpr uintptr_t kBase = uintptr_t{1} << 40;
constexpr size_t kHeapBytes = size_t{1} << 30;  // 1 GiB = 256 chunks
constexpr size_t kHeapPages = kHeapBytes / kPageSize;

// A 1 GiB heap whose lower 7/8 is fragmented into holes of 1..63 pages (so multi-page requests must search
// past many small holes) and whose top 1/8 is free.
std::unique_ptr<PageAlloc> fragmentedHeap() {
  auto pa = std::make_unique<PageAlloc>(kBase, kHeapBytes);
  pa->grow(kBase, kHeapBytes);
  pa->alloc(kHeapPages);
  size_t p = 0, hole = 1;
  const size_t fragmented = kHeapPages / 8 * 7;
  while (p + hole + 1 < fragmented) {
    pa->free(kBase + p * kPageSize, hole);
    p += hole + 1;  // one allocated page between holes
    hole = hole % 63 + 1;
  }
  pa->free(kBase + fragmented * kPageSize, kHeapPages - fragmented);
  return pa;
}

void BM_PageAllocFind(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  auto pa = fragmentedHeap();
  for (auto _ : state) {
    auto [addr, scav] = pa->alloc(n);
    benchmark::DoNotOptimize(addr);
    benchmark::DoNotOptimize(scav);
    if (addr == 0) {
      state.SkipWithError("out of pages");
      break;
    }
    pa->free(addr, n);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_PageAllocFind)->Arg(1)->Arg(8)->Arg(64)->Arg(600);

// One-page allocations from a page cache; refilling (allocToCache) and returning the block are amortized.
void BM_PageCacheAlloc(benchmark::State& state) {
  PageAlloc pa(kBase, kHeapBytes);
  pa.grow(kBase, kHeapBytes);
  PageCache c = pa.allocToCache();
  uintptr_t block = c.base;
  for (auto _ : state) {
    if (c.empty()) {
      pa.free(block, gomalloc::core::kPageCachePages);
      c = pa.allocToCache();
      block = c.base;
    }
    auto [addr, scav] = c.alloc(1);
    benchmark::DoNotOptimize(addr);
    benchmark::DoNotOptimize(scav);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_PageCacheAlloc);

}  // namespace

BENCHMARK_MAIN();
