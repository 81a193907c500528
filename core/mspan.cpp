#include "core/mspan.h"

#include <fmt/format.h>

namespace gomalloc::core {

uint32_t MSpan::nextFreeIndex() {
  uint32_t sfreeindex = freeindex;
  const uint32_t snelems = nelems;
  if (sfreeindex == snelems) return sfreeindex;
  uint64_t aCache = allocCache;
  unsigned bitIndex = unsigned(std::countr_zero(aCache));
  while (bitIndex == 64) {
    // Move to the next 64-slot window and reload the cache from allocBits.
    sfreeindex = (sfreeindex + 64) & ~63u;
    if (sfreeindex >= snelems) {
      freeindex = snelems;
      return snelems;
    }
    refillAllocCache(sfreeindex / 8);
    aCache = allocCache;
    bitIndex = unsigned(std::countr_zero(aCache));
  }
  uint32_t result = sfreeindex + bitIndex;
  if (result >= snelems) {
    freeindex = snelems;
    return snelems;
  }
  allocCache = (aCache >> bitIndex) >> 1;
  sfreeindex = result + 1;
  if (sfreeindex % 64 == 0 && sfreeindex != snelems) refillAllocCache(sfreeindex / 8);
  freeindex = sfreeindex;
  return result;
}

uint32_t MSpan::collect(int deadParity) {
  const size_t nw = words();
  uint32_t before = allocCount;
  uint32_t count = 0;
  for (size_t w = 0; w < nw; w++) {
    uint64_t below = 0;  // slots of this word below freeindex
    size_t lo = w * 64;
    if (freeindex >= lo + 64) below = ~uint64_t{0};
    else if (freeindex > lo) below = (uint64_t{1} << (freeindex - lo)) - 1;
    uint64_t bits = allocBits[w] | below;
    if (deadParity >= 0) bits &= ~takeDead(deadParity, w);
    if (w == nw - 1 && nelems % 64) bits &= (uint64_t{1} << (nelems % 64)) - 1;
    allocBits[w] = bits;
    count += uint32_t(std::popcount(bits));
  }
  allocCount = count;
  freeindex = 0;
  refillAllocCache(0);
  return before - count;
}

void MSpan::init(uintptr_t b, size_t n) {
  next = prev = nullptr;
  list = nullptr;
  startAddr = b;
  npages = n;
  freeindex = 0;
  nelems = 0;
  allocCache = ~uint64_t{0};
  allocCount = 0;
  elemsize = 0;
  divMul = 0;
  spanclass = SpanClass{};
  state = SpanState::Dead;
  needzero = 0;
  cachedBy.store(-1, std::memory_order_relaxed);
  pendingFrees.store(0, std::memory_order_relaxed);
  limit = 0;
  for (size_t w = 0; w < kBitmapWords; w++) {
    allocBits[w] = 0;
    dead[0][w] = 0;
    dead[1][w] = 0;
  }
}

std::string MSpan::checkInvariants() const {
  if (state != SpanState::InUse) return {};
  if (freeindex > nelems) return fmt::format("span {:#x}: freeindex {} > nelems {}", startAddr, freeindex, nelems);
  uint32_t count = 0;
  for (uint32_t i = 0; i < nelems; i++) count += isAllocated(i);
  if (count != allocCount)
    return fmt::format("span {:#x} (spanclass {}): allocCount {} but {} slots allocated", startAddr, spanclass.v,
                       allocCount, count);
  return {};
}

}  // namespace gomalloc::core
