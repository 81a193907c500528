// The heap verifier: checks the allocator's invariants with the world stopped. See malloc.h.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <unordered_set>

#include "core/malloc.h"
#include "core/mheap.h"

namespace gomalloc::core {

std::vector<std::string> Heap::verify(const std::vector<std::pair<const void*, size_t>>* live) const {
  h_->flushAllDeaths();  // (the world is stopped; logged deaths are part of the state checked)
  const MHeap& h = *h_;
  std::vector<std::string> bad;
  auto fail = [&](std::string s) {
    if (bad.size() < 50) bad.push_back(std::move(s));
  };

  // Spans: their own invariants, the page map, the page allocator, and the gauges.
  uint64_t inUseBytes = 0, allocatedSlots = 0, deadSlots = 0;
  std::vector<uint64_t> perClass(h.classes.numSpanClasses());
  for (const MSpan* s : h.allspans) {
    if (s->state != SpanState::InUse) continue;
    inUseBytes += s->spanBytes();
    perClass[s->spanclass.v]++;
    allocatedSlots += s->allocCount;
    if (std::string e = s->checkInvariants(); !e.empty()) fail(e);
    for (size_t w = 0; w < s->words(); w++)
      deadSlots += uint64_t(std::popcount(s->dead[0][w] | s->dead[1][w]));
    for (size_t i = 0; i < s->npages; i++) {
      uintptr_t pg = s->base() + i * kPageSize;
      if (h.spanOf(pg) != s) fail(fmt::format("page {:#x} of span {:#x} does not map to it", pg, s->base()));
      if (!h.pages.allocated(pg)) fail(fmt::format("page {:#x} of span {:#x} is free in the page allocator", pg, s->base()));
    }
  }
  // Deaths during a mark in progress (floating garbage) reach the dead bitmaps at its termination.
  for (auto& pp : h.allp) deadSlots += pp.floating.size();
  deadSlots += h.stwFloating.size();
  if (inUseBytes != h.heapInUse.load())
    fail(fmt::format("in-use spans hold {} bytes but HeapInuse is {}", inUseBytes, h.heapInUse.load()));
  for (size_t i = 0; i < perClass.size(); i++)
    if (perClass[i] != uint64_t(h.spansInUse[i].load()))
      fail(fmt::format("span class {}: {} spans in use but the counter says {}", i, perClass[i], h.spansInUse[i].load()));
  if (std::string e = h.pages.checkInvariants(); !e.empty()) fail("page allocator: " + e);

  // Free pages are accounted: free in the page allocator or in a P's page cache.
  uint64_t freeBytes = h.pages.freePages() * kPageSize, releasedBytes = h.pages.scavengedFreePages() * kPageSize;
  for (auto& pp : h.allp) {
    freeBytes += uint64_t(std::popcount(pp.pcache.cache)) * kPageSize;
    releasedBytes += uint64_t(std::popcount(pp.pcache.scav & pp.pcache.cache)) * kPageSize;
  }
  uint64_t mapped = h.curArenaBase - h.mem.base();
  if (inUseBytes + freeBytes != mapped)
    fail(fmt::format("in-use {} + free {} bytes != mapped {}", inUseBytes, freeBytes, mapped));
  if (freeBytes != h.heapFree.load() + h.heapReleased.load())
    fail(fmt::format("free pages hold {} bytes but HeapIdle is {}", freeBytes, h.heapFree.load() + h.heapReleased.load()));
  if (releasedBytes != h.heapReleased.load())
    fail(fmt::format("scavenged free pages hold {} bytes but HeapReleased is {}", releasedBytes, h.heapReleased.load()));

  if (!live) return bad;
  // Live objects: in an in-use span, in an allocated slot that has not died, not overlapping.
  std::vector<std::pair<uintptr_t, size_t>> objs;
  std::unordered_set<uintptr_t> slots;
  for (auto& [ptr, size] : *live) {
    uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    if (size == 0 || ptr == h.zerobase) continue;
    const MSpan* s = h.spanOf(p);
    if (!s) {
      fail(fmt::format("live object {:#x} ({} bytes) is not in an in-use span", p, size));
      continue;
    }
    uint32_t idx = s->objIndex(p);
    uintptr_t slot = s->base() + uintptr_t(idx) * s->elemsize;
    if (p + size > slot + s->slotBytes())
      fail(fmt::format("live object {:#x} ({} bytes) overruns its {}-byte slot", p, size, s->slotBytes()));
    if (!s->isAllocated(idx)) fail(fmt::format("live object {:#x} is in a free slot", p));
    if (s->isDead(0, idx) || s->isDead(1, idx)) fail(fmt::format("live object {:#x} is marked dead", p));
    objs.emplace_back(p, size);
    slots.insert(slot);
  }
  std::sort(objs.begin(), objs.end());
  for (size_t i = 1; i < objs.size(); i++)
    if (objs[i - 1].first + objs[i - 1].second > objs[i].first)
      fail(fmt::format("live objects {:#x} ({} bytes) and {:#x} overlap", objs[i - 1].first, objs[i - 1].second,
                       objs[i].first));
  // Allocated slots = live slots + dead slots not yet swept + current tiny blocks holding no live object.
  uint64_t idleTiny = 0;
  for (auto& pp : h.allp)
    if (pp.mcache.tiny) {
      const MSpan* s = pp.mcache.tinySpan;
      if (!slots.count(s->base() + uintptr_t(pp.mcache.tinyIdx) * s->elemsize)) idleTiny++;
    }
  if (allocatedSlots != slots.size() + deadSlots + idleTiny)
    fail(fmt::format("{} slots allocated but {} live + {} dead not yet swept + {} idle tiny blocks", allocatedSlots,
                     slots.size(), deadSlots, idleTiny));
  return bad;
}

}  // namespace gomalloc::core
