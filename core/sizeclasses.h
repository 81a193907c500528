// Size classes: the table that maps a request size to an object size and a span size.
// See malloc.h for the overview.
//
// A table is a list of object sizes (class 1..n; class 0 stands for "large": more than maxSmallSize bytes,
// served by a span of its own). Each class's span pages come from Go's rule (mksizeclasses.go): the
// smallest number of 8 KiB pages whose tail waste (span bytes mod object size) is at most 1/8 of the span.
//
// A custom table must satisfy (SizeClassTable::custom checks each and says which one failed):
//   - at least 2 classes and at most kMaxClasses (a span class, class<<1 | noscan, is one byte);
//   - sizes strictly ascending, each a multiple of 8 (Go's minimum alignment), the first at least 8;
//   - 16 is one of the sizes (the tiny allocator's 16-byte blocks live in that class);
//   - the last size is exactly maxSmallSize (32768): above it every request is large;
//   - at most kMaxObjsPerSpan objects per span (the span bitmaps hold 1024 bits).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gomalloc::core {

inline constexpr size_t kPageShift = 13;
inline constexpr size_t kPageSize = size_t{1} << kPageShift;  // Go's runtime page: 8 KiB.
inline constexpr size_t kMaxSmallSize = 32768;
inline constexpr size_t kSmallSizeDiv = 8;
inline constexpr size_t kSmallSizeMax = 1024;
inline constexpr size_t kLargeSizeDiv = 128;
inline constexpr size_t kTinySize = 16;
inline constexpr size_t kMaxClasses = 127;
inline constexpr size_t kMaxObjsPerSpan = 1024;

// spanClass = sizeclass<<1 | noscan. Go: mheap.go spanClass @ go1.19.
struct SpanClass {
  uint8_t v = 0;
  static constexpr SpanClass make(uint8_t sizeclass, bool noscan) {
    return SpanClass{static_cast<uint8_t>(sizeclass << 1 | (noscan ? 1 : 0))};
  }
  constexpr uint8_t sizeclass() const { return v >> 1; }
  constexpr bool noscan() const { return v & 1; }
  friend constexpr bool operator==(SpanClass a, SpanClass b) = default;
};

struct SizeClass {
  uint32_t size = 0;      // bytes per object (0 for class 0)
  uint32_t npages = 0;    // pages per span
  uint32_t nelems = 0;    // objects per span
  uint32_t tailWaste = 0; // span bytes - nelems*size
  double maxWaste = 0;    // worst-case fraction wasted: ((size-prev-1)*nelems + tail) / span bytes
  uint32_t divMul = 0;    // ^uint32(0)/size + 1: objIndex(off) = off*divMul >> 32 (mbitmap.go @ go1.19)
};

class SizeClassTable {
 public:
  // Go 1.19's 68-class table (sizeclasses.go @ go1.19).
  static SizeClassTable go119();
  // Go 1.13's 67-class table: Go 1.19's without the 24-byte class.
  static SizeClassTable go113();
  // A table from object sizes; throws std::invalid_argument naming the rule a bad table breaks.
  static SizeClassTable custom(const std::vector<uint32_t>& sizes);

  // Number of classes including class 0 (Go's _NumSizeClasses).
  size_t numClasses() const { return classes_.size(); }
  size_t numSpanClasses() const { return classes_.size() << 1; }
  const SizeClass& operator[](size_t c) const { return classes_[c]; }
  const std::vector<SizeClass>& classes() const { return classes_; }
  uint8_t tinySizeClass() const { return tinyClass_; }

  // Size -> class for 0 < size <= maxSmallSize. Go: mallocgc's size_to_class8 / size_to_class128 lookup.
  uint8_t sizeToClass(size_t size) const {
    return size <= kSmallSizeMax - 8 ? sizeToClass8_[(size + kSmallSizeDiv - 1) / kSmallSizeDiv]
                                     : sizeToClass128_[(size - kSmallSizeMax + kLargeSizeDiv - 1) / kLargeSizeDiv];
  }
  // The raw lookup tables, as Go names them.
  const std::array<uint8_t, kSmallSizeMax / kSmallSizeDiv + 1>& size_to_class8() const { return sizeToClass8_; }
  const std::array<uint8_t, (kMaxSmallSize - kSmallSizeMax) / kLargeSizeDiv + 1>& size_to_class128() const {
    return sizeToClass128_;
  }
  std::vector<uint32_t> sizes() const;  // classes 1..n

 private:
  explicit SizeClassTable(const std::vector<uint32_t>& sizes, const std::vector<uint32_t>* pages);
  std::vector<SizeClass> classes_;
  std::array<uint8_t, kSmallSizeMax / kSmallSizeDiv + 1> sizeToClass8_{};
  std::array<uint8_t, (kMaxSmallSize - kSmallSizeMax) / kLargeSizeDiv + 1> sizeToClass128_{};
  uint8_t tinyClass_ = 0;
};

// Span pages for one object size by Go's rule. Go: mksizeclasses.go makeClasses @ go1.19.
uint32_t spanPagesFor(uint32_t size);

}  // namespace gomalloc::core
