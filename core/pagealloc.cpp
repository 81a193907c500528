#include "core/pagealloc.h"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace gomalloc::core {
namespace {

constexpr unsigned kWords = kPallocChunkPages / 64;
constexpr uint64_t kAllOnes = ~uint64_t{0};
constexpr uint64_t kSumMask = (uint64_t{1} << kLogMaxPackedValue) - 1;
constexpr unsigned kPagesPerHugePage = unsigned(kHugePageBytes / kPageSize);  // 256
static_assert(kPallocChunkBytes % kHugePageBytes == 0);

// Bits [lo, 64) of a word, as a mask (lo < 64).
constexpr uint64_t maskFrom(unsigned lo) { return kAllOnes << lo; }
// Bits [0, n) of a word (n <= 64).
constexpr uint64_t maskBelow(unsigned n) { return n >= 64 ? kAllOnes : (uint64_t{1} << n) - 1; }

// Calls fn(word, mask) for each word touched by the bit range [i, i+n) of a chunk bitmap.
template <typename Fn>
void forEachWord(unsigned i, unsigned n, Fn&& fn) {
  unsigned end = i + n;
  while (i < end) {
    unsigned w = i / 64, lo = i % 64;
    unsigned hi = std::min(end - w * 64, 64u);
    fn(w, maskFrom(lo) & maskBelow(hi));
    i = w * 64 + hi;
  }
}

// Longest run of zero bits anywhere in x (x != 0).
unsigned maxZeroRun(uint64_t x) {
  uint64_t z = ~x;  // 1 = free
  unsigned best = 0;
  while (z != 0) {
    z >>= std::countr_zero(z);
    unsigned ones = unsigned(std::countr_one(z));
    best = std::max(best, ones);
    if (ones >= 64) break;
    z >>= ones;
  }
  return best;
}

}  // namespace

// Go: packPallocSum (mpagealloc.go) @ go1.19
PallocSum PallocSum::pack(uint32_t start, uint32_t max, uint32_t end) {
  if (max == kMaxPackedValue) return PallocSum{uint64_t{1} << 63};
  return PallocSum{(uint64_t(start) & kSumMask) | (uint64_t(max) & kSumMask) << kLogMaxPackedValue |
                   (uint64_t(end) & kSumMask) << (2 * kLogMaxPackedValue)};
}

// Go: pallocSum.start (mpagealloc.go) @ go1.19
uint32_t PallocSum::start() const {
  if (v >> 63) return kMaxPackedValue;
  return uint32_t(v & kSumMask);
}

// Go: pallocSum.max (mpagealloc.go) @ go1.19
uint32_t PallocSum::max() const {
  if (v >> 63) return kMaxPackedValue;
  return uint32_t((v >> kLogMaxPackedValue) & kSumMask);
}

// Go: pallocSum.end (mpagealloc.go) @ go1.19
uint32_t PallocSum::end() const {
  if (v >> 63) return kMaxPackedValue;
  return uint32_t((v >> (2 * kLogMaxPackedValue)) & kSumMask);
}

// Go: mergeSummaries (mpagealloc.go) @ go1.19
PallocSum mergeSummaries(const PallocSum* sums, size_t n, size_t logMaxPagesPerSum) {
  const uint64_t per = uint64_t{1} << logMaxPagesPerSum;
  uint64_t start = sums[0].start(), mx = sums[0].max(), end = sums[0].end();
  for (size_t i = 1; i < n; i++) {
    uint64_t s = sums[i].start(), m = sums[i].max(), e = sums[i].end();
    if (start == i * per) start += s;  // everything so far is free: the leading run continues
    mx = std::max({mx, m, end + s});
    end = e == per ? end + per : e;
  }
  return PallocSum::pack(uint32_t(start), uint32_t(mx), uint32_t(end));
}

// Go: findBitRange64 (mpallocbits.go) @ go1.19
unsigned findBitRange64(uint64_t c, unsigned n) {
  if (n == 0) return 0;
  if (n > 64) return 64;
  // Invariant: bit i of c is set iff bits [i, i+k) of the input are all set.
  unsigned k = 1;
  while (k < n && c != 0) {
    unsigned s = std::min(k, n - k);
    c &= c >> s;
    k += s;
  }
  return c != 0 ? unsigned(std::countr_zero(c)) : 64;
}

