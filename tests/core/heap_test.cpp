#include <gtest/gtest.h>

#include <barrier>
#include <cstring>
#include <random>
#include <thread>

#include "core/malloc.h"
#include "core/mheap.h"
#include "tests/core/test_config.h"

using namespace gomalloc::core;

namespace {

uintptr_t addr(void* p) { return reinterpret_cast<uintptr_t>(p); }

void expectVerified(const Heap& h, const std::vector<std::pair<const void*, size_t>>* live = nullptr) {
  auto bad = h.verify(live);
  for (auto& b : bad) ADD_FAILURE() << b;
}

}  // namespace

TEST(Heap, SlotsAreHandedOutLowestIndexFirst) {
  Heap h(cfgWith({}));
  uintptr_t first = addr(h.malloc(0, 32, true));
  for (int i = 1; i < 256; i++) ASSERT_EQ(addr(h.malloc(0, 32, true)), first + 32u * i) << i;
  EXPECT_EQ(first % kPageSize, 0u);
  auto cs = h.classStats();
  SpanClass spc = SpanClass::make(h.classes().sizeToClass(32), false);
  EXPECT_EQ(cs[spc.v].mallocs, 256u);
  EXPECT_EQ(cs[spc.v].refills, 1u);
  EXPECT_EQ(cs[spc.v].refillFrom[size_t(RefillSource::Grown)], 1u);
  // 256 objects fill the span; the next one needs a new span.
  EXPECT_EQ(cs[spc.v].fastHits + cs[spc.v].slowHits + cs[spc.v].refills, 256u);
  h.malloc(0, 32, true);
  EXPECT_EQ(h.classStats()[spc.v].refills, 2u);
  expectVerified(h);
}

TEST(Heap, SizeZeroReturnsZerobase) {
  Heap h(cfgWith({}));
  void* a = h.malloc(0, 0, false);
  EXPECT_EQ(a, h.malloc(0, 0, true));
  EXPECT_EQ(h.memStats().Mallocs, 0u);
  h.free(0, a);
}

TEST(Heap, TinyAllocatorPacksWithGosAlignmentAndReplacementRule) {
  Heap h(cfgWith({}));
  uintptr_t a = addr(h.malloc(0, 1, false));
  EXPECT_EQ(addr(h.malloc(0, 2, false)), a + 2);   // even size: 2-aligned
  EXPECT_EQ(addr(h.malloc(0, 4, false)), a + 4);   // multiple of 4: 4-aligned
  EXPECT_EQ(addr(h.malloc(0, 8, false)), a + 8);   // multiple of 8: 8-aligned; block now full
  uintptr_t b = addr(h.malloc(0, 12, false));       // needs a new block; 12 < 16 used: replaces
  EXPECT_EQ(b, a + 16);
  uintptr_t c = addr(h.malloc(0, 8, false));        // 12 -> aligned 16: no room; new block, 8 < 12: replaces
  EXPECT_EQ(c, a + 32);
  uintptr_t d = addr(h.malloc(0, 10, false));       // no room (8+10 > 16); 10 >= 8: old block stays current
  EXPECT_EQ(d, a + 48);
  EXPECT_EQ(addr(h.malloc(0, 4, false)), c + 8);    // packed into the current block, not d's
  // Pointerful small objects never use the tiny allocator.
  uintptr_t e = addr(h.malloc(0, 8, true));
  EXPECT_NE(e / kPageSize, a / kPageSize);
  auto cs = h.classStats();
  SpanClass tinySpc = SpanClass::make(h.classes().tinySizeClass(), true);
  EXPECT_EQ(cs[tinySpc.v].mallocs, 8u);
  EXPECT_EQ(cs[tinySpc.v].tinyHits, 4u);
  EXPECT_EQ(h.memStats().HeapAlloc, 4u * 16 + 8);
  expectVerified(h);
}

TEST(Heap, TinyBlockDiesWithItsLastObject) {
  Heap h(cfgWith({}));
  void* a = h.malloc(0, 4, false);
  void* b = h.malloc(0, 4, false);
  h.free(0, a);
  h.gc(true);  // the block was current at the GC: it survives this cycle, as in Go
  h.gc(true);
  EXPECT_EQ(h.memStats().HeapObjects, 1u) << "b still holds the block";
  h.free(0, b);
  h.gc(true);
  h.gc(true);
  EXPECT_EQ(h.memStats().HeapAlloc, 0u);
  expectVerified(h);
}

