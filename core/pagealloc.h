// The page allocator: which 8 KiB pages of the heap are free, and which of those are scavenged (returned to
// the OS). See malloc.h for the overview.
//
// Structure (as in Go 1.19's mpagealloc.go / mpallocbits.go / mpagecache.go)
// -------------------------------------------------------------------------
// The heap's address window is cut into 4 MiB chunks of 512 pages. Each grown chunk has two 512-bit bitmaps:
// alloc (1 = page allocated) and scavenged (1 = page free and not backed by memory). A radix tree of
// summaries sits above the chunks: 5 levels, each entry of level l > 0 summarising 8 entries of level l+1;
// the leaves (level 4) are the chunks. A summary (PallocSum) packs three page counts: free pages at the start
// of the region, the longest free run, free pages at the end. Go's level 0 spans the whole 48-bit address
// space (16384 entries of 16 GiB); ours spans only the window (window/16 GiB entries, at least one), which
// changes nothing about the search order or results.
//
// Search: address-ordered first fit. find() walks from level 0 down, scanning each block of entries left to
// right, keeping the length of a free run that crosses entry boundaries (end of one entry + fully free
// entries + start of the next); it descends into the first entry whose max fits, and at the leaf searches the
// chunk's bitmap. searchAddr is a lower bound of the free pages ("no free page below it") that lets alloc skip
// the walk for the common case and restart scans where the last one left off.
//
// Page cache: allocToCache() hands a P all free pages of one 64-page aligned block (marked allocated here),
// from which PageCache::alloc serves small spans without the heap lock.
//
// Scavenging: scavenge() releases free, unscavenged pages from the highest address down (chunks come from a
// one-bit-per-chunk index set when pages are freed unscavenged), never splitting a free-and-unscavenged
// 2 MiB huge page.
//
// Not thread-safe: the caller (mheap) holds its lock. Invalid requests (freeing a free page, growing outside
// the window) throw std::logic_error / std::invalid_argument.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/sizeclasses.h"

namespace gomalloc::core {

inline constexpr size_t kPallocChunkPages = 512;
inline constexpr size_t kLogPallocChunkPages = 9;
inline constexpr size_t kPallocChunkBytes = kPallocChunkPages * kPageSize;
inline constexpr size_t kPageCachePages = 64;
inline constexpr int kSummaryLevels = 5;
inline constexpr size_t kSummaryLevelBits = 3;
inline constexpr size_t kLogMaxPackedValue = kLogPallocChunkPages + (kSummaryLevels - 1) * kSummaryLevelBits;  // 21
inline constexpr uint32_t kMaxPackedValue = uint32_t{1} << kLogMaxPackedValue;
inline constexpr size_t kHugePageBytes = size_t{2} << 20;  // physHugePageSize on x86-64 Linux
inline constexpr size_t kDefaultPageAllocWindow = size_t{64} << 30;

// Pages covered by one summary at each level: 2^21 (L0, 16 GiB) ... 2^9 (leaf, one chunk).
// Go: levelLogPages (mpagealloc_64bit.go) @ go1.19
inline constexpr size_t levelLogPages(int level) {
  return kLogPallocChunkPages + size_t(kSummaryLevels - 1 - level) * kSummaryLevelBits;
}

// pallocSum packing (start, max, end of free runs, 21 bits each; bit 63 = all 2^21). Go: pallocSum @ go1.19
struct PallocSum {
  uint64_t v = 0;
  // Go: packPallocSum (mpagealloc.go) @ go1.19
  static PallocSum pack(uint32_t start, uint32_t max, uint32_t end);
  // Go: pallocSum.start (mpagealloc.go) @ go1.19
  uint32_t start() const;
  // Go: pallocSum.max (mpagealloc.go) @ go1.19
  uint32_t max() const;
  // Go: pallocSum.end (mpagealloc.go) @ go1.19
  uint32_t end() const;
  friend bool operator==(PallocSum a, PallocSum b) = default;
};

// Merges consecutive summaries, each covering 2^logMaxPagesPerSum pages. Go: mergeSummaries (mpagealloc.go) @ go1.19
PallocSum mergeSummaries(const PallocSum* sums, size_t n, size_t logMaxPagesPerSum);

// First index i such that bits [i, i+n) of c are all set, or 64. Go: findBitRange64 (mpallocbits.go) @ go1.19
unsigned findBitRange64(uint64_t c, unsigned n);

// One chunk's bitmaps. Go: pallocData (mpallocbits.go) @ go1.19
struct PallocData {
  std::array<uint64_t, kPallocChunkPages / 64> alloc{};      // 1 = allocated
  std::array<uint64_t, kPallocChunkPages / 64> scavenged{};  // 1 = scavenged