// Go: pallocBits.summarize (mpallocbits.go) @ go1.19
PallocSum PallocData::summarize() const {
  uint32_t start = 0;
  for (unsigned w = 0; w < kWords; w++) {
    start += uint32_t(std::countr_zero(alloc[w]));
    if (alloc[w] != 0) break;
  }
  if (start == kPallocChunkPages) return PallocSum::pack(start, start, start);
  uint32_t end = 0;
  for (unsigned w = kWords; w-- > 0;) {
    end += uint32_t(std::countl_zero(alloc[w]));
    if (alloc[w] != 0) break;
  }
  uint32_t best = std::max(start, end), run = 0;
  for (unsigned w = 0; w < kWords; w++) {
    uint64_t x = alloc[w];
    if (x == 0) {
      run += 64;
      continue;
    }
    run += uint32_t(std::countr_zero(x));
    best = std::max(best, run);
    if (unsigned(64 - std::popcount(x)) > best) best = std::max(best, maxZeroRun(x));
    run = uint32_t(std::countl_zero(x));
  }
  best = std::max(best, run);
  return PallocSum::pack(start, best, end);
}

// Go: pallocBits.find (mpallocbits.go) @ go1.19
std::pair<int, unsigned> PallocData::find(size_t npages, unsigned searchIdx) const {
  if (npages == 1) return find1(searchIdx);
  if (npages <= 64) return findSmallN(npages, searchIdx);
  return findLargeN(npages, searchIdx);
}

// Go: pallocBits.find1 (mpallocbits.go) @ go1.19
std::pair<int, unsigned> PallocData::find1(unsigned searchIdx) const {
  for (unsigned w = searchIdx / 64; w < kWords; w++) {
    uint64_t x = alloc[w];
    if (w == searchIdx / 64) x |= maskBelow(searchIdx % 64);
    if (x == kAllOnes) continue;
    unsigned i = w * 64 + unsigned(std::countr_one(x));
    return {int(i), i};
  }
  return {-1, unsigned(kPallocChunkPages)};
}

// Go: pallocBits.findSmallN (mpallocbits.go) @ go1.19
std::pair<int, unsigned> PallocData::findSmallN(size_t npages, unsigned searchIdx) const {
  unsigned end = 0;  // free pages at the top of the previous word
  unsigned newSearch = unsigned(kPallocChunkPages);
  for (unsigned w = searchIdx / 64; w < kWords; w++) {
    uint64_t x = alloc[w];
    if (w == searchIdx / 64) x |= maskBelow(searchIdx % 64);
    if (x == kAllOnes) {
      end = 0;
      continue;
    }
    if (newSearch == kPallocChunkPages) newSearch = w * 64 + unsigned(std::countr_one(x));
    unsigned start = unsigned(std::countr_zero(x));
    if (end + start >= npages) return {int(w * 64 - end), newSearch};  // straddles the word boundary
    unsigned j = findBitRange64(~x, unsigned(npages));
    if (j < 64) return {int(w * 64 + j), newSearch};
    end = unsigned(std::countl_zero(x));
  }
  return {-1, newSearch};
}

// Go: pallocBits.findLargeN (mpallocbits.go) @ go1.19
std::pair<int, unsigned> PallocData::findLargeN(size_t npages, unsigned searchIdx) const {
  // A run of more than 64 pages starts at the top of some word and continues through whole free words.
  size_t size = 0;
  unsigned start = 0;
  unsigned newSearch = unsigned(kPallocChunkPages);
  for (unsigned w = searchIdx / 64; w < kWords; w++) {
    uint64_t x = alloc[w];
    if (w == searchIdx / 64) x |= maskBelow(searchIdx % 64);
    if (x != kAllOnes && newSearch == kPallocChunkPages) newSearch = w * 64 + unsigned(std::countr_one(x));
    if (x == 0) {
      if (size == 0) start = w * 64;
      size += 64;
      if (size >= npages) return {int(start), newSearch};
      continue;
    }
    if (size + unsigned(std::countr_zero(x)) >= npages) return {int(start), newSearch};
    size = unsigned(std::countl_zero(x));
    start = w * 64 + 64 - unsigned(size);
  }
  return {-1, newSearch};
}