TEST(Heap, DeferredFreeIsNotReusableBeforeACycle) {
  Heap h(cfgWith({}));
  std::vector<void*> objs;
  for (int i = 0; i < 256; i++) objs.push_back(h.malloc(0, 32, true));
  for (int i = 1; i < 256; i += 2) h.free(0, objs[size_t(i)]);
  void* x = h.malloc(0, 32, true);
  EXPECT_NE(addr(x) / kPageSize, addr(objs[0]) / kPageSize);
  EXPECT_EQ(h.memStats().HeapObjects, 257u);
}

TEST(Heap, DeferredFreeIsReclaimedByTheSweepAfterTheCycle) {
  Heap h(cfgWith({}));
  std::vector<void*> objs;
  for (int i = 0; i < 256; i++) objs.push_back(h.malloc(0, 32, true));
  for (int i = 1; i < 256; i += 2) h.free(0, objs[size_t(i)]);
  h.gc(true);  // runtime.GC(): the cached span is flushed and everything is swept
  EXPECT_EQ(h.memStats().HeapObjects, 128u);
  EXPECT_EQ(h.malloc(0, 32, true), objs[1]);  // lowest free slot of the half-empty span
  EXPECT_EQ(h.malloc(0, 32, true), objs[3]);
  SpanClass spc = SpanClass::make(h.classes().sizeToClass(32), false);
  auto cs = h.classStats()[spc.v];
  EXPECT_EQ(cs.sweptFrees, 128u);
  EXPECT_EQ(cs.refillFrom[size_t(RefillSource::PartialSwept)], 1u);
  std::vector<std::pair<const void*, size_t>> live;
  for (int i = 0; i < 256; i += 2) live.emplace_back(objs[size_t(i)], 32);
  live.emplace_back(objs[1], 32);
  live.emplace_back(objs[3], 32);
  expectVerified(h, &live);
}

TEST(Heap, TriggeredCycleSweepsLazilyInCacheSpan) {
  Heap h(cfgWith({}));
  std::vector<void*> objs;
  for (int i = 0; i < 256; i++) objs.push_back(h.malloc(0, 32, true));
  for (int i = 1; i < 256; i += 2) h.free(0, objs[size_t(i)]);
  void* x = h.malloc(0, 32, true);  // the full span goes back to mcentral's full set
  h.gc(false);
  EXPECT_EQ(h.memStats().HeapObjects, 257u) << "nothing swept yet but x's cached span";
  // x's span (swept when its mcache was flushed) serves first; then cacheSpan sweeps the full span.
  for (int i = 0; i < 255; i++) h.malloc(0, 32, true);
  EXPECT_EQ(h.malloc(0, 32, true), objs[1]);
  SpanClass spc = SpanClass::make(h.classes().sizeToClass(32), false);
  auto cs = h.classStats()[spc.v];
  EXPECT_EQ(cs.refillFrom[size_t(RefillSource::FullUnswept)], 1u);
  EXPECT_EQ(h.memStats().HeapObjects, 257u + 256 - 128);
  (void)x;
  expectVerified(h);
}

TEST(Heap, ImmediateFreeIsReusedWithoutACycle) {
  Heap h(cfgWith({{"free_mode", "immediate"}}));
  std::vector<void*> objs;
  for (int i = 0; i < 256; i++) objs.push_back(h.malloc(0, 32, true));
  h.free(0, objs[5]);
  EXPECT_EQ(h.malloc(0, 32, true), objs[5]);  // the span was full: its pending free is applied
  h.free(0, objs[7]);
  h.free(0, objs[9]);
  EXPECT_EQ(h.malloc(0, 32, true), objs[7]);
  EXPECT_EQ(h.malloc(0, 32, true), objs[9]);
  EXPECT_EQ(h.memStats().NumGC, 0u);
  // Large objects go back to the heap at once.
  void* big = h.malloc(0, 100000, false);
  uint64_t inuse = h.memStats().HeapInuse;
  h.free(0, big);
  EXPECT_EQ(h.memStats().HeapInuse, inuse - 13 * kPageSize);
  expectVerified(h);
}

TEST(Heap, LargeObjectsGetSpansOfTheirOwn) {
  Heap h(cfgWith({}));
  void* a = h.malloc(0, 40000, true);
  EXPECT_EQ(addr(a) % kPageSize, 0u);
  EXPECT_EQ(h.usableSize(a), 5 * kPageSize);
  EXPECT_EQ(h.usableSize(static_cast<char*>(a) + 39999), 5 * kPageSize);  // interior pointer
  auto m = h.memStats();
  EXPECT_EQ(m.HeapAlloc, 5 * kPageSize);
  EXPECT_EQ(m.HeapInuse, 5 * kPageSize);
  EXPECT_EQ(m.HeapSys, 4u << 20);  // grown by one 4 MiB chunk
  h.free(0, a);
  h.gc(true);
  m = h.memStats();
  EXPECT_EQ(m.HeapAlloc, 0u);
  EXPECT_EQ(m.HeapInuse, 0u);
  EXPECT_EQ(h.classStats()[SpanClass::make(0, false).v].sweptFrees, 1u);
  expectVerified(h);
}

