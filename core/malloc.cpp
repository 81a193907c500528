// Heap: the public face of one Go-model heap; mallocgc and the free path. See malloc.h.
#include "core/malloc.h"

#include <cstring>
#include <stdexcept>

#include "core/mheap.h"

namespace gomalloc::core {

Heap::Heap(const Config& cfg) : h_(std::make_unique<MHeap>(cfg)) {}
Heap::~Heap() = default;

const Config& Heap::config() const { return h_->cfg; }
const SizeClassTable& Heap::classes() const { return h_->classes; }
int Heap::nprocs() const { return h_->cfg.procs; }
bool Heap::gcRequested() const { return h_->gcRequested.load(std::memory_order_relaxed); }
bool Heap::attention() const {
  return h_->gcRequested.load(std::memory_order_relaxed) || h_->markBegan.load(std::memory_order_relaxed);
}
bool Heap::takeMarkStart() {
  return h_->markBegan.load(std::memory_order_relaxed) && h_->markBegan.exchange(false, std::memory_order_relaxed);
}
void Heap::markDone() {
  h_->markDone();
}
uint64_t Heap::markBegan(uint64_t at) {
  return h_->followGivenMark(at);
}
void Heap::gc(bool forced) {
  // runtime.GC() finishes a mark in progress (an unforced cycle), then runs a full cycle of its own.
  if (forced && h_->marking.load()) h_->gcCycle(false);
  h_->gcCycle(forced);
}

namespace {

// Go: memclrNoHeapPointers @ go1.19, for a small object: most are 8 to 64 bytes, cheaper with inline stores
// than with a call to memset.
inline void zeroSmall(uintptr_t p, size_t n) {
  auto* c = reinterpret_cast<char*>(p);
  if (n <= 64 && n % 8 == 0) {
    const uint64_t z = 0;
    for (size_t i = 0; i < n; i += 8) std::memcpy(c + i, &z, 8);
  } else {
    std::memset(c, 0, n);
  }
}

}  // namespace

// Go: mallocgc (malloc.go) @ go1.19, without assists, profiling, tracing and the pointer bitmap.
void* Heap::malloc(int p, size_t size, bool scan) {
  MHeap& h = *h_;
  if (size == 0) return h.zerobase;
  MCache& c = h.allp[size_t(p)].mcache;
  bool shouldhelpgc = false;
  uintptr_t x;
  if (size <= kMaxSmallSize) {
    const bool noscan = !scan;
    if (noscan && size < kTinySize && h.cfg.tinyAlloc) {
      // The tiny allocator: pack pointer-free requests into the current 16-byte block.
      uintptr_t off = c.tinyoffset;
      if ((size & 7) == 0) off = (off + 7) & ~uintptr_t{7};
      else if ((size & 3) == 0) off = (off + 3) & ~uintptr_t{3};
      else if ((size & 1) == 0) off = (off + 1) & ~uintptr_t{1};
      ClassStats& st = c.stats[h.tinySpanClass.v];
      st.bytesRequested += size;
      if (off + size <= kTinySize && c.tiny != 0) {
        c.tinyoffset = off + size;
        c.tinyCount++;
        st.tinyHits++;
        return reinterpret_cast<void*>(c.tiny + off);
      }
      // A new block from the tiny span class.
      MSpan* span = c.alloc[h.tinySpanClass.v];
      uintptr_t v = span->nextFreeFast();
      if (v) {
        st.fastHits++;
      } else {
        v = c.nextFree(h, p, h.tinySpanClass, &shouldhelpgc);
        if (!shouldhelpgc) st.slowHits++;
        span = c.alloc[h.tinySpanClass.v];
      }
      if (span->needzero && h.cfg.zeroing) zeroSmall(v, kTinySize);
      uint32_t idx = span->objIndex(v);
      if (size < c.tinyoffset || c.tiny == 0) {
        // The new block has more room left than the old one: it becomes the current block.
        c.dropTiny(h, p);
        c.tiny = v;
        c.tinyoffset = size;
        c.tinySpan = span;
        c.tinyIdx = idx;
        c.tinyCount = 1;
        span->tinyRefs[idx] = 0;  // counts are published when the block stops being current
      }  // else the block holds just this object: its count is already 1 (a free slot's count is 1)
      x = v;
    } else {
      const uint8_t sizeclass = h.classes.sizeToClass(size);
      const SpanClass spc = SpanClass::make(sizeclass, noscan);
      MSpan* span = c.alloc[spc.v];
      ClassStats& st = c.stats[spc.v];
      uintptr_t v = span->nextFreeFast();
      if (v) {
        st.fastHits++;
      } else {
        v = c.nextFree(h, p, spc, &shouldhelpgc);
        if (!shouldhelpgc) st.slowHits++;
        span = c.alloc[spc.v];
      }
      st.bytesRequested += size;
      if (scan) st.ptrBytes += ptrExtent(size);
      if (span->needzero && h.cfg.zeroing) zeroSmall(v, span->elemsize);
      x = v;
    }
  } else {
    if (size > (size_t{1} << 40)) throw std::invalid_argument("allocation larger than 2^40 bytes");
    shouldhelpgc = true;
    MSpan* s = c.allocLarge(h, p, size, !scan);
    ClassStats& st = c.stats[s->spanclass.v];
    st.largeSpansAllocated++;
    st.bytesRequested += size;
    if (scan) st.ptrBytes += ptrExtent(size);
    st.bytesAllocated += s->spanBytes();
    x = s->base();
    if (s->needzero && h.cfg.zeroing) std::memset(reinterpret_cast<void*>(x), 0, s->spanBytes());
  }
  if (shouldhelpgc) h.checkTrigger();
  return reinterpret_cast<void*>(x);
}

void Heap::free(int p, void* ptr, size_t size) {
  MHeap& h = *h_;
  if (ptr == h.zerobase) return;
  MSpan* s = h.spanOf(reinterpret_cast<uintptr_t>(ptr));
  if (!s) throw std::invalid_argument("free of a pointer that is not in the heap");
  uint32_t idx = s->objIndex(reinterpret_cast<uintptr_t>(ptr));
  MCache& c = h.allp[size_t(p)].mcache;
  c.stats[s->spanclass.v].frees++;
  if (s->spanclass == h.tinySpanClass) {
    // A tiny block dies with its last sub-object (see MCache::dropTiny).
    if (h.logsDeaths()) {
      // Several Ps: the count needs an atomic update, a locked instruction that would wait for this P's
      // pending stores; logged and counted down in bulk instead (the counts are a sum: order does not matter,
      // and nothing reads them before the next cycle starts, when every log has been applied).
      h.logDeath(p, PState::Death{s, idx, h.deadParity(), 1});
      return;
    }
    if (s->tinyRefAdd(idx, -1, h.cfg.procs > 1) != 0) return;
    s->tinyRefs[idx] = 1;  // dead: back to a free slot's count (nothing touches it until the slot is reused)
  }
  // Its scan extent: as allocated, or the whole slot when the caller does not know its size.
  const uint64_t extent = s->spanclass.noscan() ? 0 : size ? ptrExtent(size) : s->large() ? s->spanBytes() : s->elemsize;
  h.objectDied(s, idx, p, extent);
}

void MHeap::countDeath(const MSpan* s, int p, uint64_t ptrBytes) {
  ClassStats& st = (p >= 0 ? allp[size_t(p)].mcache : stwStats).stats[s->spanclass.v];
  st.deaths++;
  st.deadPtrBytes += ptrBytes;
  if (s->large()) st.deadBytes += s->spanBytes();
}

void MHeap::objectDied(MSpan* s, uint32_t idx, int p, uint64_t ptrBytes) {
  countDeath(s, p, ptrBytes);
  // Died during a mark: still marked, and scanned (floating garbage).
  if (ptrBytes && cfg.freeMode == FreeMode::Deferred && deadParity() == kFloating)
    (p >= 0 ? allp[size_t(p)].floatingPtrBytes : stwFloatingPtrBytes) += ptrBytes;
  if (cfg.freeMode == FreeMode::Deferred) {
    // Dead as of this cycle: the sweep after the next GC reclaims it. Nothing reads this cycle's dead bits
    // before the next cycle starts (sweeps read the previous cycle's), so with several Ps a death is logged
    // per P and the log moved into the bitmaps in bulk (flushDeaths), at the latest when the next cycle starts:
    // the bits need atomic updates then, and one per free would cost a locked instruction while the P's
    // stores (zeroing, touching) are still draining.
    const uint32_t parity = deadParity();
    if (p < 0 || !logsDeaths()) {
      if (parity == kFloating) floatingDeath(s, idx, p);
      else s->markDead(int(parity), idx);
      return;
    }
    logDeath(p, PState::Death{s, idx, parity, 0});
    return;
  }
  if (p >= 0 && s->cachedBy.load(std::memory_order_acquire) == p) {
    // Our own cached span: record it; nextFree applies it when the span runs out.
    s->markDead(0, idx);
    s->pendingFrees.fetch_add(1, std::memory_order_release);
    return;
  }
  central[s->spanclass.v].freeImmediate(s, idx, p);
}

void MHeap::flushDeaths(int p) {
  PState& pp = allp[size_t(p)];
  const uint32_t n = pp.deaths;
  pp.deaths = 0;
  for (uint32_t i = 0; i < n; i++) {
    const PState::Death d = pp.deathLog[i];
    if (d.tiny) {
      if (d.span->tinyRefAdd(d.idx, -1, true) != 0) continue;
      d.span->tinyRefs[d.idx] = 1;  // the block died: back to a free slot's count
      countDeath(d.span, p, 0);  // (tiny blocks have no pointers)
    }
    if (d.parity == kFloating) pp.floating.emplace_back(d.span, d.idx);
    else d.span->markDead(int(d.parity), d.idx);
  }
}

void MHeap::flushAllDeaths() {
  for (size_t p = 0; p < allp.size(); p++) flushDeaths(int(p));
}

MemStats Heap::memStats() const {
  const MHeap& h = *h_;
  MemStats m;
  const bool immediate = h.cfg.freeMode == FreeMode::Immediate;
  uint64_t swept = 0;
  auto all = classStats();
  for (size_t i = 0; i < all.size(); i++) {
    const ClassStats& st = all[i];
    m.Mallocs += st.mallocs;
    m.TotalAlloc += st.bytesAllocated;
    // Deferred: an object is freed when a sweep reclaims its slot. Immediate: when it dies.
    m.Frees += (immediate ? st.deaths : st.sweptFrees) + st.tinyHits;
    if (immediate) swept += (i >> 1) == 0 ? st.deadBytes : st.deaths * h.classes[i >> 1].size;
  }
  if (!immediate) {
    swept = h.stwStats.sweptBytes;
    for (auto& pp : h.allp) swept += pp.mcache.sweptBytes;
  }
  m.HeapAlloc = m.TotalAlloc - swept;
  m.HeapObjects = m.Mallocs - m.Frees;
  m.HeapInuse = h.heapInUse.load();
  m.HeapReleased = h.heapReleased.load();
  m.HeapIdle = h.heapFree.load() + m.HeapReleased;
  m.HeapSys = m.HeapInuse + m.HeapIdle;
  m.NextGC = h.heapGoal;
  m.NumGC = h.numGC;
  m.NumForcedGC = h.numForcedGC;
  m.HeapLive = uint64_t(std::max<int64_t>(0, h.heapLive.load()));
  m.HeapMarked = h.heapMarked;
  m.Trigger = h.paceTrigger;
  m.MarkInProgress = h.marking.load();
  m.ArenaReserved = h.arenaReserved.load();
  m.ScavengedBytes = h.scavengedTotal.load();
  return m;
}

std::vector<ClassStats> Heap::classStats() const { return h_->classStats(); }
const std::vector<GcCycle>& Heap::gcCycles() const { return h_->cycles; }

std::vector<ClassStats> MHeap::classStats() const {
  std::vector<ClassStats> out(classes.numSpanClasses());
  for (auto& pp : allp)
    for (size_t i = 0; i < out.size(); i++) out[i] += pp.mcache.stats[i];
  for (size_t i = 0; i < out.size(); i++) {
    ClassStats& st = out[i];
    st += stwStats.stats[i];
    uint8_t sizeclass = uint8_t(i >> 1);
    if (sizeclass == 0) {
      st.mallocs = st.largeSpansAllocated;
    } else {
      st.mallocs = st.tinyHits + st.fastHits + st.slowHits + st.refills;
      st.bytesAllocated = (st.mallocs - st.tinyHits) * classes[sizeclass].size;
    }
  }
  return out;
}

uint64_t MHeap::totalAlloc(const std::vector<ClassStats>& all) {
  uint64_t total = 0;
  for (auto& st : all) total += st.bytesAllocated;
  return total;
}

uint64_t MHeap::scanPtrBytes(const std::vector<ClassStats>& all) {
  uint64_t total = 0;
  for (size_t i = 0; i < all.size(); i += 2) total += all[i].ptrBytes;  // even span classes: scan
  return total;
}

uint64_t MHeap::liveSlotBytes(const std::vector<ClassStats>& all) const {
  uint64_t live = 0;
  for (size_t i = 0; i < all.size(); i++) {
    const ClassStats& st = all[i];
    if ((i >> 1) == 0) live += st.bytesAllocated - st.deadBytes;
    else live += (st.mallocs - st.tinyHits - st.deaths) * classes[i >> 1].size;
  }
  return live;
}

SpanCounts Heap::spanCounts() const {
  SpanCounts sc;
  for (size_t i = 0; i < h_->spansInUse.size(); i++) {
    sc.inUse.push_back(uint64_t(h_->spansInUse[i].load()));
    sc.peak.push_back(uint64_t(h_->spansPeak[i].load()));
  }
  return sc;
}

std::vector<LockStats> Heap::lockStats() const {
  std::vector<LockStats> out;
  out.push_back(h_->lock.stats("mheap"));
  LockStats spine;
  spine.name = "spanSet.spine";
  for (size_t i = 0; i < h_->central.size(); i++) {
    auto& mc = h_->central[i];
    if (h_->cfg.mcentral == McentralDesign::Locked) out.push_back(mc.lock.stats("mcentral[" + std::to_string(i) + "]"));
    else spine += mc.spineLockStats();
  }
  if (h_->cfg.mcentral == McentralDesign::SpanSet) out.push_back(spine);
  return out;
}

size_t Heap::usableSize(const void* ptr) const {
  MSpan* s = h_->spanOf(reinterpret_cast<uintptr_t>(ptr));
  return s ? s->slotBytes() : 0;
}

ClassStats& ClassStats::operator+=(const ClassStats& o) {
  mallocs += o.mallocs;
  tinyHits += o.tinyHits;
  fastHits += o.fastHits;
  slowHits += o.slowHits;
  refills += o.refills;
  for (int i = 0; i < kRefillSources; i++) refillFrom[size_t(i)] += o.refillFrom[size_t(i)];
  frees += o.frees;
  deaths += o.deaths;
  deadBytes += o.deadBytes;
  sweptFrees += o.sweptFrees;
  bytesRequested += o.bytesRequested;
  ptrBytes += o.ptrBytes;
  deadPtrBytes += o.deadPtrBytes;
  bytesAllocated += o.bytesAllocated;
  largeSpansAllocated += o.largeSpansAllocated;
  return *this;
}

const char* refillSourceName(RefillSource s) {
  switch (s) {
    case RefillSource::PartialSwept: return "partial_swept";
    case RefillSource::PartialUnswept: return "partial_unswept";
    case RefillSource::FullUnswept: return "full_unswept";
    case RefillSource::Grown: return "grown";
  }
  return "?";
}

}  // namespace gomalloc::core