// Go: pallocData.allocRange (mpallocbits.go) @ go1.19
size_t PallocData::allocRange(unsigned i, unsigned n) {
  size_t scav = 0;
  forEachWord(i, n, [&](unsigned w, uint64_t m) {
    scav += size_t(std::popcount(scavenged[w] & m));
    scavenged[w] &= ~m;
    alloc[w] |= m;
  });
  return scav;
}

// Go: pallocData.findScavengeCandidate (mgcscavenge.go) @ go1.19
std::pair<unsigned, unsigned> PallocData::findScavengeCandidate(unsigned searchIdx, size_t maxPages) const {
  if (maxPages == 0) return {0, 0};
  auto cand = [&](unsigned w) { return ~(alloc[w] | scavenged[w]); };  // 1 = free and unscavenged
  // Highest candidate page at or below searchIdx.
  int top = -1;
  for (unsigned w = searchIdx / 64 + 1; w-- > 0;) {
    uint64_t c = cand(w);
    if (w == searchIdx / 64) c &= maskBelow(searchIdx % 64 + 1);
    if (c != 0) {
      top = int(w * 64 + 63 - unsigned(std::countl_zero(c)));
      break;
    }
  }
  if (top < 0) return {0, 0};
  unsigned end = unsigned(top) + 1;
  // Lowest page of the whole free-and-unscavenged run ending at end.
  unsigned runStart = end;
  for (unsigned w = (end - 1) / 64 + 1; w-- > 0;) {
    unsigned hi = std::min(runStart - w * 64, 64u);  // bits [0, hi) of this word lie below runStart
    uint64_t c = cand(w) << (64 - hi);                // bit hi-1 moved to bit 63
    unsigned ones = std::min(unsigned(std::countl_one(c)), hi);
    runStart -= ones;
    if (ones < hi) break;
  }
  unsigned start = end - unsigned(std::min<size_t>(end - runStart, maxPages));
  // Never split a huge page that is entirely free and unscavenged: take it whole.
  unsigned hugeBelow = start / kPagesPerHugePage * kPagesPerHugePage;
  if (hugeBelow != start && hugeBelow >= runStart && hugeBelow + kPagesPerHugePage <= end) start = hugeBelow;
  return {start, end - start};
}

// Go: pageCache.alloc (mpagecache.go) @ go1.19
std::pair<uintptr_t, size_t> PageCache::alloc(size_t npages) {
  if (cache == 0 || npages == 0 || npages > kPageCachePages) return {0, 0};
  unsigned i = npages == 1 ? unsigned(std::countr_zero(cache)) : findBitRange64(cache, unsigned(npages));
  if (i >= 64) return {0, 0};
  uint64_t m = maskBelow(unsigned(npages)) << i;
  size_t scavBytes = size_t(std::popcount(scav & m)) * kPageSize;
  cache &= ~m;
  scav &= ~m;
  return {base + uintptr_t(i) * kPageSize, scavBytes};
}

PageAlloc::PageAlloc(uintptr_t windowBase, size_t windowBytes)
    : base_(windowBase), bytes_(windowBytes), nchunks_(windowBytes / kPallocChunkBytes), searchAddr_(0) {
  if (windowBase == 0 || windowBase % kPallocChunkBytes != 0 || windowBytes == 0 ||
      windowBytes % kPallocChunkBytes != 0 || windowBase + windowBytes < windowBase)
    throw std::invalid_argument("PageAlloc: window must be non-empty, non-zero and 4 MiB aligned");
  const size_t leavesPerL0 = size_t{1} << ((kSummaryLevels - 1) * kSummaryLevelBits);
  const size_t l0 = std::max<size_t>(1, (nchunks_ + leavesPerL0 - 1) / leavesPerL0);
  for (int l = 0; l < kSummaryLevels; l++) summary_[size_t(l)].assign(l0 << (size_t(l) * kSummaryLevelBits), PallocSum{});
  scavIndex_.assign((nchunks_ + 63) / 64, 0);
  searchAddr_ = windowEnd();
}

