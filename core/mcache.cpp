#include "core/mcache.h"

#include "core/mheap.h"

namespace gomalloc::core {

uintptr_t MCache::nextFree(MHeap& h, int p, SpanClass spc, bool* refilled) {
  MSpan* s = alloc[spc.v];
  uint32_t i = s->nextFreeIndex();
  if (i == s->nelems && h.cfg.freeMode == FreeMode::Immediate && s != &h.emptymspan &&
      s->pendingFrees.exchange(0, std::memory_order_acq_rel) != 0) {
    // Immediate free mode: apply the frees other Ps recorded on this cached span, then look again.
    s->collect(0);
    i = s->nextFreeIndex();
  }
  if (i == s->nelems) {
    refill(h, p, spc);
    *refilled = true;
    s = alloc[spc.v];
    i = s->nextFreeIndex();
  }
  s->allocCount++;
  return s->base() + uintptr_t(i) * s->elemsize;
}

void MCache::refill(MHeap& h, int p, SpanClass spc) {
  MSpan* s = alloc[spc.v];
  if (s != &h.emptymspan) h.central[spc.v].uncacheSpan(s, true);
  RefillSource from;
  s = h.central[spc.v].cacheSpan(p, &from);
  ClassStats& st = stats[spc.v];
  st.refills++;
  st.refillFrom[size_t(from)]++;
  s->sweepgen.store(h.sweepgen.load(std::memory_order_relaxed) + 3, std::memory_order_release);
  // Assume every free slot will be used (Go's deliberate over-estimate; undone by releaseAll).
  h.heapLive.fetch_add(int64_t(s->spanBytes()) - int64_t(s->allocCount) * s->elemsize, std::memory_order_relaxed);
  alloc[spc.v] = s;
}

MSpan* MCache::allocLarge(MHeap& h, int p, size_t size, bool noscan) {
  size_t npages = (size + kPageSize - 1) >> kPageShift;
  SpanClass spc = SpanClass::make(0, noscan);
  h.deductSweepCredit(npages * kPageSize, p);
  MSpan* s = h.allocSpan(npages, spc, p);
  s->freeindex = 1;
  s->allocCount = 1;
  s->limit = s->base() + size;
  h.heapLive.fetch_add(int64_t(npages * kPageSize), std::memory_order_relaxed);
  h.central[spc.v].pushLarge(s);
  return s;
}

void MCache::releaseAll(MHeap& h, int p) {
  uint32_t sg = h.sweepgen.load(std::memory_order_relaxed);
  for (size_t i = 0; i < h.classes.numSpanClasses(); i++) {
    MSpan* s = alloc[i];
    if (s == &h.emptymspan) continue;
    if (s->sweepgen.load(std::memory_order_relaxed) != sg + 1)
      h.heapLive.fetch_sub(int64_t(s->nelems - s->allocCount) * s->elemsize, std::memory_order_relaxed);
    h.central[i].uncacheSpan(s, false);
    alloc[i] = &h.emptymspan;
  }
  dropTiny(h, p);
}

}  // namespace gomalloc::core
