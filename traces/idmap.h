// Internal: an open-addressing hash map from 64-bit object ids to 32-bit slots (linear probing, deletion by
// backward shift), used at load time so that replay never hashes. Memory is about 32 bytes per live object.
// BasicIdMap<uint64_t> maps to 64-bit values (record's addresses to trace ids).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
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

namespace gomalloc::traces::detail {

// The loader's id -> slot map. Trace ids are usually dense (a generator or a recorder numbers objects 1, 2, 3,
// ...), so ids below kDenseLimit go to a table indexed directly, in pages of kPage ids allocated when one of
// their ids is first live and released when none is (memory follows the live ids' span, not the trace's
// length); other ids go to the hash map. Should the pages hold far more room than live ids (ids spread thinly
// below the limit), every entry moves to the hash map for good. Which structure holds an id changes no result.
class SlotMap {
 public:
  static constexpr uint32_t kNone = IdMap::kNone;
  SlotMap() = default;
  SlotMap(const SlotMap&) = delete;
  SlotMap& operator=(const SlotMap&) = delete;
  ~SlotMap() {
    for (uint32_t* p : dir_) std::free(p);
    std::free(spare_);
  }
  size_t size() const { return denseSize_ + hash_.size(); }

  uint32_t find(uint64_t id) const {
    if (id < denseLimit_) {
      const uint64_t pg = id >> kPageBits;
      return pg < dir_.size() && dir_[pg] ? dir_[pg][id & kMask] : kNone;
    }
    return hash_.find(id);
  }
  // Inserts id -> val if id is absent and returns kNone; otherwise returns the present value (unchanged).
  uint32_t insert(uint64_t id, uint32_t val) {
    if (id < denseLimit_) {
      const uint64_t pg = id >> kPageBits;
      if (pg >= dir_.size()) [[unlikely]] {
        dir_.resize(size_t(pg) + 1 + dir_.size() / 2, nullptr);
        pageLive_.resize(dir_.size(), 0);
      }
      uint32_t* p = dir_[pg];
      if (!p) [[unlikely]] {
        p = dir_[pg] = newPage();
        if (++pages_ * kPage > 32 * (denseSize_ + 1) + (uint64_t{1} << 22)) [[unlikely]] {
          toHash();
          return hash_.insert(id, val);
        }
      }
      uint32_t& v = p[id & kMask];
      if (v != kNone) return v;
      v = val;
      ++pageLive_[pg], ++denseSize_;
      return kNone;
    }
    return hash_.insert(id, val);
  }
  // Removes id; returns its value, or kNone if it was absent.
  uint32_t erase(uint64_t id) {
    if (id < denseLimit_) {
      const uint64_t pg = id >> kPageBits;
      if (pg >= dir_.size() || !dir_[pg]) return kNone;
      uint32_t& v = dir_[pg][id & kMask];
      const uint32_t old = v;
      if (old == kNone) return kNone;
      v = kNone;
      --denseSize_;
      if (--pageLive_[pg] == 0) releasePage(pg);
      return old;
    }
    return hash_.erase(id);
  }
  // The value of id if its dense page is there, else kNone (a hint: no hash probe).
  uint32_t peek(uint64_t id) const {
    if (id >= denseLimit_) return kNone;
    const uint64_t pg = id >> kPageBits;
    return pg < dir_.size() && dir_[pg] ? dir_[pg][id & kMask] : kNone;
  }
  void prefetch(uint64_t id) const {
    if (id < denseLimit_) {
      const uint64_t pg = id >> kPageBits;
      if (pg < dir_.size() && dir_[pg]) asm volatile("prefetcht0 %0" : : "m"(dir_[pg][id & kMask]));
    } else {
      hash_.prefetch(id);
    }
  }

 private:
  static constexpr unsigned kPageBits = 10;
  static constexpr uint64_t kPage = uint64_t{1} << kPageBits, kMask = kPage - 1;
  static constexpr uint64_t kDenseLimit = uint64_t{1} << 30;  // the directory: at most 8 MiB
  uint32_t* newPage() {
    uint32_t* p = spare_;
    spare_ = nullptr;
    if (!p) {
      p = static_cast<uint32_t*>(std::malloc(kPage * sizeof(uint32_t)));
      if (!p) throw std::bad_alloc();
    }
    std::memset(p, 0xff, kPage * sizeof(uint32_t));
    return p;
  }
  void releasePage(uint64_t pg) {
    if (spare_) std::free(dir_[pg]);
    else spare_ = dir_[pg];
    dir_[pg] = nullptr;
    --pages_;
  }
  // Moves every dense entry to the hash map, which takes every id from then on.
  void toHash() {
    for (size_t pg = 0; pg < dir_.size(); pg++) {
      if (!dir_[pg]) continue;
      for (uint64_t i = 0; i < kPage; i++)
        if (dir_[pg][i] != kNone) hash_.insert((uint64_t(pg) << kPageBits) | i, dir_[pg][i]);
      std::free(dir_[pg]);
    }
    dir_.clear(), dir_.shrink_to_fit();
    pageLive_.clear(), pageLive_.shrink_to_fit();
    denseSize_ = 0, pages_ = 0, denseLimit_ = 0;
  }
  uint64_t denseLimit_ = kDenseLimit;
  std::vector<uint32_t*> dir_;
  std::vector<uint32_t> pageLive_;
  uint32_t* spare_ = nullptr;
  uint64_t denseSize_ = 0, pages_ = 0;
  IdMap hash_;
};

}  // namespace gomalloc::traces::detail
