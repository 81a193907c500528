#include "core/sizeclasses.h"

#include <stdexcept>
#include <string>

namespace gomalloc::core {
namespace {

// Go 1.19's class_to_size and class_to_allocnpages for classes 1..67 (sizeclasses.go:L93-94 @ go1.19.8).
constexpr uint32_t kGo119Sizes[] = {
    8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,   160,   176,   192,
    208,   224,   240,   256,   288,   320,   352,   384,   416,   448,   480,   512,   576,   640,
    704,   768,   896,   1024,  1152,  1280,  1408,  1536,  1792,  2048,  2304,  2688,  3072,  3200,
    3456,  4096,  4864,  5376,  6144,  6528,  6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288,
    13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};
constexpr uint32_t kGo119Pages[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2,
                                    3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4};
static_assert(std::size(kGo119Sizes) == 67 && std::size(kGo119Pages) == 67);

[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument("size-class table: " + why); }

}  // namespace

// Go: mksizeclasses.go makeClasses (the span-size loop) @ go1.19.
uint32_t spanPagesFor(uint32_t size) {
  uint32_t alloc = kPageSize;
  while (alloc % size > alloc / 8) alloc += kPageSize;
  return alloc / kPageSize;
}

SizeClassTable::SizeClassTable(const std::vector<uint32_t>& sizes, const std::vector<uint32_t>* pages) {
  if (sizes.size() < 2) bad("needs at least 2 classes");
  if (sizes.size() > kMaxClasses) bad("at most " + std::to_string(kMaxClasses) + " classes, got " + std::to_string(sizes.size()));
  classes_.push_back(SizeClass{});  // class 0: large objects
  uint32_t prev = 0;
  bool has16 = false;
  for (size_t i = 0; i < sizes.size(); i++) {
    uint32_t s = sizes[i];
    std::string at = "class " + std::to_string(i + 1) + " (" + std::to_string(s) + " bytes): ";
    if (s < 8) bad(at + "sizes must be at least 8");
    if (s % 8 != 0) bad(at + "sizes must be multiples of 8");
    if (s <= prev) bad(at + "sizes must be strictly ascending");
    if (s > kMaxSmallSize) bad(at + "sizes must be at most 32768");
    has16 |= s == kTinySize;
    SizeClass c;
    c.size = s;
    c.npages = pages ? (*pages)[i] : spanPagesFor(s);
    uint32_t span = c.npages * kPageSize;
    c.nelems = span / s;
    if (c.nelems > kMaxObjsPerSpan) bad(at + "more than 1024 objects per span");
    c.tailWaste = span - c.nelems * s;
    c.maxWaste = double(uint64_t(s - prev - 1) * c.nelems + c.tailWaste) / span;
    c.divMul = uint32_t(~uint32_t{0} / s + 1);
    if (s == kTinySize) tinyClass_ = uint8_t(i + 1);
    classes_.push_back(c);
    prev = s;
  }
  if (!has16) bad("16 must be one of the sizes (the tiny allocator's block class)");
  if (prev != kMaxSmallSize) bad("the last size must be 32768 (the small/large boundary)");
  // Go: mksizeclasses.go computeSizeToClass: each entry is the first class whose size covers it.
  size_t c = 1;
  for (size_t i = 0; i < sizeToClass8_.size(); i++) {
    while (classes_[c].size < i * kSmallSizeDiv) c++;
    sizeToClass8_[i] = uint8_t(c);
  }
  sizeToClass8_[0] = 0;
  c = 1;
  for (size_t i = 0; i < sizeToClass128_.size(); i++) {
    while (classes_[c].size < kSmallSizeMax + i * kLargeSizeDiv) c++;
    sizeToClass128_[i] = uint8_t(c);
  }
}

SizeClassTable SizeClassTable::go119() {
  std::vector<uint32_t> s(std::begin(kGo119Sizes), std::end(kGo119Sizes));
  std::vector<uint32_t> p(std::begin(kGo119Pages), std::end(kGo119Pages));
  return SizeClassTable(s, &p);
}

SizeClassTable SizeClassTable::go113() {
  std::vector<uint32_t> s, p;
  for (size_t i = 0; i < std::size(kGo119Sizes); i++) {
    if (kGo119Sizes[i] == 24) continue;  // added in Go 1.16 (commit 14c7caae5074)
    s.push_back(kGo119Sizes[i]);
    p.push_back(kGo119Pages[i]);
  }
  return SizeClassTable(s, &p);
}

SizeClassTable SizeClassTable::custom(const std::vector<uint32_t>& sizes) { return SizeClassTable(sizes, nullptr); }

std::vector<uint32_t> SizeClassTable::sizes() const {
  std::vector<uint32_t> out;
  for (size_t i = 1; i < classes_.size(); i++) out.push_back(classes_[i].size);
  return out;
}

}  // namespace gomalloc::core