void PageAlloc::checkRange(uintptr_t base, size_t npages, const char* what) const {
  if (npages == 0 || base % kPageSize != 0 || base < base_ || base >= windowEnd() ||
      npages > (windowEnd() - base) / kPageSize)
    throw std::invalid_argument(std::string("PageAlloc::") + what + ": range outside the window");
  for (size_t ci = chunkIndex(base), ec = chunkIndex(base + npages * kPageSize - 1); ci <= ec; ci++)
    if (!chunk(ci)) throw std::invalid_argument(std::string("PageAlloc::") + what + ": range not grown");
}

// Go: pageAlloc.grow (mpagealloc.go) @ go1.19
void PageAlloc::grow(uintptr_t base, size_t size) {
  if (size == 0) return;
  if (base % kPallocChunkBytes != 0 || size % kPallocChunkBytes != 0 || base < base_ || base >= windowEnd() ||
      size > windowEnd() - base)
    throw std::invalid_argument("PageAlloc::grow: range not chunk aligned or outside the window");
  const size_t sc = chunkIndex(base), ec = chunkIndex(base + size - 1);
  for (size_t ci = sc; ci <= ec; ci++)
    if (chunk(ci)) throw std::logic_error("PageAlloc::grow: chunk already grown");
  if (chunks_.size() < ec + 1) chunks_.resize(ec + 1);
  for (size_t ci = sc; ci <= ec; ci++) {
    chunks_[ci] = std::make_unique<PallocData>();
    chunks_[ci]->scavenged.fill(kAllOnes);
  }
  start_ = grown_ == 0 ? sc : std::min(start_, sc);
  end_ = std::max(end_, ec + 1);
  const size_t npages = size / kPageSize;
  grown_ += npages;
  free_ += npages;
  scavFree_ += npages;
  if (base < searchAddr_) searchAddr_ = base;
  update(base, npages);
}

// Go: pageAlloc.update (mpagealloc.go) @ go1.19
void PageAlloc::update(uintptr_t base, size_t npages) {
  size_t lo = chunkIndex(base), hi = chunkIndex(base + npages * kPageSize - 1);
  bool changed = false;
  auto& leaves = summary_[kSummaryLevels - 1];
  for (size_t ci = lo; ci <= hi; ci++) {
    PallocSum s = chunks_[ci]->summarize();
    if (s != leaves[ci]) {
      leaves[ci] = s;
      changed = true;
    }
  }
  // Walk up, merging each touched block of 8 children, until a level does not change.
  for (int l = kSummaryLevels - 2; l >= 0 && changed; l--) {
    lo >>= kSummaryLevelBits;
    hi >>= kSummaryLevelBits;
    changed = false;
    auto& level = summary_[size_t(l)];
    const auto& children = summary_[size_t(l) + 1];
    for (size_t p = lo; p <= hi; p++) {
      PallocSum s = mergeSummaries(&children[p << kSummaryLevelBits], size_t{1} << kSummaryLevelBits,
                                   levelLogPages(l + 1));
      if (s != level[p]) {
        level[p] = s;
        changed = true;
      }
    }
  }
}

// Go: pageAlloc.find (mpagealloc.go) @ go1.19
PageAlloc::FindResult PageAlloc::find(size_t npages) const {
  // ff: lowest address that may be free (searchAddr candidate). It follows the first non-empty entry at each
  // level as long as the search descends into that same entry.
  uintptr_t ff = searchAddr_;
  bool tracking = true;
  size_t i = 0;  // first entry of the block searched at this level
  for (int l = 0; l < kSummaryLevels; l++) {
    const auto& level = summary_[size_t(l)];
    const size_t entries = l == 0 ? level.size() : size_t{1} << kSummaryLevelBits;
    const size_t entryShift = levelLogPages(l) + kPageShift;
    const uint64_t entryPages = uint64_t{1} << levelLogPages(l);
    if (l > 0) i <<= kSummaryLevelBits;
    const size_t sIdx = (searchAddr_ - base_) >> entryShift;
    size_t j = sIdx < i ? 0 : std::min(sIdx - i, entries);
    uint64_t size = 0;  // free pages of the run ending at the previous entry
    uintptr_t runBase = 0;
    bool seen = false, descend = false;
    for (; j < entries; j++) {
      const size_t e = i + j;
      const PallocSum s = level[e];
      if (s.v == 0) {
        size = 0;
        continue;
      }
      const uintptr_t eBase = base_ + (uintptr_t(e) << entryShift);
      const bool first = !seen;
      seen = true;
      if (tracking && first) ff = std::max(ff, eBase);
      const uint64_t st = s.start();
      if (size + st >= npages) {  // a run crossing into this entry (or starting with it) is long enough
        if (size == 0) runBase = eBase;
        return {runBase, ff};
      }
      if (s.max() >= npages) {
        if (!first) tracking = false;
        i = e;
        descend = true;
        break;
      }
      if (size == 0 || st < entryPages) {
        size = s.end();
        runBase = eBase + uintptr_t(entryPages - size) * kPageSize;
      } else {
        size += entryPages;
      }
    }
    if (!descend) {
      if (l == 0) return {0, ff};
      throw std::logic_error("PageAlloc::find: summary promised a fit its children lack");
    }
  }
  // i is now the chunk to search.
  const unsigned sidx = chunkIndex(searchAddr_) == i ? chunkPageIndex(searchAddr_) : 0;
  const auto [idx, ns] = chunks_[i]->find(npages, sidx);
  if (idx < 0) throw std::logic_error("PageAlloc::find: leaf summary promised a fit its bitmap lacks");
  if (tracking) ff = std::max(ff, chunkBase(i) + uintptr_t(ns) * kPageSize);
  return {chunkBase(i) + uintptr_t(idx) * kPageSize, ff};
}

