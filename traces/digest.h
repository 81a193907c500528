// The digest of a trace's events: the same events (in the same order, with the same fields) give the same
// digest whatever the encoding. 64 bits, printed as 16 hex digits. Algorithm (docs/trace-format.md):
// per event, the words w0 = op | hasThread<<2 | scan<<3 | hasTs<<4 | thread<<8, then id (alloc, free),
// size (alloc), ts (if present), each mixed as h = rotl64(h ^ (w * P2), 31) * P1; finally h ^= count and the
// xxHash64 avalanche. P1, P2, P3 are xxHash64's primes; h starts at P3 ^ 0x676f6d616c6c6f63 ("gomalloc").
#pragma once

#include <cstdint>
#include <string>

#include "traces/event.h"

namespace gomalloc::traces {

class EventDigest {
 public:
  void add(const Event& e) {
    uint64_t w0 = uint64_t(e.op) | uint64_t(e.hasThread) << 2 | uint64_t(e.scan && e.op == Op::Alloc) << 3 |
                  uint64_t(e.hasTs) << 4 | uint64_t(e.hasThread ? e.thread : 0) << 8;
    mix(w0);
    if (e.op != Op::Gc) mix(e.id);
    if (e.op == Op::Alloc) mix(e.size);
    if (e.hasTs) mix(e.ts);
    ++count_;
  }
  uint64_t value() const {
    uint64_t h = h_ ^ count_;
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
  }
  std::string hex() const {
    static const char* d = "0123456789abcdef";
    std::string s(16, '0');
    uint64_t v = value();
    for (int i = 15; i >= 0; i--, v >>= 4) s[size_t(i)] = d[v & 15];
    return s;
  }

 private:
  static constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull;
  void mix(uint64_t w) {
    h_ ^= w * kP2;
    h_ = (h_ << 31 | h_ >> 33) * kP1;
  }
  uint64_t h_ = kP3 ^ 0x676f6d616c6c6f63ull;
  uint64_t count_ = 0;
};

}  // namespace gomalloc::traces
