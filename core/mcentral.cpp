#include "core/mcentral.h"

#include <mutex>

#include "core/mheap.h"

namespace gomalloc::core {

void MSpanList::insertBack(MSpan* s) {
  s->list = this;
  s->next = nullptr;
  s->prev = last;
  if (last) last->next = s;
  else first = s;
  last = s;
  n++;
}

void MSpanList::remove(MSpan* s) {
  if (s->prev) s->prev->next = s->next;
  else first = s->next;
  if (s->next) s->next->prev = s->prev;
  else last = s->prev;
  s->next = s->prev = nullptr;
  s->list = nullptr;
  n--;
}

void MCentral::init(MHeap* h, SpanClass spc) {
  h_ = h;
  spc_ = spc;
}

void MCentral::moveTo(MSpanList& l, MSpan* s) {
  if (s->list == &l) return;
  if (s->list) static_cast<MSpanList*>(s->list)->remove(s);
  l.insertBack(s);
}

LockStats MCentral::spineLockStats() const {
  LockStats st;
  for (auto* set : {&partial_[0], &partial_[1], &full_[0], &full_[1]}) st += set->spineLock.stats("");
  return st;
}

MSpan* MCentral::cacheSpan(int p, RefillSource* from) {
  MSpan* s = h_->cfg.mcentral == McentralDesign::SpanSet ? cacheSpanSets(p, from) : cacheSpanLocked(p, from);
  // havespan: load allocCache for the span's freeindex.
  s->loadAllocCacheAtFreeindex();
  return s;
}

// Go: mcentral.cacheSpan @ go1.19
MSpan* MCentral::cacheSpanSets(int p, RefillSource* from) {
  h_->deductSweepCredit(h_->classes[spc_.sizeclass()].npages * kPageSize, p);
  int spanBudget = 100;
  uint32_t sg = h_->sweepgen.load(std::memory_order_acquire);
  if (MSpan* s = partialSwept(sg).pop()) {
    *from = RefillSource::PartialSwept;
    return s;
  }
  // Sweep spans of this class ourselves: partial unswept first, then full unswept.
  for (; spanBudget >= 0; spanBudget--) {
    MSpan* s = partialUnswept(sg).pop();
    if (!s) break;
    if (h_->tryAcquire(s, sg)) {
      h_->sweep(s, true, p);
      *from = RefillSource::PartialUnswept;
      return s;
    }
  }
  for (; spanBudget >= 0; spanBudget--) {
    MSpan* s = fullUnswept(sg).pop();
    if (!s) break;
    if (h_->tryAcquire(s, sg)) {
      h_->sweep(s, true, p);
      uint32_t freeIndex = s->nextFreeIndex();
      if (freeIndex != s->nelems) {
        s->freeindex = freeIndex;
        *from = RefillSource::FullUnswept;
        return s;
      }
      fullSwept(sg).push(s);  // still full after sweeping
    }
  }
  *from = RefillSource::Grown;
  return grow(p);
}

// Go: mcentral.cacheSpan @ go1.13 (nonempty/empty lists under the mcentral lock)
MSpan* MCentral::cacheSpanLocked(int p, RefillSource* from) {
  std::unique_lock<Mutex> g(lock);
  const bool immediate = h_->cfg.freeMode == FreeMode::Immediate;
retry:
  uint32_t sg = h_->sweepgen.load(std::memory_order_acquire);
  for (MSpan* s = nonempty_.first; s; s = s->next) {
    uint32_t ssg = s->sweepgen.load(std::memory_order_acquire);
    if (ssg == sg - 2 && h_->tryAcquire(s, sg)) {
      moveTo(empty_, s);
      s->cachedBy.store(p, std::memory_order_relaxed);
      // Immediate frees change allocBits under this lock, so then the sweep must hold it too.
      if (!immediate) g.unlock();
      h_->sweep(s, true, p);
      *from = RefillSource::PartialUnswept;
      return s;
    }
    if (ssg == sg - 1) continue;  // being swept by someone else
    moveTo(empty_, s);
    s->cachedBy.store(p, std::memory_order_relaxed);
    *from = RefillSource::PartialSwept;
    return s;
  }
  for (MSpan* s = empty_.first; s; s = s->next) {
    uint32_t ssg = s->sweepgen.load(std::memory_order_acquire);
    if (ssg == sg - 2 && h_->tryAcquire(s, sg)) {
      moveTo(empty_, s);  // to the back
      if (!immediate) g.unlock();
      h_->sweep(s, true, p);
      uint32_t freeIndex = s->nextFreeIndex();
      if (freeIndex != s->nelems) {
        s->freeindex = freeIndex;
        s->cachedBy.store(p, std::memory_order_relaxed);
        *from = RefillSource::FullUnswept;
        return s;
      }
      if (immediate) s->collect(-1);  // nextFreeIndex left freeindex at nelems: make allocBits exact again
      else g.lock();
      goto retry;  // the span is full; look again
    }
    if (ssg == sg - 1) continue;
    break;  // swept spans sit at the end of the list; none further needs sweeping
  }
  g.unlock();
  MSpan* s = grow(p);
  g.lock();
  empty_.insertBack(s);
  s->cachedBy.store(p, std::memory_order_relaxed);
  *from = RefillSource::Grown;
  return s;
}

void MCentral::uncacheSpan(MSpan* s, bool forRefill) {
  uint32_t sg = h_->sweepgen.load(std::memory_order_acquire);
  const bool immediate = h_->cfg.freeMode == FreeMode::Immediate;
  if (h_->cfg.mcentral == McentralDesign::SpanSet) {
    if (s->sweepgen.load(std::memory_order_relaxed) == sg + 1) {
      // Cached before this cycle's sweep began: sweep it now and let the sweep place it.
      s->sweepgen.store(sg - 1, std::memory_order_release);
      placeSwept(s, h_->sweep(s, false, -1), -1);
      return;
    }
    s->sweepgen.store(sg, std::memory_order_release);
    if (s->allocCount == s->nelems) fullSwept(sg).push(s);
    else partialSwept(sg).push(s);
    return;
  }
  // Locked design. A stale span is swept now, as above.
  std::unique_lock<Mutex> g(lock);
  s->cachedBy.store(-1, std::memory_order_relaxed);
  if (immediate && s->pendingFrees.exchange(0, std::memory_order_acq_rel) != 0) s->collect(0);
  else if (immediate) s->collect(-1);  // make allocBits exact so frees can clear bits directly
  if (s->sweepgen.load(std::memory_order_relaxed) == sg + 1) {
    s->sweepgen.store(sg - 1, std::memory_order_release);
    SweepResult r = h_->sweep(s, false, -1);  // under the lock: immediate frees may be racing
    g.unlock();
    placeSwept(s, r, -1);
    return;
  }
  s->sweepgen.store(sg, std::memory_order_release);
  if (forRefill && !immediate) return;  // Go 1.13's refill leaves the full span on the empty list
  if (immediate && s->allocCount == 0) {
    empty_.remove(s);
    g.unlock();
    h_->freeSpan(s, -1);
    return;
  }
  if (s->allocCount < s->nelems) moveTo(nonempty_, s);
}

// Go: mcentral.grow @ go1.19
MSpan* MCentral::grow(int p) {
  const SizeClass& k = h_->classes[spc_.sizeclass()];
  MSpan* s = h_->allocSpan(k.npages, spc_, p);
  s->limit = s->base() + uintptr_t(k.size) * s->nelems;
  return s;
}

void MCentral::placeSwept(MSpan* s, SweepResult r, int p) {
  if (h_->cfg.mcentral == McentralDesign::SpanSet) {
    uint32_t sg = h_->sweepgen.load(std::memory_order_acquire);
    switch (r) {
      case SweepResult::Freed: h_->freeSpan(s, p); break;
      case SweepResult::Full: fullSwept(sg).push(s); break;
      case SweepResult::Partial: partialSwept(sg).push(s); break;
      case SweepResult::Kept: break;
    }
    return;
  }
  std::unique_lock<Mutex> g(lock);
  switch (r) {
    case SweepResult::Freed:
      if (s->list) static_cast<MSpanList*>(s->list)->remove(s);
      g.unlock();
      h_->freeSpan(s, p);
      break;
    case SweepResult::Full: moveTo(empty_, s); break;
    case SweepResult::Partial: moveTo(nonempty_, s); break;
    case SweepResult::Kept: break;
  }
}

void MCentral::pushLarge(MSpan* s) {
  if (h_->cfg.mcentral == McentralDesign::SpanSet) {
    if (h_->cfg.freeMode == FreeMode::Deferred) fullSwept(h_->sweepgen.load(std::memory_order_acquire)).push(s);
    return;
  }
  std::lock_guard<Mutex> g(lock);
  empty_.insertBack(s);
}

MSpan* MCentral::popUnswept(uint32_t sg) {
  if (MSpan* s = fullUnswept(sg).pop()) return s;
  return partialUnswept(sg).pop();
}

void MCentral::sweepAllLocked(int p) {
  uint32_t sg = h_->sweepgen.load(std::memory_order_acquire);
  for (MSpanList* l : {&nonempty_, &empty_}) {
    for (MSpan* s = l->first; s;) {
      MSpan* next = s->next;
      if (h_->tryAcquire(s, sg)) placeSwept(s, h_->sweep(s, false, p), p);
      s = next;
    }
  }
}

void MCentral::freeImmediate(MSpan* s, uint32_t i, int p) {
  std::unique_lock<Mutex> g(lock);
  if (s->cachedBy.load(std::memory_order_relaxed) >= 0) {
    // Cached by another P: record it; that P applies it when the span runs out or is uncached.
    s->markDead(0, i);
    s->pendingFrees.fetch_add(1, std::memory_order_release);
    return;
  }
  bool wasFull = s->allocCount == s->nelems;
  s->allocBits[i / 64] &= ~(uint64_t{1} << (i % 64));
  s->allocCount--;
  if (s->large() || s->allocCount == 0) {
    if (s->list) static_cast<MSpanList*>(s->list)->remove(s);
    g.unlock();
    h_->freeSpan(s, p);
    return;
  }
  if (wasFull) moveTo(nonempty_, s);
}

}  // namespace gomalloc::core
