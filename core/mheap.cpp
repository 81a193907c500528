#include "core/mheap.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <stdexcept>

namespace gomalloc::core {
namespace {
constexpr size_t kMSpanCacheCap = 128;  // Go: len(p.mspancache.buf)
constexpr size_t kMSpanCacheRefill = 64;

void bumpPeak(std::atomic<int64_t>& peak, int64_t v) {
  int64_t cur = peak.load(std::memory_order_relaxed);
  while (v > cur && !peak.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}
}  // namespace

MHeap::MHeap(const Config& c)
    : cfg(c),
      classes(c.sizeClassTable()),
      tinySpanClass(SpanClass::make(classes.tinySizeClass(), true)),
      mem(c.heapWindowBytes(), c.arenaBytes, c.maxHeapText()),
      pages(mem.base(), mem.size()),
      spansInUse(classes.numSpanClasses()),
      spansPeak(classes.numSpanClasses()) {
  cfg.validate();
  arenaShift = size_t(std::countr_zero(cfg.arenaBytes));
  arenas.resize(mem.size() >> arenaShift);
  curArenaBase = curArenaEnd = mem.base();
  central = std::vector<MCentral>(classes.numSpanClasses());
  for (size_t i = 0; i < central.size(); i++) central[i].init(this, SpanClass{uint8_t(i)});
  emptymspan.init(0, 0);
  emptymspan.allocCache = 0;
  allp.resize(size_t(cfg.procs));
  auto initCache = [&](MCache& m) {
    for (size_t i = 0; i < classes.numSpanClasses(); i++) m.alloc[i] = &emptymspan;
  };
  for (auto& pp : allp) initCache(pp.mcache);
  initCache(stwStats);
  // Pacer before the first cycle: heapMarked = the baseline (0 by default), goal = the 4 MiB floor (scaled
  // by GOGC) or above it.
  heapMarked = cfg.gcBaselineBytes;
  heapLive.store(int64_t(cfg.gcBaselineBytes));
  commitPacer(true);
}

MHeap::~MHeap() {
  for (MSpan* s : allspans) delete s;
}

MSpan* MHeap::spanOf(uintptr_t p) const {
  if (!mem.contains(p)) return nullptr;
  const HeapArena* a = arenas[(p - mem.base()) >> arenaShift].get();
  if (!a) return nullptr;
  MSpan* s = a->spans[((p - mem.base()) & (cfg.arenaBytes - 1)) >> kPageShift];
  if (!s || s->state != SpanState::InUse || p < s->base() || p >= s->base() + s->spanBytes()) return nullptr;
  return s;
}

void MHeap::setSpans(uintptr_t base, size_t npages, MSpan* s) {
  for (size_t i = 0; i < npages; i++) {
    uintptr_t a = base + i * kPageSize;
    arenas[(a - mem.base()) >> arenaShift]->spans[((a - mem.base()) & (cfg.arenaBytes - 1)) >> kPageShift] = s;
  }
}

bool MHeap::allocNeedsZero(uintptr_t base, size_t npages) {
  bool needZero = false;
  uintptr_t end = base + npages * kPageSize;
  while (base < end) {
    size_t ai = (base - mem.base()) >> arenaShift;
    uintptr_t arenaStart = mem.base() + (ai << arenaShift);
    uintptr_t arenaLimit = std::min<uintptr_t>(end, arenaStart + cfg.arenaBytes);
    uintptr_t off = base - arenaStart, limOff = arenaLimit - arenaStart;
    auto& zb = arenas[ai]->zeroedBase;
    uintptr_t z = zb.load(std::memory_order_relaxed);
    if (off < z) needZero = true;
    while (limOff > z && !zb.compare_exchange_weak(z, limOff, std::memory_order_relaxed)) {
    }
    base = arenaLimit;
  }
  return needZero;
}

MSpan* MHeap::allocMSpanLocked(int p) {
  auto take = [&]() -> MSpan* {
    if (!freeMSpans.empty()) {
      MSpan* s = freeMSpans.back();
      freeMSpans.pop_back();
      return s;
    }
    MSpan* s = new MSpan();
    allspans.push_back(s);
    return s;
  };
  if (p < 0) return take();
  auto& cache = allp[size_t(p)].mspancache;
  if (cache.empty())
    for (size_t i = 0; i < kMSpanCacheRefill; i++) cache.push_back(take());
  MSpan* s = cache.back();
  cache.pop_back();
  return s;
}

size_t MHeap::grow(size_t npage) {
  // Go grows in whole palloc chunks (4 MiB) carved from the current arena reservation.
  size_t ask = ((npage + kPallocChunkPages - 1) / kPallocChunkPages) * kPallocChunkBytes;
  // The limit on mapped arena memory (not Go's: see HeapLimitError), on the growth path only.
  const size_t mapped = curArenaBase - mem.base(), limit = cfg.heapLimitBytes();
  if (ask > limit - mapped)
    throw HeapLimitError("the heap would grow past " + cfg.maxHeapText() + ": it has mapped " +
                         std::to_string(mapped >> 20) + " MiB and needs " + std::to_string(ask >> 20) +
                         " MiB more; raise it with --set max_heap_bytes=SIZE or replay fewer live objects");
  if (curArenaEnd - curArenaBase < ask) {
    // Reserve more arenas (address order, contiguous with the current one: Go's sysAlloc with hints).
    size_t need = ask - (curArenaEnd - curArenaBase);
    size_t n = (need + cfg.arenaBytes - 1) & ~(cfg.arenaBytes - 1);
    if (curArenaEnd + n > mem.base() + mem.size() || curArenaEnd + n < curArenaEnd)
      throw std::logic_error("mheap: the address window is smaller than max_heap_bytes");
    for (uintptr_t a = curArenaEnd; a < curArenaEnd + n; a += cfg.arenaBytes) {
      auto ha = std::make_unique<HeapArena>();
      ha->spans = std::make_unique<MSpan*[]>(cfg.arenaBytes >> kPageShift);
      arenas[(a - mem.base()) >> arenaShift] = std::move(ha);
    }
    arenaReserved += n;
    curArenaEnd += n;
  }
  uintptr_t v = curArenaBase;
  curArenaBase += ask;
  mem.sysMap(v, ask);                    // Reserved -> Prepared
  heapReleased.fetch_add(ask);           // new memory counts as released until first used
  pages.grow(v, ask);
  return ask;
}

MSpan* MHeap::allocSpan(size_t npages, SpanClass spc, int p) {
  uintptr_t base = 0;
  size_t scav = 0;
  MSpan* s = nullptr;
  size_t growth = 0;
  // Fast path: the P's page cache, for spans under 16 pages, without the heap lock when it has pages
  // and a free mspan struct is at hand.
  if (cfg.pageCache && p >= 0 && npages < kPageCachePages / 4) {
    PState& pp = allp[size_t(p)];
    if (pp.pcache.empty()) {
      std::lock_guard<Mutex> g(lock);
      pp.pcache = pages.allocToCache();
    }
    std::tie(base, scav) = pp.pcache.alloc(npages);
    if (base && !pp.mspancache.empty()) {
      s = pp.mspancache.back();
      pp.mspancache.pop_back();
    }
  }
  if (!base || !s) {
    std::lock_guard<Mutex> g(lock);
    if (!base) {
      std::tie(base, scav) = pages.alloc(npages);
      if (!base) {
        growth = grow(npages);
        std::tie(base, scav) = pages.alloc(npages);
        if (!base) throw std::logic_error("mheap: no pages after growing the heap");
      }
    }
    if (!s) s = allocMSpanLocked(p);
    // Allocation-time scavenging after growth: keep heapRetained near the scavenger's goal.
    if (growth && cfg.scavenger && scavGoal != ~uint64_t{0}) {
      uint64_t retained = heapRetained() + growth;
      if (retained > scavGoal) scavengeLocked(std::min<uint64_t>(growth, retained - scavGoal));
    }
  }
  size_t nbytes = npages * kPageSize;
  s->init(base, npages);
  s->needzero = allocNeedsZero(base, npages) ? 1 : 0;
  s->spanclass = spc;
  if (spc.sizeclass() == 0) {
    s->elemsize = 0;
    s->nelems = 1;
    s->divMul = 0;
  } else {
    const SizeClass& k = classes[spc.sizeclass()];
    s->elemsize = k.size;
    s->nelems = uint32_t(nbytes / k.size);
    s->divMul = k.divMul;
    if (spc == tinySpanClass) {
      if (!s->tinyRefs) s->tinyRefs = std::make_unique<uint8_t[]>(kMaxObjsPerSpan);
      std::fill_n(s->tinyRefs.get(), s->nelems, uint8_t{1});  // a free slot's count: a plain object's
    }
  }
  s->freeindex = 0;
  s->allocCache = ~uint64_t{0};
  s->multiP = cfg.procs > 1;
  s->sweepgen.store(sweepgen.load(std::memory_order_relaxed), std::memory_order_relaxed);
  s->state = SpanState::InUse;
  if (scav) {
    mem.sysUsed(base, scav);
    heapReleased.fetch_sub(scav, std::memory_order_relaxed);
  }
  heapFree.fetch_sub(nbytes - scav, std::memory_order_relaxed);
  heapInUse.fetch_add(nbytes, std::memory_order_relaxed);
  pagesInUse.fetch_add(npages, std::memory_order_relaxed);
  setSpans(base, npages, s);
  bumpPeak(spansPeak[spc.v], spansInUse[spc.v].fetch_add(1, std::memory_order_relaxed) + 1);
  return s;
}

void MHeap::freeSpan(MSpan* s, int p) {
  std::lock_guard<Mutex> g(lock);
  size_t nbytes = s->spanBytes();
  pagesInUse.fetch_sub(s->npages, std::memory_order_relaxed);
  heapFree.fetch_add(nbytes, std::memory_order_relaxed);
  heapInUse.fetch_sub(nbytes, std::memory_order_relaxed);
  spansInUse[s->spanclass.v].fetch_sub(1, std::memory_order_relaxed);
  pages.free(s->base(), s->npages);
  s->state = SpanState::Dead;
  if (p >= 0 && allp[size_t(p)].mspancache.size() < kMSpanCacheCap) allp[size_t(p)].mspancache.push_back(s);
  else freeMSpans.push_back(s);
}

}  // namespace gomalloc::core
