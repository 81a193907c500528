// Internal: an append-only sequence stored in chunks that grow to 1 MiB, moved into an exactly sized
// std::vector at the end while each chunk is released as soon as it is copied. Building ReplayProgram's
// streams this way needs their final size plus about one chunk, where std::vector's doubling would need up to
// twice the final size (old and new buffers at once) while growing.
#pragma once

#include <sys/mman.h>

#include <cstdlib>
#include <new>
#include <vector>

namespace gomalloc::traces::detail {

template <class T>
class ChunkList {
 public:
  ChunkList() = default;
  ChunkList(ChunkList&& o) noexcept { swap(o); }
  ChunkList& operator=(ChunkList&& o) noexcept {
    swap(o);
    return *this;
  }
  ChunkList(const ChunkList&) = delete;
  ~ChunkList() { clear(); }

  size_t size() const { return total_; }
  void push_back(const T& v) {
    if (used_ == cap_) grow();
    cur_[used_++] = v;
    ++total_;
  }
  // Calls f(data, n) for each chunk in order, releasing each chunk after f returns; leaves the list empty.
  template <class F>
  void drain(F&& f) {
    if (cur_) chunks_.back().used = used_;
    for (Chunk& c : chunks_) {
      f(static_cast<const T*>(c.data), c.used);
      release(c);
    }
    chunks_.clear();
    cur_ = nullptr, used_ = cap_ = total_ = 0;
  }
  void moveInto(std::vector<T>& out) {
    out.reserve(out.size() + total_);
    drain([&](const T* d, size_t n) { out.insert(out.end(), d, d + n); });
  }
  void clear() {
    if (cur_) chunks_.back().used = used_;
    for (Chunk& c : chunks_) release(c);
    chunks_.clear();
    cur_ = nullptr, used_ = cap_ = total_ = 0;
  }

 private:
  static constexpr size_t kMinBytes = 1024, kMaxBytes = size_t{1} << 20, kMapBytes = size_t{256} << 10;
  struct Chunk {
    void* data;
    size_t bytes, used;
  };
  void grow() {
    if (cur_) chunks_.back().used = used_;
    size_t bytes = std::min(kMaxBytes, std::max(kMinBytes, cap_ * sizeof(T) * 2));
    void* p;
    if (bytes >= kMapBytes) {
      p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
    } else {
      p = std::malloc(bytes);
      if (!p) throw std::bad_alloc();
    }
    chunks_.push_back({p, bytes, 0});
    cur_ = static_cast<T*>(p);
    cap_ = bytes / sizeof(T);
    used_ = 0;
  }
  static void release(Chunk& c) {
    if (c.bytes >= kMapBytes) ::munmap(c.data, c.bytes);
    else std::free(c.data);
  }
  void swap(ChunkList& o) noexcept {
    std::swap(chunks_, o.chunks_);
    std::swap(cur_, o.cur_);
    std::swap(used_, o.used_);
    std::swap(cap_, o.cap_);
    std::swap(total_, o.total_);
  }
  std::vector<Chunk> chunks_;
  T* cur_ = nullptr;
  size_t used_ = 0, cap_ = 0, total_ = 0;
};

}  // namespace gomalloc::traces::detail
