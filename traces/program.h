// The in-memory form that replay consumes: one event stream per recorded thread, object ids already
// remapped to dense slots, cross-thread dependencies made explicit. See docs/trace-format.md.
//
// Slots: every object gets a slot (an index into replay's object table) when the trace is loaded; a slot
// is reused only after the object that held it was freed. Each slot carries a sequence number that counts
// the operations done on it so far (alloc and free each add one). An op records the value the slot's
// sequence must have before the op may run (seq): replay runs an op at once when it is ordered after its
// predecessor on the same thread anyway (flag kCross clear), and otherwise waits until the slot's sequence
// reaches seq (an acquire load), so a free never runs before its alloc, and a slot is never reused before
// the previous object in it was freed. No hashing and no global lock on the hot path.
//
// gc events: each is a barrier every thread reaches; every thread's stream holds a kGc op with the
// barrier's ordinal in seq, in the same relative position as in the trace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gomalloc::traces {

struct ReplayOp {
  static constexpr uint64_t kSizeMask = (uint64_t{1} << 41) - 1;  // sizes are at most 2^40
  static constexpr uint64_t kScan = uint64_t{1} << 60;             // alloc: the object holds pointers
  static constexpr uint64_t kCross = uint64_t{1} << 61;            // must wait for the slot's sequence
  static constexpr uint64_t kOpShift = 62;                          // bits 62-63: 0 alloc, 1 free, 2 gc

  enum Kind : uint8_t { Alloc = 0, Free = 1, Gc = 2 };

  uint32_t slot = 0;  // object slot (alloc, free); unused for gc
  uint32_t seq = 0;   // slot sequence number expected before this op (alloc, free); barrier ordinal (gc)
  uint64_t bits = 0;  // kind << kOpShift | flags | size (alloc: the new object's; free: the freed object's)

  Kind kind() const { return Kind(bits >> kOpShift); }
  uint64_t size() const { return bits & kSizeMask; }
  bool scan() const { return bits & kScan; }
  bool cross() const { return bits & kCross; }

  static ReplayOp alloc(uint32_t slot, uint32_t seq, uint64_t size, bool scan, bool cross) {
    return {slot, seq, (uint64_t(Alloc) << kOpShift) | (scan ? kScan : 0) | (cross ? kCross : 0) | size};
  }
  // The loader knows every live object's size, so a free carries it: replay then needs nothing but the
  // pointer from the slot.
  static ReplayOp free(uint32_t slot, uint32_t seq, uint64_t size, bool cross) {
    return {slot, seq, (uint64_t(Free) << kOpShift) | (cross ? kCross : 0) | size};
  }
  static ReplayOp gc(uint32_t ordinal) { return {0, ordinal, uint64_t(Gc) << kOpShift}; }
};
static_assert(sizeof(ReplayOp) == 16);

// What a window's ops add up to, counted by the loader as it makes them (so that replay needs no pass over the
// ops to count them). Threads are the window's dense thread numbers.
struct WindowCounts {
  static constexpr uint64_t kBySizeMax = 32768;  // sizes 1..kBySizeMax are counted one by one (Go's small sizes)
  struct BySize {
    uint64_t size, allocs, frees;
  };
  bool valid = false;                   // false: not counted (the ops must be counted from the window itself)
  std::vector<uint64_t> allocs, frees;  // per thread
  uint64_t bytesRequested = 0, bytesFreed = 0, zeroSizeAllocs = 0;
  std::vector<BySize> bySize;           // each size 1..kBySizeMax with an alloc or a free in the window, once
  uint64_t largeAllocs = 0, largeBytes = 0, largeFrees = 0;  // sizes above kBySizeMax
};

struct ReplayProgram {
  std::string path;                            // where the trace came from
  std::string digest;                          // hex digest of the trace's events (same events -> same digest)
  uint64_t events = 0;                         // events in the trace (alloc + free + gc), after lenient skips
  uint32_t slots = 0;                          // size of replay's object table
  uint32_t gcBarriers = 0;                     // number of gc events
  std::vector<std::vector<ReplayOp>> threads;  // index = trace thread id (dense 0..threads-1)
  // Global trace order for deterministic replay: order[i] is the thread of the i-th op overall
  // (a gc event appears once per thread, consecutively, in thread order).
  std::vector<uint16_t> order;
  uint64_t liveAtEnd = 0;                      // objects still live at the end of the trace
  uint64_t skippedFrees = 0;                   // lenient: frees of ids that were not live
  uint64_t implicitFrees = 0;                  // lenient: allocs of a live id (old object freed first)
  uint64_t tsBackwards = 0;                    // lenient: events whose ts went backwards on their thread
  std::vector<uint32_t> threadIds;             // threads[i] holds the trace's thread threadIds[i] (loader.h)
  std::vector<std::string> warnings;           // lenient loading: what was skipped or repaired, one line each
  // A window of a streamed program (traces/loader.h ProgramStream): the most bytes live at once in trace order
  // from the first event to the window's last (0 when not computed).
  uint64_t peakLiveBytes = 0;
  WindowCounts counts;                         // a streamed window (ProgramStream): its ops' counts
};

}  // namespace gomalloc::traces
