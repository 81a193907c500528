// mspan: a run of pages holding objects of one span class. See malloc.h for the overview.
//
// Invariants (small spans, outside a sweep):
//   - slots [0, freeindex) are allocated or were allocated when the span was last swept;
//   - slot i >= freeindex is allocated iff allocBits[i];
//   - allocCache holds ~allocBits for the 64-slot window at freeindex, shifted so bit 0 is slot freeindex;
//   - allocCount == |{i < freeindex}| + |{i >= freeindex : allocBits[i]}|   (checked by checkInvariants)
//   - dead[k] marks slots whose object died in a cycle of parity k (deferred free mode); a sweep in cycle c
//     reclaims dead[(c-1)&1]. In immediate free mode dead[0] holds frees not yet applied to a cached span.
// sweepgen against the heap's sweepgen h: h-2 needs sweeping, h-1 being swept, h swept, h+1 cached before
// this cycle's sweep began (stale), h+3 swept and then cached. Go: mheap.go mspan @ go1.19.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/sizeclasses.h"

namespace gomalloc::core {

inline constexpr size_t kBitmapWords = kMaxObjsPerSpan / 64;

enum class SpanState : uint8_t { Dead = 0, InUse = 1 };

// Two cache lines up front: what stays fixed while the span is in use (read by every free, on any P), then
// what the P allocating from it writes on every allocation. Sharing one line made frees on other Ps miss.
struct alignas(64) MSpan {
  uintptr_t startAddr = 0;
  size_t npages = 0;
  uint32_t nelems = 0;
  uint32_t elemsize = 0;   // class size (small); for large spans see largeSize()
  uint32_t divMul = 0;
  SpanClass spanclass{};
  SpanState state = SpanState::Dead;
  uint8_t needzero = 0;
  uintptr_t limit = 0;
  // Links for the lists that hold a span: the locked mcentral's nonempty/empty lists, the free-struct list.
  MSpan* next = nullptr;
  MSpan* prev = nullptr;
  void* list = nullptr;  // which list holds it (locked mcentral design), or nullptr

  alignas(64) uint32_t freeindex = 0;
  uint32_t allocCount = 0;
  uint64_t allocCache = 0;
  std::atomic<uint32_t> sweepgen{0};
  std::atomic<int32_t> cachedBy{-1};      // P whose mcache holds the span, -1 if none (immediate mode)
  std::atomic<uint32_t> pendingFrees{0};  // immediate mode: frees recorded in dead[0] but not yet applied

  uint64_t allocBits[kBitmapWords] = {};
  uint64_t dead[2][kBitmapWords] = {};  // through markDead/takeDead (atomic when several Ps share the heap)
  bool multiP = false;                   // the heap has more than one P: dead bits need atomic updates
  // Tiny-block span class only: live sub-objects per 16-byte block (a block dies when its count reaches 0).
  // Accessed through tinyRefAdd: atomically when several Ps share the heap, plainly when there is one.
  // Invariant: a free slot's count is 1, so an ordinary 16-byte object needs no store when allocated; a slot
  // that becomes the current tiny block is set to 0, and a slot whose object dies is set back to 1.
  std::unique_ptr<uint8_t[]> tinyRefs;
  // Adds d to slot i's count and returns the new value as a signed count.
  int8_t tinyRefAdd(uint32_t i, int d, bool atomic) {
    if (!atomic) return int8_t(tinyRefs[i] = uint8_t(tinyRefs[i] + d));
    return int8_t(uint8_t(std::atomic_ref<uint8_t>(tinyRefs[i]).fetch_add(uint8_t(d), std::memory_order_acq_rel) + d));
  }

  uintptr_t base() const { return startAddr; }
  size_t spanBytes() const { return npages * kPageSize; }
  bool large() const { return spanclass.sizeclass() == 0; }
  size_t words() const { return (nelems + 63) / 64; }
  size_t slotBytes() const { return large() ? spanBytes() : elemsize; }

  // Go: mspan.objIndex (mbitmap.go) @ go1.19
  uint32_t objIndex(uintptr_t p) const {
    return large() ? 0 : uint32_t((uint64_t(p - startAddr) * divMul) >> 32);
  }

  // The fast path: next free slot from allocCache, or 0 when the slow path must run (empty cache window,
  // or the next free index would need a cache reload). About 10 instructions with one branch taken.
  // Go: nextFreeFast (malloc.go) @ go1.19
  uintptr_t nextFreeFast() {
    uint64_t cache = allocCache;
    if (cache == 0) return 0;
    unsigned bit = unsigned(std::countr_zero(cache));
    uint32_t result = freeindex + bit;
    if (result >= nelems) return 0;
    uint32_t freeidx = result + 1;
    if (freeidx % 64 == 0 && freeidx != nelems) return 0;
    allocCache = (cache >> bit) >> 1;
    freeindex = freeidx;
    allocCount++;
    return startAddr + uintptr_t(result) * elemsize;
  }

  // Go: mspan.nextFreeIndex (mbitmap.go) @ go1.19
  uint32_t nextFreeIndex();
  // Go: mspan.refillAllocCache (mbitmap.go) @ go1.19 (whichByte is a multiple of 8)
  void refillAllocCache(uint32_t whichByte) { allocCache = ~allocBits[whichByte / 8]; }
  // Loads allocCache for the current freeindex (mcentral.cacheSpan's havespan step).
  void loadAllocCacheAtFreeindex() {
    refillAllocCache((freeindex & ~63u) / 8);
    allocCache >>= (freeindex % 64);
  }
  bool isAllocated(uint32_t i) const { return i < freeindex || (allocBits[i / 64] >> (i % 64) & 1); }
  bool isDead(int parity, uint32_t i) const { return dead[parity][i / 64] >> (i % 64) & 1; }
  // Records that slot i's object died. The release pairs with takeDead's acquire: whoever reuses the slot
  // sees everything the freeing P did before.
  void markDead(int parity, uint32_t i) {
    uint64_t bit = uint64_t{1} << (i % 64);
    if (multiP) std::atomic_ref<uint64_t>(dead[parity][i / 64]).fetch_or(bit, std::memory_order_release);
    else dead[parity][i / 64] |= bit;
  }
  uint64_t takeDead(int parity, size_t w) {
    if (multiP) return std::atomic_ref<uint64_t>(dead[parity][w]).exchange(0, std::memory_order_acquire);
    uint64_t v = dead[parity][w];
    dead[parity][w] = 0;
    return v;
  }
  // Folds the slots below freeindex into allocBits and clears dead slots of the given parity
  // (negative: none): the bitmap work of a sweep. Returns the number of slots freed.
  uint32_t collect(int deadParity);

  // Go: mspan.init (mheap.go) @ go1.19
  void init(uintptr_t base, size_t npages);
  std::string checkInvariants() const;
};

}  // namespace gomalloc::core