  // Go: pallocBits.summarize (mpallocbits.go) @ go1.19
  PallocSum summarize() const;
  // First fit of npages free pages at/after searchIdx: {index or -1, first free index at/after searchIdx}.
  // Go: pallocBits.find (mpallocbits.go) @ go1.19
  std::pair<int, unsigned> find(size_t npages, unsigned searchIdx) const;
  // Go: pallocBits.find1 (mpallocbits.go) @ go1.19
  std::pair<int, unsigned> find1(unsigned searchIdx) const;
  // Go: pallocBits.findSmallN (mpallocbits.go) @ go1.19
  std::pair<int, unsigned> findSmallN(size_t npages, unsigned searchIdx) const;
  // Go: pallocBits.findLargeN (mpallocbits.go) @ go1.19
  std::pair<int, unsigned> findLargeN(size_t npages, unsigned searchIdx) const;
  // Marks [i, i+n) allocated and unscavenged; returns how many of them were scavenged. Go: pallocData.allocRange @ go1.19
  size_t allocRange(unsigned i, unsigned n);
  // Highest run [start, start+n) of free, unscavenged pages at or below searchIdx, at most maxPages long
  // (extended down to a huge-page boundary rather than split a free-and-unscavenged huge page); n = 0 if none.
  // Go: pallocData.findScavengeCandidate (mgcscavenge.go) @ go1.19
  std::pair<unsigned, unsigned> findScavengeCandidate(unsigned searchIdx, size_t maxPages) const;
};

// Per-P page cache. Go: pageCache (mpagecache.go) @ go1.19
struct PageCache {
  uintptr_t base = 0;   // 64-page aligned block base (0 = empty)
  uint64_t cache = 0;   // 1 = free page owned by this cache
  uint64_t scav = 0;    // 1 = that page is scavenged (not backed)
  bool empty() const { return cache == 0; }
  // n==1: lowest set bit; n>1: first run of n set bits. Returns {base address or 0, scavenged bytes in the run}.
  // Go: pageCache.alloc (mpagecache.go) @ go1.19
  std::pair<uintptr_t, size_t> alloc(size_t npages);
};

// The page allocator over one address window [windowBase, windowBase+windowBytes) (both 4 MiB aligned).
// Not thread-safe: the caller (mheap) holds its lock. Go: pageAlloc (mpagealloc.go) @ go1.19
class PageAlloc {
 public:
  explicit PageAlloc(uintptr_t windowBase, size_t windowBytes = kDefaultPageAllocWindow);
  PageAlloc(const PageAlloc&) = delete;
  PageAlloc& operator=(const PageAlloc&) = delete;
  PageAlloc(PageAlloc&&) = default;
  PageAlloc& operator=(PageAlloc&&) = default;