// Go: pageAlloc.allocRange (mpagealloc.go) @ go1.19
size_t PageAlloc::allocRange(uintptr_t base, size_t npages) {
  size_t scav = 0;
  uintptr_t p = base, end = base + npages * kPageSize;
  while (p < end) {
    const size_t ci = chunkIndex(p);
    const unsigned pi = chunkPageIndex(p);
    const unsigned n = unsigned(std::min<size_t>(kPallocChunkPages - pi, (end - p) / kPageSize));
    scav += chunks_[ci]->allocRange(pi, n);
    p += uintptr_t(n) * kPageSize;
  }
  free_ -= npages;
  scavFree_ -= scav;
  update(base, npages);
  return scav * kPageSize;
}

// Go: pageAlloc.alloc (mpagealloc.go) @ go1.19
std::pair<uintptr_t, size_t> PageAlloc::alloc(size_t npages) {
  if (npages == 0 || chunkIndex(searchAddr_) >= end_) return {0, 0};
  FindResult r{0, searchAddr_};
  // Fast path: the run fits in searchAddr's chunk at or after searchAddr.
  const size_t ci = chunkIndex(searchAddr_);
  const unsigned pi = chunkPageIndex(searchAddr_);
  if (kPallocChunkPages - pi >= npages && summary_[kSummaryLevels - 1][ci].max() >= npages) {
    const auto [idx, ns] = chunks_[ci]->find(npages, pi);
    if (idx >= 0) r = {chunkBase(ci) + uintptr_t(idx) * kPageSize, chunkBase(ci) + uintptr_t(ns) * kPageSize};
  }
  if (r.addr == 0) {
    r = find(npages);
    if (r.addr == 0) {
      if (npages == 1) searchAddr_ = windowEnd();  // not one free page left
      return {0, 0};
    }
  }
  const size_t scav = allocRange(r.addr, npages);
  if (searchAddr_ < r.searchAddr) searchAddr_ = r.searchAddr;
  return {r.addr, scav};
}

// Go: pageAlloc.free (mpagealloc.go) @ go1.19
void PageAlloc::free(uintptr_t base, size_t npages, bool scavenged) {
  checkRange(base, npages, "free");
  uintptr_t p = base, end = base + npages * kPageSize;
  while (p < end) {  // validate first so a bad free changes nothing
    const unsigned pi = chunkPageIndex(p);
    const unsigned n = unsigned(std::min<size_t>(kPallocChunkPages - pi, (end - p) / kPageSize));
    const PallocData& d = *chunks_[chunkIndex(p)];
    forEachWord(pi, n, [&](unsigned w, uint64_t m) {
      if ((d.alloc[w] & m) != m) throw std::logic_error("PageAlloc::free: page already free");
    });
    p += uintptr_t(n) * kPageSize;
  }
  if (base < searchAddr_) searchAddr_ = base;
  for (p = base; p < end;) {
    const size_t ci = chunkIndex(p);
    const unsigned pi = chunkPageIndex(p);
    const unsigned n = unsigned(std::min<size_t>(kPallocChunkPages - pi, (end - p) / kPageSize));
    PallocData& d = *chunks_[ci];
    forEachWord(pi, n, [&](unsigned w, uint64_t m) {
      d.alloc[w] &= ~m;
      if (scavenged) d.scavenged[w] |= m;
    });
    if (!scavenged) setScavIndex(ci);
    p += uintptr_t(n) * kPageSize;
  }
  free_ += npages;
  if (scavenged) scavFree_ += npages;
  update(base, npages);
}