TEST(Heap, BothMcentralDesignsServeRefillsInTheirOrder) {
  for (const char* design : {"spanset", "locked"}) {
    Heap h(cfgWith({{"mcentral", design}}));
    std::vector<void*> objs;
    for (int i = 0; i < 1024; i++) objs.push_back(h.malloc(0, 64, false));
    for (size_t i = 0; i < objs.size(); i += 3) h.free(0, objs[i]);
    h.gc(true);
    for (int i = 0; i < 2000; i++) h.malloc(0, 64, false);
    auto cs = h.classStats()[SpanClass::make(h.classes().sizeToClass(64), true).v];
    EXPECT_GT(cs.refillFrom[size_t(RefillSource::PartialSwept)] + cs.refillFrom[size_t(RefillSource::PartialUnswept)],
              0u)
        << design;
    expectVerified(h);
    if (std::string(design) == "locked") {
      bool found = false;
      for (auto& l : h.lockStats()) found |= l.name.rfind("mcentral[", 0) == 0 && l.acquisitions > 0;
      EXPECT_TRUE(found);
    }
  }
}

// With GOGC=100 and a steady live heap of L bytes, a cycle runs every time about max(L, 4 MiB) is allocated.
// The go1.19 pacer marks the bytes allocated during its mark too (black) and adds stacks and globals to the
// goal: up to about a third more per cycle (less under the 4 MiB floor, where the black bytes raise the
// marked heap but not the goal).
TEST(Heap, PacerRunsACycleEveryLiveHeapOfAllocation) {
  for (const char* pacer : {"instant", "go1.19"})
  for (size_t live : {size_t{512} << 10, size_t{8} << 20, size_t{32} << 20}) {
    const bool go119 = std::string(pacer) == "go1.19";
    Heap h(cfgWith({{"pacer", pacer}}));
    std::vector<void*> keep;
    for (size_t b = 0; b < live; b += 512) keep.push_back(h.malloc(0, 512, true));
    h.gc(true);
    uint64_t startGC = h.memStats().NumGC;
    size_t allocated = 0;
    std::vector<void*> ring(64, nullptr);
    size_t i = 0;
    while (h.memStats().NumGC < startGC + 6) {
      void*& slot = ring[i++ % ring.size()];
      if (slot) h.free(0, slot);
      slot = h.malloc(0, 256, true);
      allocated += 256;
      if (h.gcRequested()) h.gc();
    }
    double perCycle = double(allocated) / 6;
    double expect = double(std::max(live, size_t{4} << 20));
    EXPECT_GT(perCycle, 0.6 * expect) << pacer << " live " << live;
    EXPECT_LT(perCycle, (go119 ? 1.5 : 1.15) * expect) << pacer << " live " << live;
  }
}

TEST(Heap, ScavengerReturnsMemoryAfterTheHeapShrinks) {
  for (const char* pace : {"0", "64"}) {
    Heap h(cfgWith({{"scavenger_pace", pace}}));
    std::vector<void*> objs;
    for (int i = 0; i < 64 * 1024; i++) objs.push_back(h.malloc(0, 1024, true));  // 64 MiB
    for (void* p : objs) h.free(0, p);
    for (int i = 0; i < 4; i++) h.gc(true);
    auto m = h.memStats();
    if (std::string(pace) == "0") {
      EXPECT_GT(m.HeapReleased, uint64_t{32} << 20) << "unpaced: down to the goal at once";
    } else {
      // Paced: 1/64 of the 64 MiB allocated before the first cycle, then the 64 KiB minimum per cycle,
      // each rounded up to whole 2 MiB huge pages (the scavenger does not split a free huge page).
      EXPECT_GE(m.ScavengedBytes, uint64_t{1} << 20);
      EXPECT_LE(m.ScavengedBytes, uint64_t{8} << 20);
    }
    EXPECT_EQ(m.HeapSys, m.HeapInuse + m.HeapIdle);
    expectVerified(h);
  }
}

