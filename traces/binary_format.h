// Internal: the .gmt binary encoding's constants and primitives (docs/trace-format.md, "Binary encoding").
//
//   file    = magic[8] version:u16 flags:u16 headerLen:u32 header[headerLen] headerSum:u32 block* end
//   magic   = 89 47 4d 54 0d 0a 1a 0a            ("\x89GMT\r\n\x1a\n")
//   header  = the JSON header object (format, version, meta, threads), UTF-8, no events
//   block   = count:u32 (1..65536) payloadLen:u32 payload[payloadLen] blockSum:u32   (count events)
//   end     = count:u32 = 0, payloadLen:u32 = 8, totalEvents:u64, endSum:u32
// All integers little-endian. Version 3 (written) adds the checksums, each the CRC-32C of everything of its
// part before it: headerSum of the 16 fixed bytes and the header, blockSum of count, payloadLen and the
// payload, endSum of the end marker's 16 bytes. Version 2 (still read) is the same without them. A block's
// events are stored as columns of fixed-width fields:
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
// its largest value (and ends a block early at a ts gap, kGmtMinCutBlock): with no per-event lengths, every
// field of event i is at a place known from i and the kinds before it, so decoding has no chain from one event
// to the next.
#pragma once

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gomalloc::traces::detail {

inline constexpr char kGmtMagic[8] = {'\x89', 'G', 'M', 'T', '\r', '\n', '\x1a', '\n'};
inline constexpr uint16_t kGmtVersion = 3;        // written; version 2 (no checksums) is still read
inline constexpr uint16_t kGmtOldestVersion = 2;
inline constexpr size_t kGmtChecksum = 4;          // bytes of a CRC-32C
inline constexpr uint32_t kGmtMaxBlockEvents = 65536;
inline constexpr uint32_t kGmtMaxPayload = uint32_t{4} << 20;
inline constexpr uint32_t kGmtHeaderMax = uint32_t{64} << 20;
inline constexpr size_t kGmtBlockHeader = 32;
// The writer ends a block before an event whose ts delta would widen the block's ts column, once the block holds
// this many events (so a block header costs at most 44 / 4096 bytes per event).
inline constexpr size_t kGmtMinCutBlock = 4096;

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

// ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the checksum of version 3 ----
//
// crc32c(data, n) is the standard CRC-32C ("123456789" gives 0xe3069283); crc32c(b, m, crc32c(a, n)) is the CRC
// of a followed by b. With SSE4.2 (checked at run time; the build stays generic x86-64) the crc32 instruction
// takes 8 bytes, but each depends on the one before (3 cycles), so long inputs run as 3 independent streams over
// consecutive thirds of a chunk, combined at the chunk's end: the register after stream A then B is
// A's register advanced over |B| zero bytes, xor B's register started at 0 (the CRC is linear), and advancing
// over a fixed number of zero bytes is a linear map on 32 bits, applied with 4 tables of 256 entries. Elsewhere
// (or with GOMALLOC_GMT_PORTABLE set) slicing by 8 tables, 8 bytes per step.

inline constexpr uint32_t kCrc32cPoly = 0x82f63b78;
inline constexpr size_t kCrcLong = 8192, kCrcShort = 256;  // bytes per stream in a chunk of 3 streams

struct Crc32cTables {
  uint32_t slice[8][256];  // slice[k][b]: byte b followed by k zero bytes
  uint32_t advanceLong[4][256], advanceShort[4][256];  // advance[j][b]: b << 8j over kCrcLong / kCrcShort zeros
};

inline const Crc32cTables& crc32cTables() {
  static const Crc32cTables t = [] {
    Crc32cTables x{};
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t c = b;
      for (int i = 0; i < 8; i++) c = c >> 1 ^ (kCrc32cPoly & (0u - (c & 1)));
      x.slice[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
      for (uint32_t b = 0; b < 256; b++) x.slice[k][b] = x.slice[k - 1][b] >> 8 ^ x.slice[0][x.slice[k - 1][b] & 0xff];
    // The register advanced over n zero bytes, for each of its 32 bits alone, then any value by linearity.
    auto build = [&](uint32_t (&adv)[4][256], size_t n) {
      uint32_t bit[32];
      for (int i = 0; i < 32; i++) {
        uint32_t c = uint32_t{1} << i;
        for (size_t j = 0; j < n; j++) c = x.slice[0][c & 0xff] ^ c >> 8;
        bit[i] = c;
      }
      for (int j = 0; j < 4; j++)
        for (uint32_t b = 0; b < 256; b++) {
          uint32_t v = 0;
          for (int i = 0; i < 8; i++)
            if (b >> i & 1) v ^= bit[8 * j + i];
          adv[j][b] = v;
        }
    };
    build(x.advanceLong, kCrcLong);
    build(x.advanceShort, kCrcShort);
    return x;
  }();
  return t;
}

// The CRC register (no inversions) after p[0..n), portable.
inline uint32_t crc32cPortable(uint32_t c, const char* p, size_t n) {
  const Crc32cTables& t = crc32cTables();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w = load64(p) ^ c;
    c = t.slice[7][w & 0xff] ^ t.slice[6][w >> 8 & 0xff] ^ t.slice[5][w >> 16 & 0xff] ^ t.slice[4][w >> 24 & 0xff] ^
        t.slice[3][w >> 32 & 0xff] ^ t.slice[2][w >> 40 & 0xff] ^ t.slice[1][w >> 48 & 0xff] ^ t.slice[0][w >> 56];
  }
  for (; n; p++, n--) c = t.slice[0][(c ^ uint8_t(*p)) & 0xff] ^ c >> 8;
  return c;
}

inline uint32_t crc32cAdvance(const uint32_t (&adv)[4][256], uint32_t c) {
  return adv[0][c & 0xff] ^ adv[1][c >> 8 & 0xff] ^ adv[2][c >> 16 & 0xff] ^ adv[3][c >> 24];
}

// The same with the crc32 instruction (x86-64 with SSE4.2 only). GCC does not give lambdas their enclosing
// function's target, hence a function for the 3-stream chunks.
#if defined(__x86_64__)
// Chunks of 3 x len bytes from p while n allows, 3 streams each; advances p and n.
[[gnu::target("sse4.2")]] inline uint64_t crc32cChunks(uint64_t c0, const char*& p, size_t& n, size_t len,
                                                     const uint32_t (&adv)[4][256]) {
  for (; n >= 3 * len; p += 3 * len, n -= 3 * len) {
    uint64_t c1 = 0, c2 = 0;
    for (const char* q = p; q < p + len; q += 8) {
      c0 = _mm_crc32_u64(c0, load64(q));
      c1 = _mm_crc32_u64(c1, load64(q + len));
      c2 = _mm_crc32_u64(c2, load64(q + 2 * len));
    }
    c0 = crc32cAdvance(adv, uint32_t(c0)) ^ uint32_t(c1);
    c0 = crc32cAdvance(adv, uint32_t(c0)) ^ uint32_t(c2);
  }
  return c0;
}

[[gnu::target("sse4.2")]] inline uint32_t crc32cSse42(uint32_t c, const char* p, size_t n) {
  const Crc32cTables& t = crc32cTables();
  uint64_t c0 = crc32cChunks(c, p, n, kCrcLong, t.advanceLong);
  c0 = crc32cChunks(c0, p, n, kCrcShort, t.advanceShort);
  for (; n >= 8; p += 8, n -= 8) c0 = _mm_crc32_u64(c0, load64(p));
  uint32_t c32 = uint32_t(c0);
  for (; n; p++, n--) c32 = _mm_crc32_u8(c32, uint8_t(*p));
  return c32;
}
#endif

using Crc32cFn = uint32_t (*)(uint32_t, const char*, size_t);

// The fastest implementation this CPU has, or the portable one.
inline Crc32cFn crc32cImpl(bool portable = false) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!portable && __builtin_cpu_supports("sse4.2")) return crc32cSse42;
#endif
  (void)portable;
  return crc32cPortable;
}

