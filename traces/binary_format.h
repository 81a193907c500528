// Internal: the .gmt binary encoding's constants and primitives (docs/trace-format.md, "Binary encoding").
//
//   file    = magic[8] version:u16 flags:u16 headerLen:u32 header[headerLen] block* end
//   magic   = 89 47 4d 54 0d 0a 1a 0a            ("\x89GMT\r\n\x1a\n")
//   header  = the JSON header object (format, version, meta, threads), UTF-8, no events
//   block   = count:u32 (1..65536) payloadLen:u32 (<= 4 MiB) payload[payloadLen]   (count events)
//   end     = count:u32 = 0, payloadLen:u32 = 8, totalEvents:u64
// All integers little-endian. In a payload each event is a tag byte and its fields:
//   tag bits 0-1 op (0 alloc, 1 free, 2 gc); bit 2 T: the thread differs from the previous event's (a varint
//   thread follows); bit 3 S: ts present (zigzag varint delta from the previous ts in the block, last field);
//   alloc: bit 4 scan, bit 5 N: id = previous alloc id + 1 (else a zigzag varint delta from it), then varint size;
//   free: zigzag varint (id - previous alloc id); gc: bit 4 H: the gc has a thread.
//   Unused bits are 0. Delta state (thread 0, ts 0, alloc id 0) restarts at every block.
#pragma once

#include <cstdint>
#include <cstring>

namespace gomalloc::traces::detail {

inline constexpr char kGmtMagic[8] = {'\x89', 'G', 'M', 'T', '\r', '\n', '\x1a', '\n'};
inline constexpr uint16_t kGmtVersion = 1;
inline constexpr uint32_t kGmtMaxBlockEvents = 65536;
inline constexpr uint32_t kGmtMaxPayload = uint32_t{4} << 20;
inline constexpr uint32_t kGmtHeaderMax = uint32_t{64} << 20;
inline constexpr size_t kGmtMaxEventBytes = 1 + 4 * 10;  // tag and four varints (malformed ones included)

enum : uint8_t {
  kTagOpMask = 3,
  kTagThread = 4,
  kTagTs = 8,
  kTagScan = 16,    // alloc
  kTagNextId = 32,  // alloc
  kTagGcThread = 16,  // gc
};

inline uint64_t zigzag(uint64_t delta) { return (delta << 1) ^ uint64_t(int64_t(delta) >> 63); }
inline uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (~(z & 1) + 1); }

inline char* putVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  *p++ = char(v);
  return p;
}

inline void putU16(char* p, uint16_t v) { p[0] = char(v), p[1] = char(v >> 8); }
inline void putU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = char(v >> (8 * i));
}
inline void putU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = char(v >> (8 * i));
}
inline uint16_t getU16(const char* p) { return uint16_t(uint8_t(p[0]) | uint8_t(p[1]) << 8); }
inline uint32_t getU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | uint8_t(p[i]);
  return v;
}
inline uint64_t getU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | uint8_t(p[i]);
  return v;
}

}  // namespace gomalloc::traces::detail