TEST(Heap, SeveralHeapsLiveSideBySide) {
  Heap a(cfgWith({})), b(cfgWith({{"preset", "go1.13"}}));
  void* x = a.malloc(0, 24, true);
  void* y = b.malloc(0, 24, true);
  EXPECT_EQ(a.usableSize(x), 24u);
  EXPECT_EQ(b.usableSize(y), 32u);  // go1.13 has no 24-byte class
  EXPECT_EQ(a.usableSize(y), 0u);
}

// A seeded multi-threaded stress test: Ps allocate, write, check and free objects of every size, hand some
// to the next P to free (cross-P frees), and stop together for GC cycles, after which the verifier checks
// every invariant against the set of live objects.
class HeapStress : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(HeapStress, StressManyPsWithCrossFreesAndCycles) {
  const int kPs = 4;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  const int kRounds = 12, kOps = 1500;
#else
  const int kRounds = 40, kOps = 6000;
#endif
  Heap h(cfgWith({{"procs", "4"}, {"mcentral", GetParam().first}, {"free_mode", GetParam().second}, {"gogc", "50"}}));
  struct Obj {
    void* p;
    size_t size;
    uint64_t tag;
  };
  std::vector<std::vector<Obj>> live(kPs), outbox(kPs);
  std::barrier sync(kPs);
  std::atomic<int> failures{0};
  auto stamp = [](const Obj& o) {
    if (o.size >= 8) std::memcpy(o.p, &o.tag, 8);
  };
  auto check = [&](const Obj& o) {
    uint64_t t = 0;
    if (o.size >= 8) std::memcpy(&t, o.p, 8);
    if (o.size >= 8 && t != o.tag) failures++;
  };
  auto worker = [&](int p) {
    std::mt19937_64 rng(uint64_t(p) * 7919 + 1);
    for (int round = 0; round < kRounds; round++) {
      for (auto& o : outbox[size_t((p + kPs - 1) % kPs)]) {  // objects handed over by the previous P
        check(o);
        h.free(p, o.p);
      }
      outbox[size_t((p + kPs - 1) % kPs)].clear();
      sync.arrive_and_wait();
      for (int i = 0; i < kOps; i++) {
        uint64_t r = rng();
        if (!live[size_t(p)].empty() && r % 5 < 2) {
          size_t k = rng() % live[size_t(p)].size();
          check(live[size_t(p)][k]);
          h.free(p, live[size_t(p)][k].p);
          live[size_t(p)][k] = live[size_t(p)].back();
          live[size_t(p)].pop_back();
          continue;
        }
        size_t size = r % 100 == 0 ? 33000 + rng() % 100000 : (r % 3 == 0 ? 1 + rng() % 15 : 1 + rng() % 2048);
        Obj o{h.malloc(p, size, r & 64), size, rng()};
        stamp(o);
        live[size_t(p)].push_back(o);
      }
      for (int k = 0; k < 50 && !live[size_t(p)].empty(); k++) {  // hand some to the next P
        outbox[size_t(p)].push_back(live[size_t(p)].back());
        live[size_t(p)].pop_back();
      }
      sync.arrive_and_wait();
      if (p == 0) {
        if (h.gcRequested() || round % 7 == 0) h.gc(round % 7 == 0);
        std::vector<std::pair<const void*, size_t>> all;
        for (auto& v : live)
          for (auto& o : v) all.emplace_back(o.p, o.size);
        for (auto& v : outbox)
          for (auto& o : v) all.emplace_back(o.p, o.size);
        for (auto& b : h.verify(&all)) {
          ADD_FAILURE() << "round " << round << ": " << b;
          failures++;
        }
      }
      sync.arrive_and_wait();
    }
  };
  std::vector<std::thread> ts;
  for (int p = 0; p < kPs; p++) ts.emplace_back(worker, p);
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto m = h.memStats();
  EXPECT_GT(m.NumGC, 2u);
  uint64_t frees = 0, mallocs = 0;
  for (auto& c : h.classStats()) {
    frees += c.frees;
    mallocs += c.mallocs;
  }
  EXPECT_EQ(m.Mallocs, mallocs);
  EXPECT_GT(frees, 0u);
}

INSTANTIATE_TEST_SUITE_P(Designs, HeapStress,
                         ::testing::Values(std::make_pair("spanset", "deferred"), std::make_pair("locked", "deferred"),
                                           std::make_pair("locked", "immediate")));