// The standard CRC-32C of p[0..n), continuing crc (the CRC of what came before; 0 for none).
inline uint32_t crc32c(const void* p, size_t n, uint32_t crc = 0, Crc32cFn f = nullptr) {
  static const Crc32cFn best = crc32cImpl();
  return ~(f ? f : best)(~crc, static_cast<const char*>(p), n);
}

// Writes the checksums of a version 3 file in place, as far as its lengths lead: for tests and the fuzz target,
// which change a file's bytes on purpose so that the reader's other checks (not the checksum) meet the change.
// Returns false if the data is not version 3 or its lengths do not lead exactly to its end.
inline bool gmtSeal(char* f, size_t size) {
  if (size < 16 || std::memcmp(f, kGmtMagic, 8) != 0 || getU16(f + 8) != 3) return false;
  uint64_t pos = 16 + uint64_t(getU32(f + 12));
  if (pos + kGmtChecksum > size) return false;
  putU32(f + pos, crc32c(f, pos));
  for (pos += kGmtChecksum; pos + 8 <= size;) {
    uint64_t len = getU32(f + pos + 4);
    if (pos + 8 + len + kGmtChecksum > size) return false;
    putU32(f + pos + 8 + len, crc32c(f + pos, 8 + len));
    bool end = getU32(f + pos) == 0 && len == 8;
    pos += 8 + len + kGmtChecksum;
    if (end) return pos == size;
  }
  return false;
}

}  // namespace gomalloc::traces::detail
