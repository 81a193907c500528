// Tests for the page allocator (core/pagealloc.h): summaries, in-chunk search, first fit across chunks and
// summary levels, searchAddr, scavenged accounting, the page cache, the scavenger's search, and a randomized
// comparison against a naive bitmap model.
#include "core/pagealloc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace gomalloc::core {
namespace {

constexpr uintptr_t kBase = uintptr_t{1} << 40;  // window base used by every test (4 MiB aligned)
constexpr size_t kChunkPages = kPallocChunkPages;

uintptr_t addrOf(size_t page) { return kBase + page * kPageSize; }
size_t pageOf(uintptr_t addr) { return (addr - kBase) / kPageSize; }

struct Range {
  size_t first;  // page index relative to kBase
  size_t n;
};

// A heap of chunks [0, nchunks) (minus skipChunks, which stay ungrown) in which exactly the `allocated` pages are
// allocated. Free pages are unscavenged unless `scavenged` lists them (all scavenged if allScavenged).
PageAlloc makeHeap(size_t nchunks, const std::vector<Range>& allocated, const std::vector<size_t>& skipChunks = {},
                   size_t windowChunks = 0, bool allScavenged = false) {
  PageAlloc pa(kBase, (windowChunks ? windowChunks : std::max<size_t>(nchunks, 1)) * kPallocChunkBytes);
  std::vector<bool> alloc(nchunks * kChunkPages, false);
  for (const Range& r : allocated)
    for (size_t p = r.first; p < r.first + r.n; p++) alloc[p] = true;
  for (size_t ci = 0; ci < nchunks; ci++) {
    if (std::find(skipChunks.begin(), skipChunks.end(), ci) != skipChunks.end()) continue;
    pa.grow(addrOf(ci * kChunkPages), kPallocChunkBytes);
  }
  // Allocate every grown page one chunk at a time (first fit takes the chunks in order).
  for (size_t ci = 0; ci < nchunks; ci++) {
    if (std::find(skipChunks.begin(), skipChunks.end(), ci) != skipChunks.end()) continue;
    auto [a, s] = pa.alloc(kChunkPages);
    EXPECT_EQ(a, addrOf(ci * kChunkPages));
    (void)s;
  }
  for (size_t ci = 0; ci < nchunks; ci++) {
    if (std::find(skipChunks.begin(), skipChunks.end(), ci) != skipChunks.end()) continue;
    for (size_t p = ci * kChunkPages; p < (ci + 1) * kChunkPages;) {
      if (alloc[p]) {
        p++;
        continue;
      }
      size_t q = p;
      while (q < (ci + 1) * kChunkPages && !alloc[q]) q++;
      pa.free(addrOf(p), q - p, allScavenged);
      p = q;
    }
  }
  EXPECT_EQ(pa.checkInvariants(), "");
  return pa;
}

// ---------------------------------------------------------------------------------------------------------
// Summaries and bit searches

TEST(PageAllocSum, PackUnpack) {
  struct Case {
    uint32_t start, max, end;
  };
  for (Case c : {Case{0, 0, 0}, Case{1, 1, 1}, Case{0, 512, 0}, Case{512, 512, 512}, Case{3, 100, 7},
                 Case{kMaxPackedValue - 1, kMaxPackedValue - 1, kMaxPackedValue - 1}, Case{0, kMaxPackedValue - 1, 5}}) {
    PallocSum s = PallocSum::pack(c.start, c.max, c.end);
    EXPECT_EQ(s.start(), c.start);
    EXPECT_EQ(s.max(), c.max);
    EXPECT_EQ(s.end(), c.end);
  }
  PallocSum all = PallocSum::pack(kMaxPackedValue, kMaxPackedValue, kMaxPackedValue);
  EXPECT_EQ(all.v, uint64_t{1} << 63);
  EXPECT_EQ(all.start(), kMaxPackedValue);
  EXPECT_EQ(all.max(), kMaxPackedValue);
  EXPECT_EQ(all.end(), kMaxPackedValue);
  EXPECT_EQ(PallocSum::pack(0, 0, 0).v, 0u);
}

TEST(PageAllocSum, Merge) {
  struct Case {
    std::string name;
    std::vector<PallocSum> in;
    PallocSum want;
  };
  auto P = PallocSum::pack;
  const std::vector<Case> cases = {
      {"AllFree", {P(512, 512, 512), P(512, 512, 512)}, P(1024, 1024, 1024)},
      {"AllAllocated", {P(0, 0, 0), P(0, 0, 0), P(0, 0, 0)}, P(0, 0, 0)},
      {"EndMeetsStart", {P(0, 10, 100), P(200, 200, 0)}, P(0, 300, 0)},
      {"FreeMiddle", {P(5, 5, 30), P(512, 512, 512), P(40, 100, 0)}, P(5, 582, 0)},
      {"StartRunsAcross", {P(512, 512, 512), P(512, 512, 512), P(7, 50, 3)}, P(1031, 1031, 3)},
      {"EndRunsAcross", {P(0, 20, 20), P(512, 512, 512), P(512, 512, 512)}, P(0, 1044, 1044)},
      {"MaxInside", {P(1, 300, 1), P(1, 2, 1)}, P(1, 300, 1)},
  };
  for (const Case& c : cases) {
    PallocSum got = mergeSummaries(c.in.data(), c.in.size(), kLogPallocChunkPages);
    EXPECT_EQ(got.start(), c.want.start()) << c.name;
    EXPECT_EQ(got.max(), c.want.max()) << c.name;
    EXPECT_EQ(got.end(), c.want.end()) << c.name;
  }
  // Eight completely free 2^18-page summaries merge into the special all-free L0 value.
  std::vector<PallocSum> full(8, P(1u << 18, 1u << 18, 1u << 18));
  EXPECT_EQ(mergeSummaries(full.data(), 8, 18).v, uint64_t{1} << 63);
}

TEST(PageAllocBits, FindBitRange64) {
  struct Case {
    uint64_t c;
    unsigned n, want;
  };
  const std::vector<Case> cases = {
      {0, 1, 64},
      {~uint64_t{0}, 64, 0},
      {~uint64_t{0}, 1, 0},
      {0x1, 1, 0},
      {0x1, 2, 64},
      {0xF0, 4, 4},
      {0xF0, 5, 64},
      {0xF0F0FF00, 8, 8},
      {0xF0F0FF00, 9, 64},
      {uint64_t{0x7} << 61, 3, 61},
      {uint64_t{0x3} << 62 | 0x1, 2, 62},
      {0x00FF00000000FFFFull, 16, 0},
      {0x00FF0000FFFFFFF0ull, 20, 4},
      {0xFFFFFFFF00000000ull, 33, 64},
      {0xFFFFFFFF00000000ull, 32, 32},
  };
  for (const Case& c : cases) EXPECT_EQ(findBitRange64(c.c, c.n), c.want) << std::hex << c.c << " n=" << std::dec << c.n;
}

// Chunk bitmap with the listed ranges allocated.
PallocData bitsWith(const std::vector<Range>& allocated) {
  PallocData d;
  for (const Range& r : allocated)
    for (size_t p = r.first; p < r.first + r.n; p++) d.alloc[p / 64] |= uint64_t{1} << (p % 64);
  return d;
}

TEST(PageAllocBits, Summarize) {
  struct Case {
    std::string name;
    std::vector<Range> allocated;
    uint32_t start, max, end;
  };
  const std::vector<Case> cases = {
      {"Empty", {}, 512, 512, 512},
      {"Full", {{0, 512}}, 0, 0, 0},
      {"OnePageFree", {{0, 100}, {101, 411}}, 0, 1, 0},
      {"StartEnd", {{10, 490}}, 10, 12, 12},
      {"MiddleRunAcrossWords", {{0, 5}, {60, 3}, {200, 312}}, 0, 137, 0},
      {"InsideWord", {{0, 3}, {10, 2}, {20, 492}}, 0, 8, 0},
  };
  for (const Case& c : cases) {
    PallocSum s = bitsWith(c.allocated).summarize();
    EXPECT_EQ(s.start(), c.start) << c.name;
    EXPECT_EQ(s.max(), c.max) << c.name;
    EXPECT_EQ(s.end(), c.end) << c.name;
  }
}

TEST(PageAllocBits, Find) {
  struct Case {
    std::string name;
    std::vector<Range> allocated;
    size_t npages;
    unsigned searchIdx;
    int want;
    unsigned wantSearch;  // first free page at/after searchIdx (checked when want >= 0)
  };
  const std::vector<Case> cases = {
      {"Find1Empty", {}, 1, 0, 0, 0},
      {"Find1Fragmented", {{0, 70}, {71, 5}}, 1, 0, 70, 70},
      {"Find1FromSearchIdx", {{0, 130}}, 1, 130, 130, 130},
      {"Find1None", {{0, 512}}, 1, 0, -1, 0},
      {"SmallInWord", {{0, 3}, {5, 10}}, 4, 0, 15, 3},
      {"SmallStraddle", {{0, 60}, {70, 442}}, 10, 0, 60, 60},
      {"SmallStraddleTooShort", {{0, 60}, {69, 443}}, 10, 0, -1, 60},
      {"SmallWholeWord", {{0, 64}, {128, 384}}, 64, 0, 64, 64},
      {"SmallLaterWord", {{0, 30}, {32, 100}, {140, 372}}, 8, 0, 132, 30},
      {"LargeFromWordTop", {{0, 100}, {300, 212}}, 200, 0, 100, 100},
      {"LargeAligned", {{0, 128}}, 384, 0, 128, 128},
      {"LargeTooBig", {{0, 128}}, 385, 0, -1, 128},
      {"LargeSkipsShortRun", {{0, 10}, {100, 10}, {400, 10}}, 250, 0, 110, 10},
      {"LargeWholeChunk", {}, 512, 0, 0, 0},
  };
  for (const Case& c : cases) {
    auto [idx, ns] = bitsWith(c.allocated).find(c.npages, c.searchIdx);
    EXPECT_EQ(idx, c.want) << c.name;
    if (c.want >= 0) {
      EXPECT_EQ(ns, c.wantSearch) << c.name;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// PageAlloc::alloc: address-ordered first fit

TEST(PageAlloc, AllocTable) {
  struct Case {
    std::string name;
    size_t chunks;
    std::vector<Range> allocated;
    std::vector<size_t> skip;  // ungrown chunks
    size_t npages;
    long want;  // page index, or -1 for failure
  };
  const size_t C = kChunkPages;
  const std::vector<Case> cases = {
      {"EmptyChunk1", 1, {}, {}, 1, 0},
      {"EmptyChunkWhole", 1, {}, {}, 512, 0},
      {"Full", 1, {{0, 512}}, {}, 1, -1},
      {"Fragmented1", 1, {{0, 10}, {11, 9}, {25, 487}}, {}, 1, 10},
      {"Fragmented5", 1, {{0, 10}, {11, 9}, {25, 487}}, {}, 5, 20},
      {"Fragmented6", 1, {{0, 10}, {11, 9}, {25, 487}}, {}, 6, -1},
      {"WordStraddle", 1, {{0, 60}, {70, 442}}, {}, 10, 60},
      {"FirstFitLowest", 2, {{0, 100}, {105, 195}, {310, 390}, {705, 319}}, {}, 5, 100},
      {"FirstFitSkipsSmall", 2, {{0, 100}, {105, 195}, {310, 390}, {705, 319}}, {}, 6, 300},
      {"CrossChunk300", 2, {{0, C - 100}, {C + 200, C - 200}}, {}, 300, long(C - 100)},
      {"CrossChunk301", 2, {{0, C - 100}, {C + 200, C - 200}}, {}, 301, -1},
      {"CrossThreeChunks", 3, {{0, C - 10}, {2 * C + 10, C - 10}}, {}, 532, long(C - 10)},
      {"Large600", 4, {{0, 256}}, {}, 600, 256},
      {"Large1500", 3, {{0, 10}}, {}, 1500, 10},
      {"Large1536", 3, {}, {}, 1536, 0},
      {"Large1537", 3, {}, {}, 1537, -1},
      {"LargeSkipsShortRun", 4, {{C - 1, 1}, {2 * C + 5, 1}}, {}, 900, long(2 * C + 6)},
      {"CrossL3Entry", 16, {{0, 8 * C - 5}, {8 * C + 5, 8 * C - 5}}, {}, 10, long(8 * C - 5)},
      {"CrossL3EntryTooBig", 16, {{0, 8 * C - 5}, {8 * C + 5, 8 * C - 5}}, {}, 11, -1},
      {"BeyondL3Entry", 16, {{0, 8 * C - 5}, {8 * C + 5, 7 * C}}, {}, 11, long(15 * C + 5)},
      {"UngrownGapBreaksRun", 3, {{0, C - 100}}, {1}, 200, long(2 * C)},
      {"UngrownGapFails", 3, {}, {1}, 513, -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PageAlloc pa = makeHeap(c.chunks, c.allocated, c.skip);
    size_t freeBefore = pa.freePages();
    auto [a, s] = pa.alloc(c.npages);
    (void)s;
    if (c.want < 0) {
      EXPECT_EQ(a, 0u);
      EXPECT_EQ(pa.freePages(), freeBefore);
    } else {
      EXPECT_EQ(a, addrOf(size_t(c.want)));
      EXPECT_EQ(pa.freePages(), freeBefore - c.npages);
      for (size_t p = 0; p < c.npages; p++) EXPECT_TRUE(pa.allocated(a + p * kPageSize));
    }
    EXPECT_EQ(pa.checkInvariants(), "");
  }
}

TEST(PageAlloc, CrossesLevel0Boundary) {
  // A 32 GiB window has two level-0 entries of 16 GiB; grow the chunks on either side of the boundary.
  const size_t boundaryChunk = size_t{1} << 12;  // 4096 chunks = 16 GiB
  PageAlloc pa(kBase, size_t{32} << 30);
  EXPECT_EQ(pa.levelEntries(0), 2u);
  EXPECT_EQ(pa.levelEntries(4), 8192u);
  pa.grow(addrOf((boundaryChunk - 1) * kChunkPages), 2 * kPallocChunkBytes);
  EXPECT_EQ(pa.searchAddr(), addrOf((boundaryChunk - 1) * kChunkPages));
  // Allocate the first 412 pages below the boundary, leaving 100 there + 512 above.
  auto [a0, s0] = pa.alloc(412);
  EXPECT_EQ(a0, addrOf((boundaryChunk - 1) * kChunkPages));
  EXPECT_EQ(s0, 412 * kPageSize);
  auto [a1, s1] = pa.alloc(600);
  EXPECT_EQ(a1, addrOf((boundaryChunk - 1) * kChunkPages + 412));
  EXPECT_EQ(s1, 600 * kPageSize);
  EXPECT_EQ(pa.alloc(13).first, 0u);
  EXPECT_EQ(pa.alloc(12).first, addrOf((boundaryChunk - 1) * kChunkPages + 1012));
  EXPECT_EQ(pa.checkInvariants(), "");
  EXPECT_EQ(pa.summary(0, 0).end(), 0u);
  EXPECT_EQ(pa.summary(0, 1).v, 0u);
}

TEST(PageAlloc, SummariesOfFreshHeap) {
  PageAlloc pa(kBase, size_t{64} << 30);
  EXPECT_EQ(pa.levelEntries(0), 4u);
  for (size_t i = 0; i < pa.levelEntries(4); i += 1000) EXPECT_EQ(pa.summary(4, i).v, 0u);
  pa.grow(kBase, 8 * kPallocChunkBytes);  // one full level-3 entry
  EXPECT_EQ(pa.summary(4, 0), PallocSum::pack(512, 512, 512));
  EXPECT_EQ(pa.summary(3, 0), PallocSum::pack(4096, 4096, 4096));
  EXPECT_EQ(pa.summary(2, 0), PallocSum::pack(4096, 4096, 0));
  EXPECT_EQ(pa.summary(0, 0), PallocSum::pack(4096, 4096, 0));
  EXPECT_EQ(pa.summary(0, 1).v, 0u);
  EXPECT_EQ(pa.checkInvariants(), "");
}

TEST(PageAlloc, FreeThenRealloc) {
  PageAlloc pa = makeHeap(2, {});
  std::vector<uintptr_t> got;
  for (int i = 0; i < 10; i++) got.push_back(pa.alloc(50).first);
  for (int i = 0; i < 10; i++) EXPECT_EQ(got[size_t(i)], addrOf(size_t(i) * 50));
  pa.free(got[3], 50);
  pa.free(got[7], 50);
  EXPECT_EQ(pa.alloc(60).first, addrOf(500));  // neither hole fits
  EXPECT_EQ(pa.alloc(50).first, got[3]);
  EXPECT_EQ(pa.alloc(20).first, got[7]);
  EXPECT_EQ(pa.alloc(30).first, got[7] + 20 * kPageSize);
  EXPECT_EQ(pa.checkInvariants(), "");
  EXPECT_THROW(pa.free(addrOf(900), 1), std::logic_error);  // never allocated
  EXPECT_EQ(pa.checkInvariants(), "");
}

TEST(PageAlloc, SearchAddr) {
  PageAlloc pa(kBase, 4 * kPallocChunkBytes);
  EXPECT_EQ(pa.searchAddr(), pa.windowEnd());
  EXPECT_EQ(pa.alloc(1).first, 0u);  // nothing grown
  pa.grow(addrOf(2 * kChunkPages), kPallocChunkBytes);
  EXPECT_EQ(pa.searchAddr(), addrOf(2 * kChunkPages));
  pa.grow(addrOf(0), kPallocChunkBytes);
  EXPECT_EQ(pa.searchAddr(), addrOf(0));  // grow lowers it
  EXPECT_EQ(pa.alloc(1).first, addrOf(0));
  EXPECT_EQ(pa.searchAddr(), addrOf(0));  // candidate was page 0 (found before the allocation)
  EXPECT_EQ(pa.alloc(1).first, addrOf(1));
  EXPECT_EQ(pa.searchAddr(), addrOf(1));
  EXPECT_EQ(pa.alloc(10).first, addrOf(2));
  EXPECT_EQ(pa.searchAddr(), addrOf(2));
  EXPECT_EQ(pa.alloc(1).first, addrOf(12));
  EXPECT_GE(pa.searchAddr(), addrOf(12));
  pa.free(addrOf(5), 2);
  EXPECT_EQ(pa.searchAddr(), addrOf(5));  // free lowers it
  EXPECT_EQ(pa.alloc(2).first, addrOf(5));
  // A large allocation leaves searchAddr at the first free page it proved.
  EXPECT_EQ(pa.alloc(600).first, 0u);  // chunks 0 and 2 are not adjacent
  EXPECT_EQ(pa.alloc(500).first, addrOf(2 * kChunkPages));  // pages 13..511 are only 499
  EXPECT_EQ(pa.alloc(499).first, addrOf(13));
  EXPECT_EQ(pa.checkInvariants(), "");
  // Exhaust everything with one-page allocations: a failed alloc(1) moves searchAddr to the end.
  while (pa.alloc(1).first != 0) {
  }
  EXPECT_EQ(pa.searchAddr(), pa.windowEnd());
  EXPECT_EQ(pa.freePages(), 0u);
  pa.free(addrOf(2 * kChunkPages + 7), 1);
  EXPECT_EQ(pa.searchAddr(), addrOf(2 * kChunkPages + 7));
  EXPECT_EQ(pa.alloc(1).first, addrOf(2 * kChunkPages + 7));
  EXPECT_EQ(pa.checkInvariants(), "");
}

TEST(PageAlloc, ScavengedBytes) {
  PageAlloc pa(kBase, 4 * kPallocChunkBytes);
  pa.grow(kBase, 2 * kPallocChunkBytes);
  EXPECT_EQ(pa.freePages(), 1024u);
  EXPECT_EQ(pa.scavengedFreePages(), 1024u);  // fresh memory is released
  auto [a, s] = pa.alloc(10);
  EXPECT_EQ(a, addrOf(0));
  EXPECT_EQ(s, 10 * kPageSize);
  EXPECT_FALSE(pa.scavenged(addrOf(3)));
  EXPECT_TRUE(pa.scavenged(addrOf(10)));
  pa.free(addrOf(2), 4);  // ordinary free: not scavenged
  EXPECT_EQ(pa.scavengedFreePages(), 1014u);
  auto [b, t] = pa.alloc(6);  // the 4-page hole at 2 is too small
  EXPECT_EQ(b, addrOf(10));
  EXPECT_EQ(t, 6 * kPageSize);
  auto [c, u] = pa.alloc(4);
  EXPECT_EQ(c, addrOf(2));
  EXPECT_EQ(u, 0u);
  // A run mixing scavenged and unscavenged pages reports only the scavenged ones.
  pa.free(addrOf(14), 2);                 // unscavenged
  pa.free(addrOf(12), 2, /*scav=*/true);  // scavenged
  auto [d, v] = pa.alloc(4 + 10);         // pages 12..25: 12,13 scavenged, 14,15 not, 16..25 scavenged
  EXPECT_EQ(d, addrOf(12));
  EXPECT_EQ(v, 12 * kPageSize);
  // Across a chunk boundary.
  auto [e, w] = pa.alloc(600);
  EXPECT_EQ(e, addrOf(26));
  EXPECT_EQ(w, 600 * kPageSize);
  EXPECT_EQ(pa.checkInvariants(), "");
}

TEST(PageAlloc, GrowValidation) {
  PageAlloc pa(kBase, 2 * kPallocChunkBytes);
  EXPECT_THROW(pa.grow(kBase + kPageSize, kPallocChunkBytes), std::invalid_argument);
  EXPECT_THROW(pa.grow(kBase, 3 * kPallocChunkBytes), std::invalid_argument);
  pa.grow(kBase, kPallocChunkBytes);
  EXPECT_THROW(pa.grow(kBase, kPallocChunkBytes), std::logic_error);
  EXPECT_THROW(PageAlloc(kBase + kPageSize, kPallocChunkBytes), std::invalid_argument);
  EXPECT_EQ(pa.grownPages(), 512u);
}

// ---------------------------------------------------------------------------------------------------------
// Page cache

TEST(PageAllocCache, PageCacheAllocTable) {
  struct Case {
    std::string name;
    uint64_t cache, scav;
    size_t npages;
    long wantPage;  // relative to base, -1 = fail
    size_t wantScavPages;
  };
  const std::vector<Case> cases = {
      {"Empty", 0, 0, 1, -1, 0},
      {"LowestBit", 0b10110000, 0, 1, 4, 0},
      {"LowestBitScav", 0b10110000, 0b00010000, 1, 4, 1},
      {"RunOf2", 0b10110000, 0, 2, 4, 0},
      {"RunOf3None", 0b10110000, 0b10110000, 3, -1, 0},
      {"RunScav", 0xFF00, 0x0F00, 6, 8, 4},
      {"All64", ~uint64_t{0}, 0xF, 64, 0, 4},
      {"TooMany", ~uint64_t{0}, 0, 65, -1, 0},
      {"TopRun", uint64_t{0xF} << 60 | 1, uint64_t{1} << 63, 4, 60, 1},
  };
  const uintptr_t base = addrOf(128);
  for (const Case& c : cases) {
    PageCache pc{base, c.cache, c.scav};
    auto [a, s] = pc.alloc(c.npages);
    if (c.wantPage < 0) {
      EXPECT_EQ(a, 0u) << c.name;
      EXPECT_EQ(pc.cache, c.cache) << c.name;
      continue;
    }
    EXPECT_EQ(a, base + size_t(c.wantPage) * kPageSize) << c.name;
    EXPECT_EQ(s, c.wantScavPages * kPageSize) << c.name;
    uint64_t m = (c.npages == 64 ? ~uint64_t{0} : ((uint64_t{1} << c.npages) - 1)) << c.wantPage;
    EXPECT_EQ(pc.cache, c.cache & ~m) << c.name;
    EXPECT_EQ(pc.scav, c.scav & ~m) << c.name;
  }
}

TEST(PageAllocCache, AllocToCacheTakesBlock) {
  // Block 0 (pages 0..63) full, block 1 (64..127) partly allocated, the rest free.
  PageAlloc pa = makeHeap(2, {{0, 64}, {64, 3}, {70, 10}, {100, 1}});
  // Make pages 90..95 scavenged: allocate the free runs 67..69 and 80..99, free them back, 90..95 as scavenged.
  ASSERT_EQ(pa.alloc(3).first, addrOf(67));
  ASSERT_EQ(pa.alloc(20).first, addrOf(80));
  pa.free(addrOf(67), 3);
  pa.free(addrOf(80), 10);
  pa.free(addrOf(90), 6, true);
  pa.free(addrOf(96), 4);
  size_t freeBefore = pa.freePages();
  size_t scavBefore = pa.scavengedFreePages();
  std::vector<PallocSum> leafBefore = {pa.summary(4, 0), pa.summary(4, 1)};
  PageCache c = pa.allocToCache();
  EXPECT_EQ(c.base, addrOf(64));
  uint64_t wantCache = 0;
  for (size_t p = 64; p < 128; p++) {
    bool taken = (p >= 64 && p < 67) || (p >= 70 && p < 80) || p == 100;
    if (!taken) wantCache |= uint64_t{1} << (p - 64);
  }
  EXPECT_EQ(c.cache, wantCache);
  EXPECT_EQ(c.scav, uint64_t{0x3F} << (90 - 64));
  EXPECT_EQ(pa.freePages(), freeBefore - size_t(std::popcount(wantCache)));
  EXPECT_EQ(pa.scavengedFreePages(), scavBefore - 6);
  for (size_t p = 64; p < 128; p++) {
    EXPECT_TRUE(pa.allocated(addrOf(p)));
    EXPECT_FALSE(pa.scavenged(addrOf(p)));
  }
  EXPECT_EQ(pa.searchAddr(), addrOf(127));
  EXPECT_EQ(pa.checkInvariants(), "");

  // Serve spans from the cache: 1 page (67), then a run of 5 (68..69 is too short: 80..84).
  auto [a1, s1] = c.alloc(1);
  EXPECT_EQ(a1, addrOf(67));
  EXPECT_EQ(s1, 0u);
  auto [a5, s5] = c.alloc(5);
  EXPECT_EQ(a5, addrOf(80));
  EXPECT_EQ(s5, 0u);
  auto [a8, s8] = c.alloc(8);  // 85..92: 90,91,92 scavenged
  EXPECT_EQ(a8, addrOf(85));
  EXPECT_EQ(s8, 3 * kPageSize);

  // The next cache comes from the next block.
  PageCache c2 = pa.allocToCache();
  EXPECT_EQ(c2.base, addrOf(128));
  EXPECT_EQ(c2.cache, ~uint64_t{0});
  EXPECT_EQ(c2.scav, 0u);  // freed by makeHeap without scavenging

  // Flush restores: the cache's remaining pages become free with their scavenged state.
  uint64_t remaining = c.cache, remainingScav = c.scav;
  pa.flushCache(c);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.base, 0u);
  for (size_t p = 64; p < 128; p++) {
    bool inCache = (remaining >> (p - 64)) & 1;
    EXPECT_EQ(pa.allocated(addrOf(p)), !inCache) << p;
    EXPECT_EQ(pa.scavenged(addrOf(p)), inCache && ((remainingScav >> (p - 64)) & 1)) << p;
  }
  EXPECT_EQ(pa.searchAddr(), addrOf(64));
  pa.flushCache(c2);
  EXPECT_EQ(pa.checkInvariants(), "");
  // Give back the pages served from the first cache: everything is as before allocToCache.
  pa.free(a1, 1);
  pa.free(a5, 5);
  pa.free(a8, 5);
  pa.free(a8 + 5 * kPageSize, 3, true);
  EXPECT_EQ(pa.freePages(), freeBefore);
  EXPECT_EQ(pa.scavengedFreePages(), scavBefore);
  EXPECT_EQ(pa.summary(4, 0), leafBefore[0]);
  EXPECT_EQ(pa.summary(4, 1), leafBefore[1]);
  EXPECT_EQ(pa.checkInvariants(), "");
}

TEST(PageAllocCache, AllocToCacheUsesFindAndExhausts) {
  // searchAddr's chunk (0) is full, so allocToCache must search (find(1)) into chunk 2 (chunk 1 full too).
  PageAlloc pa = makeHeap(3, {{0, 1024}, {1024, 70}});
  pa.free(addrOf(5), 1);
  ASSERT_EQ(pa.alloc(1).first, addrOf(5));
  ASSERT_EQ(pa.searchAddr(), addrOf(5));
  ASSERT_EQ(pa.summary(4, 0).v, 0u);
  PageCache c = pa.allocToCache();
  EXPECT_EQ(c.base, addrOf(1024 + 64));
  EXPECT_EQ(c.cache, ~uint64_t{0} << 6);
  EXPECT_EQ(pa.checkInvariants(), "");
  // Take everything: 512 - 70 - 58 = 384 pages = 6 more blocks.
  for (int i = 0; i < 6; i++) {
    PageCache d = pa.allocToCache();
    EXPECT_EQ(d.base, addrOf(1024 + 128 + size_t(i) * 64));
    EXPECT_EQ(d.cache, ~uint64_t{0});
  }
  PageCache none = pa.allocToCache();
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(pa.searchAddr(), pa.windowEnd());
  EXPECT_EQ(pa.freePages(), 0u);
  pa.flushCache(c);
  EXPECT_EQ(pa.freePages(), 58u);
  EXPECT_EQ(pa.alloc(58).first, addrOf(1024 + 70));
  EXPECT_EQ(pa.checkInvariants(), "");
}

// ---------------------------------------------------------------------------------------------------------
// Scavenging

struct Released {
  std::vector<std::pair<size_t, size_t>> runs;  // (first page, pages)
  std::function<void(uintptr_t, size_t)> fn() {
    return [this](uintptr_t a, size_t b) { runs.emplace_back(pageOf(a), b / kPageSize); };
  }
};

TEST(PageAllocScavenge, HighestFirst) {
  // Free, unscavenged: pages 10..19 of chunk 0, 300..309 of chunk 1 (page 812), 5..9 of chunk 2 (1029).
  PageAlloc pa = makeHeap(3, {{0, 10}, {20, 792}, {822, 207}, {1034, 502}});
  EXPECT_EQ(pa.scavengedFreePages(), 0u);
  Released r;
  EXPECT_EQ(pa.scavenge(3 * kPageSize, r.fn()), 3 * kPageSize);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.runs[0], std::make_pair(size_t{1031}, size_t{3}));  // the top of chunk 2's run
  EXPECT_EQ(pa.scavengedFreePages(), 3u);
  r.runs.clear();
  // 1 byte rounds up to a page.
  EXPECT_EQ(pa.scavenge(1, r.fn()), kPageSize);
  EXPECT_EQ(r.runs, (std::vector<std::pair<size_t, size_t>>{{1030, 1}}));
  r.runs.clear();
  // Continues downward across chunks.
  EXPECT_EQ(pa.scavenge(13 * kPageSize, r.fn()), 13 * kPageSize);
  EXPECT_EQ(r.runs, (std::vector<std::pair<size_t, size_t>>{{1029, 1}, {812, 10}, {18, 2}}));
  r.runs.clear();
  EXPECT_EQ(pa.scavenge(size_t{1} << 30, r.fn()), 8 * kPageSize);
  EXPECT_EQ(r.runs, (std::vector<std::pair<size_t, size_t>>{{10, 8}}));
  EXPECT_EQ(pa.scavengedFreePages(), pa.freePages());
  EXPECT_EQ(pa.scavenge(size_t{1} << 30, r.fn()), 0u);  // nothing left
  for (size_t p : {10, 19, 812, 821, 1029, 1033}) EXPECT_TRUE(pa.scavenged(addrOf(p)));
  EXPECT_EQ(pa.checkInvariants(), "");
  // Allocating scavenged pages reports them.
  EXPECT_EQ(pa.alloc(10), std::make_pair(addrOf(10), 10 * kPageSize));
}

TEST(PageAllocScavenge, HugePageRule) {
  struct Case {
    std::string name;
    std::vector<Range> allocated;  // in a one-chunk heap; everything else free and unscavenged
    size_t nbytes;
    std::vector<std::pair<size_t, size_t>> want;
  };
  const size_t H = kHugePageBytes / kPageSize;  // 256
  const std::vector<Case> cases = {
      // A wholly free-and-unscavenged huge page is taken whole instead of being split.
      {"FreeChunkOnePage", {}, kPageSize, {{H, H}}},
      // Asking for more than a huge page from a free chunk takes both huge pages.
      {"FreeChunkCrossesBoundary", {}, 300 * kPageSize, {{0, 2 * H}}},
      // The top huge page is not entirely free: no extension.
      {"TopHugePagePartlyUsed", {{300, 1}}, kPageSize, {{511, 1}}},
      // Run [100, 400): the huge page [256,512) is not wholly free, so just the pages asked for.
      {"RunInsideTwoHugePages", {{0, 100}, {400, 112}}, 8 * kPageSize, {{392, 8}}},
      // Run [0, 300) ending inside the top huge page: asking for 50 pages from [250, 300) would split
      // huge page [0,256), which is wholly free: extend down to 0.
      {"ExtendDown", {{300, 212}}, 50 * kPageSize, {{0, 300}}},
      // Same run, small request that does not reach below the boundary: no extension.
      {"NoSplitNoExtend", {{300, 212}}, 40 * kPageSize, {{260, 40}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PageAlloc pa = makeHeap(1, c.allocated);
    Released r;
    size_t got = pa.scavenge(c.nbytes, r.fn());
    EXPECT_EQ(r.runs, c.want);
    size_t total = 0;
    for (auto& run : c.want) total += run.second;
    EXPECT_EQ(got, total * kPageSize);
    EXPECT_EQ(pa.scavengedFreePages(), total);
    EXPECT_EQ(pa.checkInvariants(), "");
  }
}

TEST(PageAllocScavenge, SkipsScavengedAndFlushedPages) {
  PageAlloc pa(kBase, 2 * kPallocChunkBytes);
  pa.grow(kBase, 2 * kPallocChunkBytes);
  Released r;
  EXPECT_EQ(pa.scavenge(size_t{1} << 30, r.fn()), 0u);  // fresh heap: all scavenged already
  // A page cache with unscavenged pages flushed back makes its chunk a candidate.
  PageCache c = pa.allocToCache();
  EXPECT_EQ(c.scav, ~uint64_t{0});
  auto [a, s] = c.alloc(4);
  EXPECT_EQ(s, 4 * kPageSize);
  pa.free(a, 4);  // unscavenged now
  EXPECT_EQ(pa.scavenge(kPageSize, r.fn()), kPageSize);
  EXPECT_EQ(r.runs, (std::vector<std::pair<size_t, size_t>>{{3, 1}}));
  pa.flushCache(c);
  EXPECT_EQ(pa.scavenge(size_t{1} << 30, r.fn()), 3 * kPageSize);
  EXPECT_EQ(pa.scavengedFreePages(), 1024u);
  EXPECT_EQ(pa.checkInvariants(), "");
}

// ---------------------------------------------------------------------------------------------------------
// Randomized comparison with a naive bitmap model

struct NaiveHeap {
  std::vector<uint8_t> grown, used, scav;  // per page of the window
  explicit NaiveHeap(size_t pages) : grown(pages), used(pages), scav(pages) {}
  void grow(size_t first, size_t n) {
    for (size_t p = first; p < first + n; p++) grown[p] = 1, used[p] = 0, scav[p] = 1;
  }
  bool isFree(size_t p) const { return grown[p] && !used[p]; }
  long firstFit(size_t n) const {
    size_t run = 0;
    for (size_t p = 0; p < grown.size(); p++) {
      run = isFree(p) ? run + 1 : 0;
      if (run == n) return long(p + 1 - n);
    }
    return -1;
  }
  long firstFree() const { return firstFit(1); }
  size_t take(size_t first, size_t n) {
    size_t s = 0;
    for (size_t p = first; p < first + n; p++) s += scav[p], used[p] = 1, scav[p] = 0;
    return s;
  }
  void give(size_t first, size_t n, bool sc) {
    for (size_t p = first; p < first + n; p++) used[p] = 0, scav[p] = sc;
  }
  size_t freeCount() const {
    size_t n = 0;
    for (size_t p = 0; p < grown.size(); p++) n += isFree(p);
    return n;
  }
  size_t scavCount() const {
    size_t n = 0;
    for (size_t p = 0; p < grown.size(); p++) n += isFree(p) && scav[p];
    return n;
  }
};

TEST(PageAllocRandom, MatchesNaiveFirstFit) {
  const size_t windowChunks = 20;
  PageAlloc pa(kBase, windowChunks * kPallocChunkBytes);
  NaiveHeap model(windowChunks * kChunkPages);
  auto grow = [&](size_t c0, size_t n) {
    pa.grow(addrOf(c0 * kChunkPages), n * kPallocChunkBytes);
    model.grow(c0 * kChunkPages, n * kChunkPages);
  };
  grow(0, 8);
  grow(10, 6);  // chunks 8, 9 ungrown: runs must not cross them
  std::mt19937_64 rng(12345);
  struct Live {
    size_t first, n;
  };
  std::vector<Live> live;
  auto randSize = [&]() -> size_t {
    uint64_t k = rng() % 100;
    if (k < 60) return 1 + rng() % 16;
    if (k < 85) return 1 + rng() % 128;
    return 1 + rng() % 1100;
  };
  for (int op = 0; op < 4000; op++) {
    SCOPED_TRACE("op " + std::to_string(op));
    uint64_t k = rng() % 100;
    if (op == 2000) grow(16, 4);
    if (k < 52 || live.empty()) {
      size_t n = randSize();
      long want = model.firstFit(n);
      auto [a, s] = pa.alloc(n);
      if (want < 0) {
        ASSERT_EQ(a, 0u) << "n=" << n;
      } else {
        ASSERT_EQ(a, addrOf(size_t(want))) << "n=" << n;
        ASSERT_EQ(s, model.take(size_t(want), n) * kPageSize);
        live.push_back({size_t(want), n});
      }
    } else if (k < 92) {
      size_t i = rng() % live.size();
      bool sc = rng() % 8 == 0;
      pa.free(addrOf(live[i].first), live[i].n, sc);
      model.give(live[i].first, live[i].n, sc);
      live[i] = live.back();
      live.pop_back();
    } else if (k < 96) {
      // Page cache round trip: take a block, serve a couple of spans, flush the rest.
      long ff = model.firstFree();
      PageCache c = pa.allocToCache();
      if (ff < 0) {
        ASSERT_TRUE(c.empty());
        continue;
      }
      ASSERT_EQ(c.base, addrOf(size_t(ff) / 64 * 64));
      for (size_t p = 0; p < 64; p++) {
        size_t page = pageOf(c.base) + p;
        ASSERT_EQ((c.cache >> p) & 1, uint64_t(model.isFree(page)));
        ASSERT_EQ((c.scav >> p) & 1, uint64_t(model.isFree(page) && model.scav[page]));
      }
      for (int t = 0; t < 2; t++) {
        size_t n = 1 + rng() % 4;
        auto [a, s] = c.alloc(n);
        if (a == 0) continue;
        ASSERT_EQ(s, model.take(pageOf(a), n) * kPageSize);
        live.push_back({pageOf(a), n});
      }
      pa.flushCache(c);
    } else {
      size_t before = pa.scavengedFreePages();
      size_t want = (rng() % 300) * kPageSize;
      size_t got = pa.scavenge(want, [&](uintptr_t a, size_t b) {
        for (size_t p = pageOf(a); p < pageOf(a) + b / kPageSize; p++) {
          ASSERT_TRUE(model.isFree(p));
          ASSERT_FALSE(model.scav[p]);
          model.scav[p] = 1;
        }
      });
      ASSERT_EQ(pa.scavengedFreePages(), before + got / kPageSize);
      ASSERT_TRUE(got >= want || pa.scavengedFreePages() == pa.freePages());
    }
    ASSERT_EQ(pa.freePages(), model.freeCount());
    ASSERT_EQ(pa.scavengedFreePages(), model.scavCount());
    if (op % 10 == 0) {
      ASSERT_EQ(pa.checkInvariants(), "");
    }
  }
  EXPECT_EQ(pa.checkInvariants(), "");
  // Full consistency of the page-level view.
  for (size_t p = 0; p < model.grown.size(); p++) {
    ASSERT_EQ(pa.allocated(addrOf(p)), !model.isFree(p)) << p;
    if (model.isFree(p)) {
      ASSERT_EQ(pa.scavenged(addrOf(p)), bool(model.scav[p])) << p;
    }
  }
}

}  // namespace
}  // namespace gomalloc::core
