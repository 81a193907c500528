#include "core/spanset.h"

#include <mutex>
#include <thread>

namespace gomalloc::core {

SpanSet::~SpanSet() {
  Spine* sp = spine_.load();
  if (sp) {
    for (size_t i = 0; i < spineLen_.load(); i++) delete sp->blocks[i].load();
    delete[] sp->blocks;
    delete sp;
  }
  for (Spine* r : retired_) {
    delete[] r->blocks;
    delete r;
  }
  for (Block* b : spare_) delete b;
}

SpanSet::Block* SpanSet::newBlock() {
  if (spare_.empty()) return new Block();
  Block* b = spare_.back();  // every entry is nullptr (popped), popped was reset by retire
  spare_.pop_back();
  return b;
}

void SpanSet::retire(Block* b) {
  b->popped.store(0, std::memory_order_relaxed);
  std::lock_guard<Mutex> g(spineLock);
  spare_.push_back(b);
}

void SpanSet::push(MSpan* s) {
  uint64_t cursor = uint32_t(index_.fetch_add(1, std::memory_order_acq_rel));  // old tail
  size_t top = cursor / kBlockEntries, bottom = cursor % kBlockEntries;
  Block* block = nullptr;
  if (top < spineLen_.load(std::memory_order_acquire)) block = spine_.load(std::memory_order_acquire)->blocks[top].load(std::memory_order_acquire);
  if (!block) {
    std::lock_guard<Mutex> g(spineLock);
    Spine* sp = spine_.load(std::memory_order_relaxed);
    size_t len = spineLen_.load(std::memory_order_relaxed);
    if (top < len) block = sp->blocks[top].load(std::memory_order_acquire);
    if (!block) {
      if (!sp || top >= sp->cap) {
        // Grow the spine: copy into a twice larger array; the old one stays valid for readers.
        size_t cap = sp ? sp->cap * 2 : 256;
        while (cap <= top) cap *= 2;
        Spine* nsp = new Spine{cap, new std::atomic<Block*>[cap]};
        for (size_t i = 0; i < cap; i++) nsp->blocks[i].store(i < len ? sp->blocks[i].load() : nullptr);
        if (sp) retired_.push_back(sp);
        spine_.store(nsp, std::memory_order_release);
        sp = nsp;
      }
      block = newBlock();
      sp->blocks[top].store(block, std::memory_order_release);
      if (top >= len) spineLen_.store(top + 1, std::memory_order_release);
    }
  }
  block->spans[bottom].store(s, std::memory_order_release);
}

MSpan* SpanSet::pop() {
  uint64_t idx = index_.load(std::memory_order_acquire);
  uint32_t head, tail;
  for (;;) {
    head = uint32_t(idx >> 32);
    tail = uint32_t(idx);
    if (head >= tail) return nullptr;
    uint64_t want = (uint64_t(head + 1) << 32) | tail;
    if (index_.compare_exchange_weak(idx, want, std::memory_order_acq_rel)) break;
  }
  size_t top = head / kBlockEntries, bottom = head % kBlockEntries;
  // The pusher may not have published its block or entry yet: wait for it (it is between two stores).
  Block* block = nullptr;
  for (int spins = 0;; spins++) {
    if (top < spineLen_.load(std::memory_order_acquire))
      block = spine_.load(std::memory_order_acquire)->blocks[top].load(std::memory_order_acquire);
    if (block) break;
    if (spins > 64) std::this_thread::yield();
  }
  MSpan* s = nullptr;
  for (int spins = 0; (s = block->spans[bottom].exchange(nullptr, std::memory_order_acq_rel)) == nullptr; spins++)
    if (spins > 64) std::this_thread::yield();
  if (block->popped.fetch_add(1, std::memory_order_acq_rel) + 1 == kBlockEntries) {
    spine_.load(std::memory_order_acquire)->blocks[top].store(nullptr, std::memory_order_release);
    retire(block);
  }
  return s;
}

void SpanSet::reset() {
  uint64_t idx = index_.load();
  if (uint32_t(idx >> 32) < uint32_t(idx)) return;  // not drained: keep counting
  Spine* sp = spine_.load();
  if (sp)
    for (size_t i = 0; i < spineLen_.load(); i++) {
      if (Block* b = sp->blocks[i].load()) retire(b);  // drained: its pushed entries were all popped
      sp->blocks[i].store(nullptr);
    }
  spineLen_.store(0);
  index_.store(0);
}

bool SpanSet::empty() const {
  uint64_t idx = index_.load(std::memory_order_acquire);
  return uint32_t(idx >> 32) >= uint32_t(idx);
}

size_t SpanSet::size() const {
  uint64_t idx = index_.load(std::memory_order_acquire);
  uint32_t h = uint32_t(idx >> 32), t = uint32_t(idx);
  return h >= t ? 0 : t - h;
}

}  // namespace gomalloc::core
