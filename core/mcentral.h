// mcentral: the spans of one span class that are not cached by an mcache. See malloc.h for the overview.
//
// Two designs, chosen by Config::mcentral:
//   SpanSet (Go 1.19): partial[2] and full[2] lock-free span sets. With sg = the heap's sweepgen,
//     partial[sg/2%2] holds swept spans with free slots, partial[1-sg/2%2] unswept ones, likewise full;
//     advancing sweepgen by 2 turns every swept set into an unswept one. No mcentral lock.
//   Locked (Go 1.13): nonempty (spans with free slots) and empty (full, or cached by an mcache) lists under
//     one lock per mcentral.
// A span cached by an mcache is in no span set; in the locked design it stays on the empty list.
#pragma once

#include <cstdint>

#include "core/mspan.h"
#include "core/mstats.h"
#include "core/mutex.h"
#include "core/spanset.h"

namespace gomalloc::core {

class MHeap;

// A doubly-linked list of spans with O(1) removal. Go: mSpanList (mheap.go) @ go1.13
struct MSpanList {
  MSpan* first = nullptr;
  MSpan* last = nullptr;
  size_t n = 0;
  void insertBack(MSpan* s);
  void remove(MSpan* s);
  bool empty() const { return first == nullptr; }
};

// What a sweep did with a span it was allowed to place (preserve = false).
enum class SweepResult : uint8_t { Freed, Full, Partial, Kept };

// Padded to cache lines, as Go pads mheap.central: Ps refilling different classes share nothing.
class alignas(64) MCentral {
 public:
  void init(MHeap* h, SpanClass spc);

  // Go: mcentral.cacheSpan @ go1.19 (span sets) / go1.13 (locked lists). Returns a span with a free slot,
  // swept and ready for an mcache of P p, and says where it came from.
  MSpan* cacheSpan(int p, RefillSource* from);
  // Go: mcentral.uncacheSpan @ go1.19. Takes back a span from an mcache (full at refill, any at releaseAll).
  void uncacheSpan(MSpan* s, bool forRefill);
  // Go: mcentral.grow @ go1.19. A new span from the heap, initialised for this class.
  MSpan* grow(int p);

  // Places a span that a sweep (not preserving it) has processed: back to the heap, full or partial set.
  void placeSwept(MSpan* s, SweepResult r, int p);
  // A large span just allocated: remembered so that sweeping finds it (Go: allocLarge pushes it on fullSwept).
  void pushLarge(MSpan* s);

  // Span-set design: one span that needs sweeping, full before partial, or nullptr (Go: sweepone's pop).
  MSpan* popUnswept(uint32_t sg);
  // Locked design, world stopped: sweeps every unswept span on both lists (finishsweep).
  void sweepAllLocked(int p);
  // Immediate free mode: applies the death of slot i of an uncached span (takes the lock).
  void freeImmediate(MSpan* s, uint32_t i, int p);

  // Span-set design accessors. Go: mcentral.partialSwept etc. @ go1.19
  SpanSet& partialSwept(uint32_t sg) { return partial_[sg / 2 % 2]; }
  SpanSet& partialUnswept(uint32_t sg) { return partial_[1 - sg / 2 % 2]; }
  SpanSet& fullSwept(uint32_t sg) { return full_[sg / 2 % 2]; }
  SpanSet& fullUnswept(uint32_t sg) { return full_[1 - sg / 2 % 2]; }

  Mutex lock;  // locked design only
  LockStats spineLockStats() const;
  SpanClass spanclass() const { return spc_; }

 private:
  MSpan* cacheSpanSets(int p, RefillSource* from);
  MSpan* cacheSpanLocked(int p, RefillSource* from);
  void moveTo(MSpanList& l, MSpan* s);

  MHeap* h_ = nullptr;
  SpanClass spc_{};
  SpanSet partial_[2];
  SpanSet full_[2];
  MSpanList nonempty_;  // locked design
  MSpanList empty_;     // locked design
};

}  // namespace gomalloc::core