// Go: pageAlloc.allocToCache (mpagecache.go) @ go1.19
PageCache PageAlloc::allocToCache() {
  if (chunkIndex(searchAddr_) >= end_) return PageCache{};
  size_t ci = chunkIndex(searchAddr_);
  unsigned pi = 0;
  if (summary_[kSummaryLevels - 1][ci].v != 0) {
    const auto [idx, ns] = chunks_[ci]->find1(chunkPageIndex(searchAddr_));
    (void)ns;
    if (idx < 0) throw std::logic_error("PageAlloc::allocToCache: free page below searchAddr");
    pi = unsigned(idx);
  } else {
    const FindResult r = find(1);
    if (r.addr == 0) {
      searchAddr_ = windowEnd();
      return PageCache{};
    }
    ci = chunkIndex(r.addr);
    pi = chunkPageIndex(r.addr);
  }
  PallocData& d = *chunks_[ci];
  const unsigned w = pi / 64;
  PageCache c{chunkBase(ci) + uintptr_t(w) * 64 * kPageSize, ~d.alloc[w], d.scavenged[w] & ~d.alloc[w]};
  d.alloc[w] = kAllOnes;
  d.scavenged[w] = 0;
  free_ -= size_t(std::popcount(c.cache));
  scavFree_ -= size_t(std::popcount(c.scav));
  update(c.base, kPageCachePages);
  searchAddr_ = c.base + (kPageCachePages - 1) * kPageSize;
  return c;
}

// Go: pageCache.flush (mpagecache.go) @ go1.19
void PageAlloc::flushCache(PageCache& c) {
  if (c.cache == 0) {
    c = PageCache{};
    return;
  }
  if (c.base % (kPageCachePages * kPageSize) != 0) throw std::invalid_argument("PageAlloc::flushCache: bad base");
  checkRange(c.base, kPageCachePages, "flushCache");
  const size_t ci = chunkIndex(c.base);
  PallocData& d = *chunks_[ci];
  const unsigned w = chunkPageIndex(c.base) / 64;
  if ((d.alloc[w] & c.cache) != c.cache) throw std::logic_error("PageAlloc::flushCache: cached page is free");
  const uint64_t scav = c.scav & c.cache;
  d.alloc[w] &= ~c.cache;
  d.scavenged[w] |= scav;
  if ((c.cache & ~scav) != 0) setScavIndex(ci);
  free_ += size_t(std::popcount(c.cache));
  scavFree_ += size_t(std::popcount(scav));
  if (c.base < searchAddr_) searchAddr_ = c.base;
  update(c.base, kPageCachePages);
  c = PageCache{};
}

// Go: pageAlloc.scavenge (mgcscavenge.go) @ go1.19
size_t PageAlloc::scavenge(size_t nbytes, const std::function<void(uintptr_t, size_t)>& unused) {
  size_t released = 0;
  size_t w = scavIndex_.size();
  while (released < nbytes) {
    // Highest chunk in the scavenge index.
    while (w > 0 && scavIndex_[w - 1] == 0) w--;
    if (w == 0) break;
    const size_t ci = (w - 1) * 64 + 63 - size_t(std::countl_zero(scavIndex_[w - 1]));
    const size_t r = scavengeOne(ci, nbytes - released, unused);
    if (r == 0) scavIndex_[ci / 64] &= ~(uint64_t{1} << (ci % 64));  // nothing left to scavenge there
    released += r;
  }
  return released;
}

