// Internal: the .gmt binary encoding's constants and primitives (docs/trace-format.md, "Binary encoding").
//
//   file    = magic[8] version:u16 flags:u16 headerLen:u32 header[headerLen] block* end
//   magic   = 89 47 4d 54 0d 0a 1a 0a            ("\x89GMT\r\n\x1a\n")
//   header  = the JSON header object (format, version, meta, threads), UTF-8, no events
//   block   = count:u32 (1..65536) payloadLen:u32 payload[payloadLen]   (count events)
//   end     = count:u32 = 0, payloadLen:u32 = 8, totalEvents:u64
// All integers little-endian. Version 2 stores a block's events as columns of fixed-width fields:
//   payload = widths[8] nAlloc:u32 nFree:u32 baseId:u64 baseTs:u64          (the 32-byte block header)
//             kinds[count] threads[count][wThread] ts[count][wTs]             (one entry per event)
//             allocIds[nAlloc][wAllocId] sizes[nAlloc][wSize] freeIds[nFree][wFreeId]   (per alloc, per free)
//   widths  = wThread (0-2), wAllocId (0-8), wSize (0-6), wFreeId (0-8), wTs (0-8), then three zero bytes
//   kind    = bits 0-1 op (0 alloc, 1 free, 2 gc); bit 2 alloc: scan, gc: it has a thread, free: 0;
//             bit 3 the event has a ts; bits 4-7 0
// A field of width w is the value's low w bytes (width 0: every value is 0). threads: the thread (0 for a gc
// without one); ts: zigzag(ts - previous ts), 0 for an event without a ts; allocIds: zigzag(id - previous alloc
// id - 1); freeIds: zigzag(id - previous alloc id); sizes: the size. The previous alloc id and ts start at
// the block's baseId and baseTs, so blocks decode on their own. The writer picks each block's widths to fit
// its largest value: with no per-event lengths, every field of event i is at a place known from i and the
// kinds before it, so decoding has no chain from one event to the next.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace gomalloc::traces::detail {

inline constexpr char kGmtMagic[8] = {'\x89', 'G', 'M', 'T', '\r', '\n', '\x1a', '\n'};
inline constexpr uint16_t kGmtVersion = 2;
inline constexpr uint32_t kGmtMaxBlockEvents = 65536;
inline constexpr uint32_t kGmtMaxPayload = uint32_t{4} << 20;
inline constexpr uint32_t kGmtHeaderMax = uint32_t{64} << 20;
inline constexpr size_t kGmtBlockHeader = 32;

// The columns, in the order of their widths in the block header.
enum GmtColumn : unsigned { kColThread, kColAllocId, kColSize, kColFreeId, kColTs, kGmtColumns };
inline constexpr uint8_t kGmtMaxWidth[kGmtColumns] = {2, 8, 6, 8, 8};

// Kind bits.
inline constexpr unsigned kKindFlag = 1u << 2, kKindHasTs = 1u << 3;
// The valid kinds, as a bit set over 0..15: alloc 0, 4, 8, 12; free 1, 9; gc 2, 6, 10, 14.
inline constexpr uint32_t kValidKinds = 0x5757;
inline bool validKind(unsigned k) { return k < 16 && (kValidKinds >> k & 1); }

// Bytes needed for v (0 for 0).
inline unsigned bytesFor(uint64_t v) { return v ? (71 - unsigned(__builtin_clzll(v))) / 8 : 0; }
inline uint64_t lenMask(unsigned len) { return len ? ~uint64_t{0} >> (64 - 8 * len) : 0; }

inline uint64_t zigzag(uint64_t delta) { return (delta << 1) ^ uint64_t(int64_t(delta) >> 63); }
inline uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (~(z & 1) + 1); }

// Stores v's low 8 bytes at p (little-endian); callers advance by the field's length.
inline void put64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
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
