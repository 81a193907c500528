// Benchmarks of the Go-model heap: the small-object path per size class (all costs included, refills
// amortised), a refill, a large allocation, and the memory floor under zeroing reused slots.
// Run: build/bench/core_benchmark
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <vector>
#include <memory>

#include "core/malloc.h"

using namespace gomalloc::core;

namespace {

std::unique_ptr<Heap> freshHeap() {
  Config c;
  c.gogc = -1;  // no cycles: measure allocation alone
  c.maxHeapBytes = size_t{16} << 30;
  return std::make_unique<Heap>(c);
}

// Allocates into a fresh heap and swaps it for a new one (outside the timing) every `batch` objects.
void run(benchmark::State& state, size_t size, bool scan, size_t batch) {
  auto h = freshHeap();
  size_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h->malloc(0, size, scan));
    if (++n == batch) {
      state.PauseTiming();
      h = freshHeap();
      n = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}

}  // namespace

// mallocgc for small objects: tiny allocator (noscan < 16 B), nextFreeFast, with refills amortised.
static void BM_MallocNoscan(benchmark::State& state) {
  run(state, size_t(state.range(0)), false, std::min<size_t>(1 << 20, (size_t{1} << 30) / size_t(state.range(0))));
}
BENCHMARK(BM_MallocNoscan)->Arg(1)->Arg(4)->Arg(8)->Arg(16)->Arg(24)->Arg(32)->Arg(48)->Arg(128)->Arg(512)->Arg(1024)->Arg(4096)->Arg(32768);

static void BM_MallocScan(benchmark::State& state) {
  run(state, size_t(state.range(0)), true, std::min<size_t>(1 << 20, (size_t{1} << 30) / size_t(state.range(0))));
}
BENCHMARK(BM_MallocScan)->Arg(8)->Arg(16)->Arg(24)->Arg(32)->Arg(64)->Arg(256)->Arg(2048);

// Every allocation of an 8 KiB object needs a refill: class 51 holds one object per one-page span, so each
// malloc is uncacheSpan + cacheSpan + mcentral.grow from the P's page cache.
static void BM_Refill(benchmark::State& state) { run(state, 8192, false, 1 << 16); }
BENCHMARK(BM_Refill);

// Large objects (> 32 KiB): allocLarge -> allocSpan (page cache below 16 pages, page allocator above).
static void BM_LargeAlloc(benchmark::State& state) { run(state, size_t(state.range(0)), false, 1 << 12); }
BENCHMARK(BM_LargeAlloc)->Arg(40000)->Arg(200000)->Arg(1 << 20);

// Steady state with GC: allocate and free through a ring of live objects, cycles from the pacer.
static void BM_MallocFreeWithGC(benchmark::State& state) {
  Config c;
  c.maxHeapBytes = size_t{16} << 30;
  Heap h(c);
  std::vector<void*> ring(4096, nullptr);
  size_t i = 0;
  for (auto _ : state) {
    void*& slot = ring[i++ & 4095];
    if (slot) h.free(0, slot);
    slot = h.malloc(0, size_t(state.range(0)), true);
    if (h.gcRequested()) h.gc();
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["gc_cycles"] = double(h.memStats().NumGC);
}
BENCHMARK(BM_MallocFreeWithGC)->Arg(32)->Arg(256);

// The machine's floor under Go's zeroing, no allocator involved: memset of size-byte slots (range 1) spread
// over a working set of range 0 MiB, 8 KiB spans visited in a shuffled order and the slots of a span in order
// (as Go hands out a swept span's free slots). A 1 MiB working set stands for malloc's at-once reuse (the
// memory is still cached); 128 MiB for Go's reuse after a cycle of a heap like the steady trace's (117 MiB
// live), by when the memory has left the caches; 32 MiB for the web trace's (18-36 MiB). docs/benchmarks.md
// uses it to bound the go backend's time.
static void BM_ZeroSlots(benchmark::State& state) {
  const size_t ws = size_t(state.range(0)) << 20, size = size_t(state.range(1)), span = 8192;
  std::vector<char> mem(ws, 1);  // (the vector's own fill faults every page in first)
  std::vector<size_t> order(ws / span);
  for (size_t i = 0; i < order.size(); i++) order[i] = i * span;
  uint64_t x = 88172645463325252ull;  // xorshift: the same order on every run
  for (size_t i = order.size() - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::swap(order[i], order[x % (i + 1)]);
  }
  size_t k = 0, off = 0, slots = 0;
  for (auto _ : state) {
    std::memset(mem.data() + order[k] + off, 0, size);
    benchmark::ClobberMemory();
    if ((off += size) + size > span) {
      off = 0;
      if (++k == order.size()) k = 0;
    }
    slots++;
  }
  state.SetItemsProcessed(int64_t(slots));
  state.SetBytesProcessed(int64_t(slots * size));
}
BENCHMARK(BM_ZeroSlots)->Args({1, 576})->Args({32, 576})->Args({128, 576})->Args({1, 64})->Args({128, 64});

BENCHMARK_MAIN();
