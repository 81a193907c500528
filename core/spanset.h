// spanSet: a lock-free FIFO of spans, the building block of Go 1.19's mcentral. See malloc.h.
//
// push appends at the tail, pop takes from the head; head and tail are 32-bit counters packed in one
// atomic word. Entries live in 512-entry blocks reached through a spine (an array of block pointers);
// only growing the spine takes a lock (spineLock, instrumented). A block whose entries have all been popped
// (or that a reset drops) is kept for reuse, as Go's spanSetBlockPool keeps them (one pool per set here):
// with every GC cycle resetting the sets, allocating a fresh 4 KiB block each time was a third of a cycle's
// cost. Go: spanSet (mspanset.go) @ go1.19.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/mutex.h"

namespace gomalloc::core {

struct MSpan;

class SpanSet {
 public:
  static constexpr uint32_t kBlockEntries = 512;  // Go: spanSetBlockEntries

  SpanSet() = default;
  ~SpanSet();
  SpanSet(const SpanSet&) = delete;
  SpanSet& operator=(const SpanSet&) = delete;

  // Go: spanSet.push @ go1.19
  void push(MSpan* s);
  // Returns nullptr when empty. Go: spanSet.pop @ go1.19
  MSpan* pop();
  // Empties the bookkeeping of a drained set; the world must be stopped. Go: spanSet.reset @ go1.19
  void reset();
  bool empty() const;
  size_t size() const;

  Mutex spineLock;

 private:
  struct Block {
    std::atomic<MSpan*> spans[kBlockEntries] = {};
    std::atomic<uint32_t> popped{0};
  };
  struct Spine {
    size_t cap;
    std::atomic<Block*>* blocks;
  };
  alignas(64) std::atomic<uint64_t> index_{0};  // head << 32 | tail (a cache line of its own)
  std::atomic<Spine*> spine_{nullptr};
  std::atomic<size_t> spineLen_{0};
  std::vector<Spine*> retired_;  // old spines, freed with the set (readers may still hold them)
  std::vector<Block*> spare_;    // emptied blocks for reuse (guarded by spineLock). Go: spanSetBlockPool
  Block* newBlock();             // spineLock held
  void retire(Block* b);         // b's entries are all popped
};

}  // namespace gomalloc::core
