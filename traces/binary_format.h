// Internal: the .gmt binary encoding's constants and primitives (docs/trace-format.md, "Binary encoding").
//
//   file    = magic[8] version:u16 flags:u16 headerLen:u32 header[headerLen] block* end
//   magic   = 89 47 4d 54 0d 0a 1a 0a            ("\x89GMT\r\n\x1a\n")
//   header  = the JSON header object (format, version, meta, threads), UTF-8, no events
//   block   = count:u32 (1..65536) payloadLen:u32 (<= 4 MiB) payload[payloadLen]   (count events)
//   end     = count:u32 = 0, payloadLen:u32 = 8, totalEvents:u64
// All integers little-endian. In a payload each event is a 16-bit tag followed by its fields, each a
// little-endian unsigned integer of the length the tag gives (0 to 8 bytes; a 0-byte field is 0):
//   tag bits 0-1   op: 0 alloc, 1 free, 2 gc
//       bit  2     alloc: scan; gc: the gc has a thread; free: 0
//       bit  3     the event has a ts
//       bits 4-5   thread field length, 0-2 (0: the thread of the previous event with a thread)
//       bits 6-8   id field code, 0-7 (length = code, but code 7 is 8 bytes); gc: 0
//       bits 9-11  size field length, 0-6; free, gc: 0
//       bits 12-14 ts field code, like the id's; 0 unless bit 3
//       bit  15    0
//   fields, in this order: thread; id: alloc zigzag(id - previous alloc id - 1), free zigzag(id - previous
//   alloc id); size; ts: zigzag(ts - previous ts).
// Delta state (thread 0, alloc id 0, ts 0) restarts at every block. Because every length is in the tag, a
// reader finds the next event without decoding this one's fields, and decodes each field with one 8-byte load
// and a mask: no branch depends on the data.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace gomalloc::traces::detail {

inline constexpr char kGmtMagic[8] = {'\x89', 'G', 'M', 'T', '\r', '\n', '\x1a', '\n'};
inline constexpr uint16_t kGmtVersion = 1;
inline constexpr uint32_t kGmtMaxBlockEvents = 65536;
inline constexpr uint32_t kGmtMaxPayload = uint32_t{4} << 20;
inline constexpr uint32_t kGmtHeaderMax = uint32_t{64} << 20;
inline constexpr size_t kGmtMaxEventBytes = 2 + 2 + 8 + 6 + 8;  // tag and fields
inline constexpr size_t kGmtDecodeSlack = kGmtMaxEventBytes + 8;  // decoding loads 8 bytes per field

// Tag fields.
inline constexpr unsigned kTagFlag = 1u << 2, kTagHasTs = 1u << 3;
inline constexpr unsigned kTagThreadShift = 4, kTagIdShift = 6, kTagSizeShift = 9, kTagTsShift = 12;

// Bytes needed for v (0 for 0), and the 3-bit code for a length (7 means 8 bytes).
inline unsigned bytesFor(uint64_t v) { return v ? (71 - unsigned(__builtin_clzll(v))) / 8 : 0; }
inline unsigned codeFor(unsigned len) { return len >= 7 ? 7 : len; }
inline unsigned lenOf(unsigned code) { return code + (code == 7); }
inline uint64_t lenMask(unsigned len) { return len ? ~uint64_t{0} >> (64 - 8 * len) : 0; }

inline uint64_t zigzag(uint64_t delta) { return (delta << 1) ^ uint64_t(int64_t(delta) >> 63); }
inline uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (~(z & 1) + 1); }

// Stores v's low 8 bytes at p (little-endian); callers advance by the field's length.
inline void put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = char(v >> (8 * i));
}

inline uint64_t load64(const char* p) {  // little-endian
  uint64_t x;
  std::memcpy(&x, p, 8);
  if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
  return x;
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