// Go: pageAlloc.scavengeOne (mgcscavenge.go) @ go1.19
size_t PageAlloc::scavengeOne(size_t ci, size_t maxBytes, const std::function<void(uintptr_t, size_t)>& unused) {
  PallocData* d = chunk(ci);
  if (!d) return 0;
  const size_t maxPages = (maxBytes + kPageSize - 1) / kPageSize;
  const auto [start, n] = d->findScavengeCandidate(unsigned(kPallocChunkPages - 1), maxPages);
  if (n == 0) return 0;
  const uintptr_t addr = chunkBase(ci) + uintptr_t(start) * kPageSize;
  const size_t bytes = size_t(n) * kPageSize;
  if (unused) unused(addr, bytes);
  forEachWord(start, n, [&](unsigned w, uint64_t m) { d->scavenged[w] |= m; });
  scavFree_ += n;
  return bytes;
}

bool PageAlloc::allocated(uintptr_t page) const {
  if (page < base_ || page >= windowEnd()) return true;
  const PallocData* d = chunk(chunkIndex(page));
  if (!d) return true;
  const unsigned pi = chunkPageIndex(page);
  return (d->alloc[pi / 64] >> (pi % 64)) & 1;
}

bool PageAlloc::scavenged(uintptr_t page) const {
  if (page < base_ || page >= windowEnd()) return false;
  const PallocData* d = chunk(chunkIndex(page));
  if (!d) return false;
  const unsigned pi = chunkPageIndex(page);
  return (d->scavenged[pi / 64] >> (pi % 64)) & 1;
}

std::string PageAlloc::checkInvariants() const {
  std::string err;
  auto fail = [&](const std::string& m) {
    if (err.size() < 4096) err += m + "\n";
  };
  size_t nfree = 0, nscav = 0, ngrown = 0;
  const auto& leaves = summary_[kSummaryLevels - 1];
  for (size_t ci = 0; ci < leaves.size(); ci++) {
    const PallocData* d = chunk(ci);
    const PallocSum want = d ? d->summarize() : PallocSum{};
    if (leaves[ci] != want) fail("leaf summary of chunk " + std::to_string(ci) + " does not match its bitmap");
    if (!d) continue;
    if (ci < start_ || ci >= end_) fail("grown chunk " + std::to_string(ci) + " outside [start, end)");
    ngrown += kPallocChunkPages;
    const uintptr_t cb = chunkBase(ci);
    const size_t below = searchAddr_ <= cb ? 0 : std::min<size_t>(kPallocChunkPages, (searchAddr_ - cb) / kPageSize);
    bool freeUnscav = false;
    for (unsigned w = 0; w < kWords; w++) {
      const uint64_t a = d->alloc[w], s = d->scavenged[w];
      nfree += size_t(std::popcount(~a));
      nscav += size_t(std::popcount(~a & s));
      if ((a & s) != 0) fail("chunk " + std::to_string(ci) + " word " + std::to_string(w) + ": allocated page marked scavenged");
      freeUnscav |= (~a & ~s) != 0;
      if (w * 64 < below && (~a & maskBelow(unsigned(std::min<size_t>(below - w * 64, 64)))) != 0)
        fail("free page below searchAddr in chunk " + std::to_string(ci) + " word " + std::to_string(w));
    }
    if (freeUnscav && !((scavIndex_[ci / 64] >> (ci % 64)) & 1))
      fail("chunk " + std::to_string(ci) + " has free unscavenged pages but is not in the scavenge index");
  }
  for (int l = kSummaryLevels - 2; l >= 0; l--) {
    const auto& level = summary_[size_t(l)];
    const auto& children = summary_[size_t(l) + 1];
    for (size_t p = 0; p < level.size(); p++) {
      PallocSum want = mergeSummaries(&children[p << kSummaryLevelBits], size_t{1} << kSummaryLevelBits,
                                      levelLogPages(l + 1));
      if (level[p] != want)
        fail("summary level " + std::to_string(l) + " entry " + std::to_string(p) + " does not match its children");
    }
  }
  if (nfree != free_) fail("freePages counter " + std::to_string(free_) + " != bitmap count " + std::to_string(nfree));
  if (nscav != scavFree_)
    fail("scavengedFreePages counter " + std::to_string(scavFree_) + " != bitmap count " + std::to_string(nscav));
  if (ngrown != grown_) fail("grown pages counter mismatch");
  if (searchAddr_ < base_ || searchAddr_ > windowEnd() || searchAddr_ % kPageSize != 0) fail("searchAddr out of range");
  return err;
}

}  // namespace gomalloc::core
