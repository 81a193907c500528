// Internal: an open-addressing hash map from 64-bit object ids to 32-bit slots (linear probing, deletion by
// backward shift), used at load time so that replay never hashes. Memory is about 32 bytes per live object.
// BasicIdMap<uint64_t> maps to 64-bit values (record's addresses to trace ids).
#pragma once

#include <cstdint>
#include <vector>

namespace gomalloc::traces::detail {

template <class V>
class BasicIdMap {
 public:
  static constexpr V kNone = ~V{0};

  BasicIdMap() { rehash(1024); }
  size_t size() const { return size_; }

  V find(uint64_t id) const {
    for (size_t i = home(id);; i = (i + 1) & mask_) {
      const Entry& e = table_[i];
      if (e.val == kNone) return kNone;
      if (e.key == id) return e.val;
    }
  }
  // Inserts id -> val if id is absent and returns kNone; otherwise returns the present value (unchanged).
  V insert(uint64_t id, V val) {
    if ((size_ + 1) * 2 > table_.size()) rehash(table_.size() * 2);
    for (size_t i = home(id);; i = (i + 1) & mask_) {
      Entry& e = table_[i];
      if (e.val == kNone) {
        e.key = id, e.val = val;
        ++size_;
        return kNone;
      }
      if (e.key == id) return e.val;
    }
  }
  // Removes id; returns its value, or kNone if it was absent.
  V erase(uint64_t id) {
    size_t i = home(id);
    for (;; i = (i + 1) & mask_) {
      if (table_[i].val == kNone) return kNone;
      if (table_[i].key == id) break;
    }
    V val = table_[i].val;
    // Backward shift: move later entries of the probe run into the hole when their home allows it.
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      Entry& e = table_[j];
      if (e.val == kNone) break;
      size_t h = home(e.key);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        table_[i] = e;
        i = j;
      }
    }
    table_[i].val = kNone;
    --size_;
    return val;
  }
  // Starts loading the entry where a probe for id begins. (asm: GCC finds a function whose only effect is
  // __builtin_prefetch free of side effects, and drops calls to it.)
  void prefetch(uint64_t id) const { asm volatile("prefetcht0 %0" : : "m"(table_[home(id)])); }
  template <class F>
  void forEach(F&& f) const {
    for (const Entry& e : table_)
      if (e.val != kNone) f(e.key, e.val);
  }

 private:
  struct Entry {
    uint64_t key = 0;
    V val = kNone;
  };
  size_t home(uint64_t id) const { return size_t((id * 0x9E3779B97F4A7C15ull) >> shift_); }
  void rehash(size_t n) {
    std::vector<Entry> old;
    old.swap(table_);
    table_.assign(n, Entry{});
    mask_ = n - 1;
    shift_ = 64 - unsigned(__builtin_ctzll(n));
    size_ = 0;
    for (const Entry& e : old)
      if (e.val != kNone) insert(e.key, e.val);
  }
  std::vector<Entry> table_;
  size_t mask_ = 0;
  unsigned shift_ = 0;
  size_t size_ = 0;
};
using IdMap = BasicIdMap<uint32_t>;

}  // namespace gomalloc::traces::detail