TEST(Heap, ReusedMemoryIsZeroedUnlessZeroingIsOff) {
  for (const char* zeroing : {"true", "false"}) {
    SCOPED_TRACE(zeroing);
    Heap h(cfgWith({{"zeroing", zeroing}, {"scavenger", "false"}}));
    std::vector<void*> objs;
    for (int i = 0; i < 256; i++) {  // one span of 32-byte objects
      objs.push_back(h.malloc(0, 32, true));
      std::memset(objs.back(), 0xAB, 32);
    }
    for (int i = 1; i < 256; i++) h.free(0, objs[size_t(i)]);  // object 0 keeps the span in use
    h.gc(true);  // the dead slots are swept: the span's memory now needs zeroing before reuse
    void* again = h.malloc(0, 32, true);
    ASSERT_EQ(again, objs[1]);  // the lowest free slot
    unsigned char bytes[32];
    std::memcpy(bytes, again, 32);
    const unsigned char want = std::strcmp(zeroing, "true") == 0 ? 0x00 : 0xAB;
    for (unsigned char b : bytes) ASSERT_EQ(b, want);
    expectVerified(h);
  }
}

// max_heap_bytes: the most arena memory the heap maps, and the address window it reserves. auto stands for
// autoMaxHeapBytes, which replay sets from its memory limit.
TEST(HeapLimit, GrowthStopsAtMaxHeapBytesWithAMessageNamingIt) {
  Heap h(cfgWith({{"max_heap_bytes", "64MiB"}}));
  void* a = h.malloc(0, size_t{40} << 20, false);
  ASSERT_NE(a, nullptr);
  try {
    h.malloc(0, size_t{40} << 20, false);
    ADD_FAILURE() << "no error past max_heap_bytes";
  } catch (const HeapLimitError& e) {
    EXPECT_STREQ(e.what(), "the heap would grow past max_heap_bytes (64 MiB): it has mapped 40 MiB and needs 40 MiB "
                           "more; raise it with --set max_heap_bytes=SIZE or replay fewer live objects");
  }
  // The heap is intact: small objects and what still fits are allocated, freed memory is reused.
  void* b = h.malloc(0, size_t{20} << 20, false);
  for (int i = 0; i < 1000; i++) ASSERT_NE(h.malloc(0, 64, true), nullptr);
  h.free(0, a);
  h.gc(true);
  h.gc(true);
  EXPECT_NE(h.malloc(0, size_t{40} << 20, false), nullptr);
  EXPECT_LE(h.memStats().HeapSys, size_t{64} << 20);
  (void)b;
  expectVerified(h);
}

TEST(HeapLimit, AutoStandsForWhatTheBuilderSetsAndPrintsAsAuto) {
  Config c;
  EXPECT_EQ(c.maxHeapBytes, 0u);  // auto
  EXPECT_EQ(c.heapLimitBytes(), size_t{64} << 30);
  c.autoMaxHeapBytes = (size_t{100} << 20) + 12345;  // rounded down to 4 MiB; the window up to an arena
  c.autoMaxHeapOrigin = "the machine's memory: cgroup limit";
  EXPECT_EQ(c.heapLimitBytes(), size_t{100} << 20);
  EXPECT_EQ(c.heapWindowBytes(), size_t{128} << 20);
  EXPECT_EQ(c.maxHeapText(), "max_heap_bytes (100 MiB, the machine's memory: cgroup limit)");
  for (auto& [k, v] : c.entries()) {
    if (k == "max_heap_bytes") {
      EXPECT_EQ(v, "auto");
    }
  }
  Heap h(c);
  EXPECT_THROW(h.malloc(0, size_t{101} << 20, false), HeapLimitError);
  EXPECT_NE(h.malloc(0, size_t{100} << 20, false), nullptr);

  c.set("max_heap_bytes", "8MiB");
  EXPECT_EQ(c.heapLimitBytes(), size_t{8} << 20);
  EXPECT_EQ(c.maxHeapText(), "max_heap_bytes (8 MiB)");
  c.set("max_heap_bytes", "auto");
  EXPECT_EQ(c.maxHeapBytes, 0u);
  EXPECT_THROW(c.set("max_heap_bytes", "6MiB"), std::invalid_argument);  // not a multiple of 4 MiB
  EXPECT_THROW(c.set("max_heap_bytes", "lots"), std::invalid_argument);
}

TEST(HeapLimit, AWindowTheAddressSpaceCannotHoldNamesTheSetting) {
  // 2^50 bytes of address space is more than x86-64's 47-bit user space.
  Config c;
  c.set("max_heap_bytes", "1048576GiB");
  try {
    Heap h(c);
    ADD_FAILURE() << "a 1 PiB window was reserved";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("of address space for the heap's arenas"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lower max_heap_bytes (1048576 GiB) or raise the address-space limit"),
              std::string::npos)
        << e.what();
  }
}