  // Adds [base, base+size) (chunk-aligned, inside the window, not yet grown) to the heap: pages free, all
  // scavenged. Go: pageAlloc.grow (mpagealloc.go) @ go1.19
  void grow(uintptr_t base, size_t size);
  // Address-ordered first fit of npages contiguous free pages. Returns {base, scavenged bytes in range} or
  // {0,0}. Clears the range's scavenged bits (the caller must sysUsed them). Go: pageAlloc.alloc (mpagealloc.go) @ go1.19
  std::pair<uintptr_t, size_t> alloc(size_t npages);
  // Frees pages (which must be allocated). scavenged=true marks them scavenged.
  // Go: pageAlloc.free (mpagealloc.go) @ go1.19
  void free(uintptr_t base, size_t npages, bool scavenged = false);
  // Takes all free pages of the 64-page block holding the first free page at/after searchAddr (marks them
  // allocated here). Empty cache if no page is free. Go: pageAlloc.allocToCache (mpagecache.go) @ go1.19
  PageCache allocToCache();
  // Returns a cache's free pages (keeping their scavenged state) and empties it.
  // Go: pageCache.flush (mpagecache.go) @ go1.19
  void flushCache(PageCache& c);
  // Scavenges up to nbytes (rounded up to pages; the huge-page rule may overshoot) of free, unscavenged pages,
  // highest address first; for each run calls unused(addr, bytes), marks it scavenged; returns bytes scavenged.
  // Go: pageAlloc.scavenge (mgcscavenge.go) @ go1.19
  size_t scavenge(size_t nbytes, const std::function<void(uintptr_t, size_t)>& unused);

  // Introspection for tests / verifier / stats. Pages held by page caches count as allocated here.
  size_t freePages() const { return free_; }                  // over the grown range
  size_t scavengedFreePages() const { return scavFree_; }     // free and scavenged
  size_t grownPages() const { return grown_; }
  bool allocated(uintptr_t page) const;  // true also outside the grown range
  bool scavenged(uintptr_t page) const;
  uintptr_t searchAddr() const { return searchAddr_; }
  uintptr_t windowBase() const { return base_; }
  uintptr_t windowEnd() const { return base_ + bytes_; }  // also the "no free page" searchAddr
  size_t levelEntries(int level) const { return summary_[size_t(level)].size(); }
  PallocSum summary(int level, size_t index) const { return summary_[size_t(level)][index]; }
  // Empty if ok: summaries match bitmaps at every level, no free page below searchAddr, no page both allocated
  // and scavenged, counters match bitmaps, every chunk with free unscavenged pages is in the scavenge index.
  std::string checkInvariants() const;

 private:
  struct FindResult {
    uintptr_t addr;        // 0 = not found
    uintptr_t searchAddr;  // proven lower bound of the free pages
  };
  // Go: pageAlloc.find (mpagealloc.go) @ go1.19
  FindResult find(size_t npages) const;
  // Go: pageAlloc.allocRange (mpagealloc.go) @ go1.19
  size_t allocRange(uintptr_t base, size_t npages);
  // Go: pageAlloc.update (mpagealloc.go) @ go1.19
  void update(uintptr_t base, size_t npages);
  // Go: pageAlloc.scavengeOne (mgcscavenge.go) @ go1.19
  size_t scavengeOne(size_t ci, size_t maxBytes, const std::function<void(uintptr_t, size_t)>& unused);

  size_t chunkIndex(uintptr_t p) const { return (p - base_) >> (kLogPallocChunkPages + kPageShift); }
  static unsigned chunkPageIndex(uintptr_t p) { return unsigned((p >> kPageShift) & (kPallocChunkPages - 1)); }
  uintptr_t chunkBase(size_t ci) const { return base_ + ci * kPallocChunkBytes; }
  PallocData* chunk(size_t ci) const { return ci < chunks_.size() ? chunks_[ci].get() : nullptr; }
  void checkRange(uintptr_t base, size_t npages, const char* what) const;
  void setScavIndex(size_t ci) { scavIndex_[ci / 64] |= uint64_t{1} << (ci % 64); }

  uintptr_t base_;
  size_t bytes_;
  size_t nchunks_;
  std::array<std::vector<PallocSum>, kSummaryLevels> summary_;
  std::vector<std::unique_ptr<PallocData>> chunks_;  // sized to the highest grown chunk; null = not grown
  std::vector<uint64_t> scavIndex_;                  // 1 bit per chunk: may hold free unscavenged pages
  size_t start_ = 0, end_ = 0;                       // grown chunk index range [start_, end_)
  uintptr_t searchAddr_;
  size_t free_ = 0, scavFree_ = 0, grown_ = 0;
};

}  // namespace gomalloc::core
