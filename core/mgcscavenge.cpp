// The scavenger: returns free pages to the OS so that retained memory tracks the heap goal.
// See malloc.h for the overview. Go: mgcscavenge.go @ go1.19.
#include "core/mheap.h"

namespace gomalloc::core {
namespace {
constexpr uint64_t kRetainExtraPercent = 10;  // Go: retainExtraPercent
constexpr uint64_t kPhysPageSize = 4096;
}  // namespace

// Go: gcPaceScavenger @ go1.19 (the GC-percent goal; the memory-limit goal is not modelled).
void MHeap::paceScavenger(uint64_t lastHeapGoal) {
  scavGoal = ~uint64_t{0};
  if (!cfg.scavenger || lastHeapGoal == 0 || heapGoal == ~uint64_t{0}) return;
  double goalRatio = double(heapGoal) / double(lastHeapGoal);
  uint64_t retainedGoal = uint64_t(double(lastHeapInUse) * goalRatio);
  retainedGoal += retainedGoal / (100 / kRetainExtraPercent);
  retainedGoal = (retainedGoal + kPhysPageSize - 1) & ~(kPhysPageSize - 1);
  uint64_t retained = heapRetained();
  if (retained <= retainedGoal || retained - retainedGoal < kPhysPageSize) return;
  scavGoal = retainedGoal;
}

size_t MHeap::scavengeLocked(size_t nbytes) {
  uint64_t retained = heapRetained();
  if (scavGoal == ~uint64_t{0} || retained <= scavGoal) return 0;
  size_t want = std::min<uint64_t>(nbytes, retained - scavGoal);
  size_t released = pages.scavenge(want, [&](uintptr_t addr, size_t n) { mem.sysUnused(addr, n); });
  heapFree.fetch_sub(released, std::memory_order_relaxed);
  heapReleased.fetch_add(released, std::memory_order_relaxed);
  scavengedTotal.fetch_add(released, std::memory_order_relaxed);
  return released;
}

}  // namespace gomalloc::core
