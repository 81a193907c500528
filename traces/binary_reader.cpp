// The .gmt reader: memory-mapped (or in-memory) blocks decoded in place, or blocks read one at a time from a
// decompressed stream. Every length and value is checked, so a corrupt file gives an error, never a crash.
//
// A block's fields are columns of fixed width (binary_format.h), so event i's fields are at places known from
// i and the number of allocs and frees before it: decoding has no chain from one event to the next. On a CPU
// with AVX-512 (F, BW, VL, VBMI, VBMI2) decodeGroups decodes 8 events at a time; elsewhere decodeRun, one at a
// time. Both stop where anything needs a closer look (and near a block's end), where decodeOne decodes one event
// with every check and the exact message. All give the same events and the same errors.
#include <fmt/format.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*, which -Wmaybe-uninitialized reports.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "traces/binary_format.h"
#include "traces/reader_impl.h"

namespace gomalloc::traces::detail {
namespace {

static_assert(offsetof(Event, ts) == 16 && offsetof(Event, line) == 24 && offsetof(Event, column) == 32 &&
              offsetof(Event, thread) == 36 && offsetof(Event, op) == 38 && offsetof(Event, scan) == 39 &&
              offsetof(Event, hasTs) == 40 && offsetof(Event, hasThread) == 41 && sizeof(Event) == 48 &&
              std::is_trivially_copyable_v<Event>);

// What the group decoder needs about kinds and widths, built once.
struct GroupTables {
  // By kind: bit 0 alloc, 1 free, 2 has a ts, 3 has a thread, 4 valid (pshufb looks up 16 kinds at once).
  alignas(16) uint8_t cls[16];
  // By kind: the Event's bytes 32..39 (column, thread 0, op, scan) and 40..47 (hasTs, hasThread).
  alignas(64) uint64_t tail0[16], tail1[16];
  // By width w: the bytes of 8 words that hold w-byte fields (the low w of each word).
  uint64_t fieldBytes[9];
  // By a mask of 8 words: the mask of their 64 bytes.
  uint64_t spread[256];
};

const GroupTables& groupTables() {
  static const GroupTables t = [] {
    GroupTables g{};
    for (unsigned k = 0; k < 16; k++) {
      if (!validKind(k)) continue;
      unsigned op = k & 3;
      bool flag = k & kKindFlag, hasTs = k & kKindHasTs;
      Event e;
      e.op = Op(op);
      e.scan = op == 0 && flag;
      e.hasTs = hasTs;
      e.hasThread = op != 2 || flag;
      g.cls[k] = uint8_t((op == 0) | (op == 1) << 1 | hasTs << 2 | e.hasThread << 3 | 1 << 4);
      std::memcpy(&g.tail0[k], reinterpret_cast<const char*>(&e) + 32, 8);
      std::memcpy(&g.tail1[k], reinterpret_cast<const char*>(&e) + 40, 8);
    }
    for (unsigned m = 0; m < 256; m++)
      for (unsigned lane = 0; lane < 8; lane++)
        if (m >> lane & 1) g.spread[m] |= uint64_t{0xff} << (8 * lane);
    for (unsigned w = 0; w <= 8; w++)
      for (unsigned b = 0; b < 64; b++)
        if (b % 8 < w) g.fieldBytes[w] |= uint64_t{1} << b;
    return g;
  }();
  return t;
}

bool cpuCanDecodeGroups() {
  if (std::getenv("GOMALLOC_GMT_PORTABLE")) return false;  // tests compare the two decoders
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2");
}

// The group decoder's pieces: AVX-512 code, compiled for it whatever the build's target (GCC does not give
// lambdas their enclosing function's target).
#define GMT_GROUP_TARGET gnu::target("avx512f,avx512bw,avx512vl,avx512cd,avx512vbmi,avx512vbmi2,bmi2")

// Each word plus all the words below it.
[[GMT_GROUP_TARGET, gnu::always_inline]] inline __m512i groupPrefixSum(__m512i v) {
  const __m512i zero = _mm512_setzero_si512();
  v = _mm512_add_epi64(v, _mm512_alignr_epi64(v, zero, 7));
  v = _mm512_add_epi64(v, _mm512_alignr_epi64(v, zero, 6));
  return _mm512_add_epi64(v, _mm512_alignr_epi64(v, zero, 4));
}

[[GMT_GROUP_TARGET, gnu::always_inline]] inline __m512i groupUnzigzag(__m512i z) {
  const __m512i one = _mm512_set1_epi64(1);
  return _mm512_xor_si512(_mm512_srli_epi64(z, 1), _mm512_sub_epi64(_mm512_setzero_si512(), _mm512_and_si512(z, one)));
}

// Whether no checked lane's ts is below its thread's previous one: the ts of the last earlier lane of the group
// with the same thread, or else the thread's last (last[thread]).
[[GMT_GROUP_TARGET, gnu::always_inline]] inline bool groupTsInOrder(__m512i ts, __m512i thread, __mmask8 checked,
                                                                    const uint64_t* last) {
  // Lanes that are not checked get keys no thread has, each its own.
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  __m512i key = _mm512_mask_mov_epi64(_mm512_add_epi64(lanes, _mm512_set1_epi64(int64_t{1} << 16)), checked, thread);
  __m512i earlier = _mm512_conflict_epi64(key);  // bit i of lane j: lane i < j has the same key
  __mmask8 hasEarlier = _mm512_test_epi64_mask(earlier, earlier);
  __m512i lastEarlier = _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(earlier));
  __m512i prev = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), checked & ~hasEarlier, thread, last, 8);
  prev = _mm512_mask_permutexvar_epi64(prev, hasEarlier, lastEarlier, ts);
  return !_mm512_mask_cmplt_epu64_mask(checked, ts, prev);
}

// Stores 128-bit lane J of v at p. (GCC 12 does not fold _mm512_extracti32x4_epi32 into a store; the
// extraction to a register would take the shuffle port, which the decoder is short of.)
template <int J>
[[GMT_GROUP_TARGET, gnu::always_inline]] inline void groupStoreLane(char* p, __m512i v) {
  if constexpr (J == 0) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_castsi512_si128(v));
  } else {
    asm("vextracti32x4 %[j], %[v], %[m]" : [m] "=m"(*reinterpret_cast<char(*)[16]>(p)) : [v] "v"(v), [j] "i"(J));
  }
}

// Stores events 2J and 2J+1 at o: their 16-byte pieces are the J-th 128-bit lanes of e0, e1, e2 and o0, o1, o2.
template <int J>
[[GMT_GROUP_TARGET, gnu::always_inline]] inline void groupStorePair(char* o, __m512i e0, __m512i e1, __m512i e2,
                                                                    __m512i o0, __m512i o1, __m512i o2) {
  o += 96 * J;
  groupStoreLane<J>(o, e0);
  groupStoreLane<J>(o + 16, e1);
  groupStoreLane<J>(o + 32, e2);
  groupStoreLane<J>(o + 48, o0);
  groupStoreLane<J>(o + 64, o1);
  groupStoreLane<J>(o + 80, o2);
}

class BinaryReader final : public TraceReader {
 public:
  // Memory mode: data is the whole (decompressed) file.
  BinaryReader(std::string path, const ReadOptions& o, std::string_view data, std::shared_ptr<MappedFile> map)
      : TraceReader(std::move(path), Format{Encoding::Binary, Compression::None}, o, nullptr),
        map_(std::move(map)),
        data_(data) {
    readFileHeader();
  }
  // Stream mode.
  BinaryReader(std::string path, Compression c, const ReadOptions& o, std::unique_ptr<Input> in)
      : TraceReader(std::move(path), Format{Encoding::Binary, c}, o, std::move(in)) {
    readFileHeader();
  }

  uint64_t bytes() const override { return offset_; }

 protected:
  size_t fill(Event* out, size_t n) override {
    size_t k = 0;
    while (k < n) {
      if (left_ == 0) {
        if (done_) break;
        if (inBlock_) endBlock();
        if (!nextBlock()) break;
      }
      size_t m = std::min<size_t>(n - k, left_);
      decode(out + k, m);
      k += m;
      left_ -= uint32_t(m);
      events_ += m;
    }
    return k;
  }

 private:
  bool memory() const { return input_ == nullptr; }

  // After an input error (inputError()), every error is that one (the data ended where take() failed), at the
  // byte where the data ended.
  [[noreturn]] void failAt(uint64_t offset, bool inEvent, const std::string& msg) const {
    Where w;
    if (inEvent) w.event = events_;
    w.offset = inputError().empty() ? offset : pos_;
    throw TraceError(path_, w, inputError().empty() ? msg : inputError());
  }
  // An error in the index-th event of this fill, the block's next one: the offset is its kind byte's.
  [[noreturn]] void corrupt(size_t index, const std::string& msg) const {
    Where w;
    w.event = events_ + index;
    w.offset = kindsOffset_ + b_.at;
    throw TraceError(path_, w, "corrupt .gmt file: " + msg);
  }

  // Reads exactly n bytes at the current file position (stream mode into buf; memory mode points into data_).
  // Returns false if the file ends first.
  bool take(size_t n, std::vector<char>& buf, const char*& where) {
    if (memory()) {
      if (data_.size() - pos_ < n) return false;
      where = data_.data() + pos_;
      pos_ += n;
      return true;
    }
    buf.resize(n);
    size_t have = 0;
    while (have < n) {
      size_t got = readInput(buf.data() + have, n - have);
      if (got == 0) {
        if (!inputError().empty()) pos_ += have;  // where the data ended, for failAt
        return false;
      }
      have += got;
    }
    pos_ += n;
    where = buf.data();
    return true;
  }

  void readFileHeader() {
    const char* h;
    if (!take(16, scratch_, h)) failAt(0, false, "unexpected end of file (truncated?) in the .gmt file header");
    char fixed[16];
    std::memcpy(fixed, h, 16);
    if (std::memcmp(fixed, kGmtMagic, 8) != 0) failAt(0, false, "not a .gmt file (bad magic number)");
    uint16_t version = getU16(fixed + 8), flags = getU16(fixed + 10);
    uint32_t len = getU32(fixed + 12);
    if (version == 1)
      failAt(8, false, fmt::format("unsupported .gmt version 1; convert it again (from JSON, or with the gomalloc "
                                   "that wrote it to JSON): this reader reads versions {} and {}",
                                   kGmtOldestVersion, kGmtVersion));
    if (version < kGmtOldestVersion || version > kGmtVersion)
      failAt(8, false, fmt::format("unsupported .gmt version {}: this reader reads versions {} and {}", version,
                                   kGmtOldestVersion, kGmtVersion));
    checksums_ = version >= 3;
    crc_ = crc32cImpl();  // (GOMALLOC_GMT_PORTABLE selects the decoder only: CPUs without AVX-512 have SSE4.2)
    if (flags != 0) failAt(10, false, fmt::format("unsupported .gmt flags 0x{:04x}", flags));
    if (len > kGmtHeaderMax) failAt(12, false, fmt::format("corrupt .gmt file: header length {} is too large", len));
    const char* j;
    if (!take(len + checkBytes(), scratch_, j)) failAt(16, false, "unexpected end of file (truncated?) in the .gmt header");
    if (checksums_ && getU32(j + len) != crc32c(j, len, crc32c(fixed, 16, 0, crc_), crc_))
      failAt(0, false, "corrupt .gmt file: header checksum mismatch");
    nlohmann::ordered_json hdr;
    try {
      hdr = nlohmann::ordered_json::parse(std::string_view(j, len));
    } catch (const std::exception& e) {
      failAt(16, false, std::string("corrupt .gmt file: the header is not valid JSON: ") + e.what());
    }
    if (!hdr.is_object()) failAt(16, false, "corrupt .gmt file: the header is not a JSON object");
    auto f = hdr.find("format");
    if (f == hdr.end() || !f->is_string() || *f != "gomalloc-trace")
      failAt(16, false, "wrong format in the .gmt header: expected \"gomalloc-trace\"");
    auto v = hdr.find("version");
    if (v == hdr.end() || !v->is_number_unsigned() || *v != 1)
      failAt(16, false, "unsupported version in the .gmt header: this reader reads version 1");
    if (auto m = hdr.find("meta"); m != hdr.end()) {
      if (!m->is_object()) failAt(16, false, "wrong type for \"meta\" in the .gmt header: expected an object");
      header_.meta = *m;
    }
    if (auto t = hdr.find("threads"); t != hdr.end()) {
      if (!t->is_number_unsigned() || t->get<uint64_t>() > kMaxThreads)
        failAt(16, false, "\"threads\" in the .gmt header must be an integer from 0 to 65536");
      header_.threads = t->get<uint32_t>();
    }
    threadsWhere_.offset = 16;
    setHeaderComplete();
    limit_ = header_.threads.value_or(kMaxThreads);
    threadTs_.assign(size_t(limit_) + 1, 0);
    checksEvents_ = true;
    groups_ = cpuCanDecodeGroups();
    offset_ = pos_;
  }

  size_t checkBytes() const { return checksums_ ? kGmtChecksum : 0; }
  // Version 3: whether the checksum after the n bytes at p (the rest of what it covers) matches, crc being the
  // CRC-32C of the 8-byte block header before them.
  bool checksumOk(const char* p, size_t n, uint32_t crc) const {
    return !checksums_ || getU32(p + n) == crc32c(p, n, crc, crc_);
  }

  bool nextBlock() {
    const char* h;
    uint64_t at = pos_;
    if (!take(8, scratch_, h)) failAt(at, true, "unexpected end of file (truncated?): expected a block or the end marker");
    char head[8];
    std::memcpy(head, h, 8);
    uint32_t count = getU32(head), len = getU32(head + 4);
    ++blocks_;
    if (count == 0 && (len == 8 || !checksums_)) {
      if (len != 8) failAt(at, true, fmt::format("corrupt .gmt file: end marker with length {}, expected 8", len));
      const char* t;
      if (!take(8 + checkBytes(), scratch_, t))
        failAt(at + 8, true, "unexpected end of file (truncated?) in the end marker");
      if (!checksumOk(t, 8, crc32c(head, 8, 0, crc_))) failAt(at, true, "corrupt .gmt file: end marker checksum mismatch");
      uint64_t total = getU64(t);
      if (total != events_)
        failAt(at + 8, true, fmt::format("corrupt .gmt file: the end marker counts {} events, the blocks hold {}",
                                         total, events_));
      bool trailing = memory() ? pos_ < data_.size() : readInput(scratch_.data(), 1) > 0;
      if (trailing) failAt(pos_, true, "corrupt .gmt file: data after the end marker");
      if (!inputError().empty()) failAt(pos_, true, inputError());  // e.g. bytes after the compressed stream
      offset_ = pos_;
      done_ = true;
      return false;
    }
    // Version 3 checks the checksum first (whatever the lengths say, if it can be found), so that a damaged
    // block header is reported as what it is.
    const char* p = nullptr;
    bool taken = false;
    if (checksums_ && len <= kGmtMaxPayload) {
      if (!take(len + kGmtChecksum, block_, p)) failAt(at + 8, true, "unexpected end of file (truncated?) inside a block");
      if (!checksumOk(p, len, crc32c(head, 8, 0, crc_)))
        failAt(at, true, fmt::format("corrupt .gmt file: block {} checksum mismatch", blocks_));
      taken = true;
    }
    if (count > kGmtMaxBlockEvents || len > kGmtMaxPayload || len < kGmtBlockHeader + uint64_t(count))
      failAt(at, true, fmt::format("corrupt .gmt file: block of {} events in {} bytes", count, len));
    if (!taken && !take(len, block_, p)) failAt(at + 8, true, "unexpected end of file (truncated?) inside a block");
    if (map_) map_->consumed(size_t(at));
    offset_ = at + 8;
    Block b;
    for (unsigned c = 0; c < kGmtColumns; c++) {
      b.w[c] = uint8_t(p[c]);
      if (b.w[c] > kGmtMaxWidth[c])
        failAt(at + 8 + c, true,
               fmt::format("corrupt .gmt file: a field width of {} bytes in a block header (at most {})", b.w[c],
                           kGmtMaxWidth[c]));
      b.mask[c] = lenMask(b.w[c]);
    }
    if (p[5] || p[6] || p[7]) failAt(at + 13, true, "corrupt .gmt file: nonzero reserved bytes in a block header");
    b.nAlloc = getU32(p + 8), b.nFree = getU32(p + 12);
    b.id = getU64(p + 16), b.ts = getU64(p + 24);
    uint64_t expect = kGmtBlockHeader + uint64_t(count) * (1 + b.w[kColThread] + b.w[kColTs]) +
                      uint64_t(b.nAlloc) * (b.w[kColAllocId] + b.w[kColSize]) + uint64_t(b.nFree) * b.w[kColFreeId];
    if (uint64_t(b.nAlloc) + b.nFree > count || expect != len)
      failAt(at, true,
             fmt::format("corrupt .gmt file: block of {} events ({} allocs, {} frees) in {} bytes", count, b.nAlloc,
                         b.nFree, len));
    b.kinds = p + kGmtBlockHeader;
    b.col[kColThread] = b.kinds + count;
    b.col[kColTs] = b.col[kColThread] + size_t(count) * b.w[kColThread];
    b.col[kColAllocId] = b.col[kColTs] + size_t(count) * b.w[kColTs];
    b.col[kColSize] = b.col[kColAllocId] + size_t(b.nAlloc) * b.w[kColAllocId];
    b.col[kColFreeId] = b.col[kColSize] + size_t(b.nAlloc) * b.w[kColSize];
    b.end = p + len;
    b.count = count;
    uint32_t words[kGmtColumns];
    for (unsigned c = 0; c < kGmtColumns; c++)
      words[c] = b.w[c] == 0       ? ~uint32_t{0}
                 : b.end - b.col[c] < 8 ? 0
                                         : uint32_t((b.end - b.col[c] - 8) / b.w[c] + 1);
    b.wordsAt = std::min(words[kColThread], words[kColTs]);
    b.wordsAlloc = std::min(words[kColAllocId], words[kColSize]);
    b.wordsFree = words[kColFreeId];
    b_ = b;
    buildRunKinds();
    kindsOffset_ = at + 8 + kGmtBlockHeader;
    left_ = count;
    inBlock_ = true;
    return true;
  }

  // After a block's last event: its allocs and frees used up the columns its header announced.
  void endBlock() {
    inBlock_ = false;
    if (b_.alloc != b_.nAlloc || b_.free != b_.nFree)
      failAt(offset_, true,
             fmt::format("corrupt .gmt file: the block header counts {} allocs and {} frees, its events {} and {}",
                         b_.nAlloc, b_.nFree, b_.alloc, b_.free));
  }

  // A block being decoded: its columns and widths (from the header), and the decoding state: the next event,
  // alloc and free, the last alloc id and ts.
  struct Block {
    const char* kinds = nullptr;
    const char* col[kGmtColumns] = {};
    const char* end = nullptr;
    uint8_t w[kGmtColumns] = {};
    uint64_t mask[kGmtColumns] = {};
    uint32_t count = 0, nAlloc = 0, nFree = 0;
    // How many fields of the per-event, per-alloc and per-free columns can be loaded as 8-byte words.
    uint32_t wordsAt = 0, wordsAlloc = 0, wordsFree = 0;
    uint32_t at = 0, alloc = 0, free = 0;
    uint64_t id = 0, ts = 0;
  };

  // The index-th field of column c.
  uint64_t field(unsigned c, size_t index) const {
    const char* p = b_.col[c] + index * b_.w[c];
    if (b_.end - p >= 8) return load64(p) & b_.mask[c];
    uint64_t v = 0;
    for (unsigned i = 0; i < b_.w[c]; i++) v |= uint64_t(uint8_t(p[i])) << (8 * i);
    return v;
  }

  // Decodes the block's next event, the index-th of this fill, with every check.
  [[gnu::noinline]] void decodeOne(Event& e, size_t index) {
    Block& b = b_;
    unsigned k = uint8_t(b.kinds[b.at]);
    if (!validKind(k)) {
      if ((k & 3) == 3) corrupt(index, "invalid op 3 in an event kind");
      corrupt(index, fmt::format("invalid {} kind 0x{:02x}", opName(Op(k & 3)), k));
    }
    Op op = Op(k & 3);
    bool flag = k & kKindFlag;
    e = Event{};
    e.op = op;
    e.scan = op == Op::Alloc && flag;
    e.hasTs = k & kKindHasTs;
    e.hasThread = op != Op::Gc || flag;
    if (e.hasThread) e.thread = uint16_t(field(kColThread, b.at));
    if (e.hasTs) e.ts = b.ts += unzigzag(field(kColTs, b.at));
    if (op == Op::Alloc) {
      if (b.alloc == b.nAlloc) corrupt(index, "an event runs past the end of its block (more allocs than announced)");
      e.size = field(kColSize, b.alloc);
      if (e.size > kMaxSize) corrupt(index, "size is too large (at most 2^40)");
      e.id = b.id += unzigzag(field(kColAllocId, b.alloc)) + 1;
      b.alloc++;
    } else if (op == Op::Free) {
      if (b.free == b.nFree) corrupt(index, "an event runs past the end of its block (more frees than announced)");
      e.id = b.id + unzigzag(field(kColFreeId, b.free));
      b.free++;
    }
    if (e.hasThread) {
      if (e.thread >= limit_ || (e.hasTs && e.ts < threadTs_[e.thread])) [[unlikely]]
        checkSlow(e, events_ + index, threadTs_.data());  // throws, or (lenient) counts a ts that went back
      else if (e.hasTs)
        threadTs_[e.thread] = e.ts;
      if (e.hasTs) tsBound_ = std::max(tsBound_, e.ts);
    }
    b.at++;
  }

  void decode(Event* out, size_t m) {
    for (size_t i = 0; i < m;) {
      if (groups_) i += decodeGroups(out + i, m - i);
      // The group the group decoder stopped at (its ts are not in global order, or something may be wrong),
      // the last events of the block, or everything without AVX-512: one event at a time, with decodeOne
      // where decodeRun stops.
      if (i == m) break;
      size_t run = decodeRun(out + i, groups_ ? std::min<size_t>(8, m - i) : m - i);
      if (run == 0) decodeOne(out[i], i), run = 1;
      i += run;
    }
  }

  // Everything a kind says for decodeRun, for the block's widths (built by nextBlock): no branch there depends
  // on the op or the flags (they vary at random), only on the checks.
  struct RunKind {
    uint64_t mThread, mTs, mAllocId, mSize, mFreeId;  // field masks, 0 for a field the event does not have
    uint64_t selAlloc, selFree, hasTs;                 // ~0 or 0
    uint64_t tail0, tail1;
    uint64_t stepAlloc, stepSize, stepFree;            // bytes to the next field of those columns
    uint64_t isAlloc;
    uint64_t checked;                                  // ~0 if the event's ts is checked against its thread's
  };
  void buildRunKinds() {
    const GroupTables& g = groupTables();
    for (unsigned k = 0; k < 16; k++) {
      RunKind& r = runKinds_[k];
      unsigned cls = g.cls[k];
      auto all = [](bool on) { return on ? ~uint64_t{0} : 0; };
      r.mThread = b_.mask[kColThread] & all(cls & 8);
      r.mTs = b_.mask[kColTs] & all(cls & 4);
      r.mAllocId = b_.mask[kColAllocId] & all(cls & 1);
      r.mSize = b_.mask[kColSize] & all(cls & 1);
      r.mFreeId = b_.mask[kColFreeId] & all(cls & 2);
      r.selAlloc = all(cls & 1), r.selFree = all(cls & 2), r.hasTs = all(cls & 4);
      r.tail0 = g.tail0[k], r.tail1 = g.tail1[k];
      r.stepAlloc = cls & 1 ? b_.w[kColAllocId] : 0;
      r.stepSize = cls & 1 ? b_.w[kColSize] : 0;
      r.stepFree = cls & 2 ? b_.w[kColFreeId] : 0;
      r.isAlloc = cls & 1;
      r.checked = all((cls & 12) == 12);
    }
  }

  // The portable decoder's fast path: decodes up to m events into out while nothing needs a closer look (the
  // same checks as decodeGroups, one event at a time) and every field can be loaded as a whole 8-byte word
  // within the block; returns how many.
  [[gnu::noinline]] size_t decodeRun(Event* out, size_t m) {
    Block b = b_;
    // How many events can be decoded with word loads: each takes at most one field of each column.
    auto left = [](uint32_t words, uint32_t done) -> uint64_t { return words > done ? words - done : 0; };
    uint64_t n = std::min({uint64_t(m), left(b.wordsAt, b.at), left(b.wordsAlloc, b.alloc), left(b.wordsFree, b.free)});
    const RunKind* kinds = runKinds_;
    const uint8_t* kind = reinterpret_cast<const uint8_t*>(b.kinds) + b.at;
    const char* pThread = b.col[kColThread] + size_t(b.at) * b.w[kColThread];
    const char* pTs = b.col[kColTs] + size_t(b.at) * b.w[kColTs];
    const char* pAllocId = b.col[kColAllocId] + size_t(b.alloc) * b.w[kColAllocId];
    const char* pSize = b.col[kColSize] + size_t(b.alloc) * b.w[kColSize];
    const char* pFreeId = b.col[kColFreeId] + size_t(b.free) * b.w[kColFreeId];
    const size_t wThread = b.w[kColThread], wTs = b.w[kColTs];
    // The kinds of the run, 8 at a time: all valid, and no more allocs and frees than the header announced;
    // the run ends before the 8 that are not (decodeOne then finds which).
    uint64_t allocs = b.alloc, frees = b.free;
    n = std::min<uint64_t>(n, b.count - b.at) & ~uint64_t{7};
    const uint64_t ones = 0x0101010101010101;
    uint64_t checkedKinds = 0;
    for (; checkedKinds < n; checkedKinds += 8) {
      uint64_t x = load64(reinterpret_cast<const char*>(kind) + checkedKinds);
      uint64_t op0 = x & ones, op1 = x >> 1 & ones, flag = x >> 2 & ones;
      bool bad = (x & 0xf0f0f0f0f0f0f0f0) | (op0 & op1) | (op0 & ~op1 & flag);
      uint64_t a = ~(op0 | op1) & ones, f = op0 & ~op1;
      uint64_t na = allocs + (a * ones >> 56), nf = frees + (f * ones >> 56);  // the bytes' sums
      if (bad || na > b.nAlloc || nf > b.nFree) break;
      allocs = na, frees = nf;
    }
    n = checkedKinds;
    uint64_t* last = threadTs_.data();
    const uint64_t limit = limit_;
    uint64_t id = b.id, ts = b.ts, bound = tsBound_;
    size_t i = 0;
    for (; i < n; i++) {
      const RunKind& r = kinds[kind[i] & 15];
      uint64_t thread = load64(pThread) & r.mThread;
      uint64_t t = ts + unzigzag(load64(pTs) & r.mTs);
      uint64_t size = load64(pSize) & r.mSize;
      uint64_t allocId = id + (unzigzag(load64(pAllocId) & r.mAllocId) + r.isAlloc);
      uint64_t freeId = id + unzigzag(load64(pFreeId) & r.mFreeId);
      uint64_t checked = r.checked;
      bool bad = (thread >= limit) | (size > kMaxSize);
      if (bad) [[unlikely]]
        break;
      // A ts not below any thread's last one needs no look at its own thread's (in a trace whose ts are in
      // global order, none is).
      uint64_t* slot = last + (checked ? thread : limit);  // for an event without a thread or a ts, the spare
      if ((t < bound) & checked && t < *slot) break;
      *slot = t;
      bound = checked ? std::max(t, bound) : bound;
      Event& e = out[i];
      e.id = (allocId & r.selAlloc) | (freeId & r.selFree);
      e.size = size;
      e.ts = t & r.hasTs;
      e.line = 0;
      uint64_t tail0 = r.tail0 | thread << 32;
      std::memcpy(reinterpret_cast<char*>(&e) + 32, &tail0, 8);
      std::memcpy(reinterpret_cast<char*>(&e) + 40, &r.tail1, 8);
      id = allocId;  // the same but for an alloc
      ts = t;
      pThread += wThread, pTs += wTs;
      pAllocId += r.stepAlloc, pSize += r.stepSize, pFreeId += r.stepFree;
    }
    if (i < n) {  // stopped early: count again
      allocs = b.alloc, frees = b.free;
      for (size_t j = 0; j < i; j++) allocs += (kind[j] & 3) == 0, frees += (kind[j] & 3) == 1;
    }
    b.at += uint32_t(i), b.alloc = uint32_t(allocs), b.free = uint32_t(frees), b.id = id, b.ts = ts;
    b_ = b;
    tsBound_ = bound;
    return i;
  }

  // Decodes whole groups of 8 events into out (m is at most the events left in the block) and returns how many
  // it decoded. It stops before a group in which anything may be wrong, which decodeOne then decodes: an
  // invalid kind, more allocs or frees than the header announced, a thread beyond the header's limit, a size
  // beyond 2^40, or a ts that may go backwards on its thread. The last is decided without looking up each
  // thread's last ts: a group is fine if no ts in it is below the one before it and the ts before it is not
  // below tsBound_, the largest ts any thread has had so far.
  [[GMT_GROUP_TARGET, gnu::noinline]] size_t decodeGroups(Event* out, size_t m) {
    const GroupTables& g = groupTables();
    constexpr size_t kAhead = 256;  // fields
    Block b = b_;
    uint64_t* last = threadTs_.data();
    const __m128i cls = _mm_load_si128(reinterpret_cast<const __m128i*>(g.cls));
    const __m512i tail0a = _mm512_load_si512(g.tail0), tail0b = _mm512_load_si512(g.tail0 + 8);
    const __m512i tail1a = _mm512_load_si512(g.tail1), tail1b = _mm512_load_si512(g.tail1 + 8);
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1), limit = _mm512_set1_epi64(limit_);
    const __m512i maxSize = _mm512_set1_epi64(int64_t(kMaxSize)), lane7 = _mm512_set1_epi64(7);
    // The last ts and alloc id so far, and the bound, in every word: the carries from group to group stay in
    // vector registers.
    __m512i lastTs = _mm512_set1_epi64(int64_t(b.ts)), lastId = _mm512_set1_epi64(int64_t(b.id));
    __m512i boundV = _mm512_set1_epi64(int64_t(tsBound_));
    __mmask64 bytes[kGmtColumns];
    for (unsigned c = 0; c < kGmtColumns; c++) bytes[c] = g.fieldBytes[b.w[c]];
    // Column c's fields from index on, one in each word of lanes (the others 0), with one expanding load: it
    // reads exactly the fields' bytes, so never beyond the block.
#define GMT_FIELDS(c, index, lanes) \
  _mm512_maskz_expandloadu_epi8(g.spread[lanes] & bytes[c], b.col[c] + size_t(index) * b.w[c])
    size_t i = 0;
    for (; i + 8 <= m; i += 8) {
      // The columns are 6 streams read at different paces; a caller that does much between reads (as
      // loading does) leaves the hardware prefetcher behind, so each is fetched ahead, a line per 32 events
      // (all of a column up to 2 bytes wide).
      if (b.at % 32 == 0) {
        _mm_prefetch(b.kinds + b.at + kAhead, _MM_HINT_T0);
        _mm_prefetch(b.col[kColThread] + (b.at + kAhead) * b.w[kColThread], _MM_HINT_T0);
        _mm_prefetch(b.col[kColTs] + (b.at + kAhead) * b.w[kColTs], _MM_HINT_T0);
        _mm_prefetch(b.col[kColAllocId] + (b.alloc + kAhead) * b.w[kColAllocId], _MM_HINT_T0);
        _mm_prefetch(b.col[kColSize] + (b.alloc + kAhead) * b.w[kColSize], _MM_HINT_T0);
        _mm_prefetch(b.col[kColFreeId] + (b.free + kAhead) * b.w[kColFreeId], _MM_HINT_T0);
      }
      __m128i kinds = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.kinds + b.at));
      __m128i c = _mm_shuffle_epi8(cls, kinds);
      if ((_mm_test_epi8_mask(kinds, _mm_set1_epi8(char(0xf0))) | _mm_testn_epi8_mask(c, _mm_set1_epi8(16))) & 0xff)
        break;
      __mmask8 isAlloc = __mmask8(_mm_test_epi8_mask(c, _mm_set1_epi8(1)));
      __mmask8 isFree = __mmask8(_mm_test_epi8_mask(c, _mm_set1_epi8(2)));
      __mmask8 hasTs = __mmask8(_mm_test_epi8_mask(c, _mm_set1_epi8(4)));
      __mmask8 threaded = __mmask8(_mm_test_epi8_mask(c, _mm_set1_epi8(8)));
      unsigned allocs = unsigned(std::popcount(unsigned(isAlloc))), frees = unsigned(std::popcount(unsigned(isFree)));
      if (b.alloc + allocs > b.nAlloc || b.free + frees > b.nFree) break;

      __m512i thread = _mm512_maskz_mov_epi64(threaded, GMT_FIELDS(kColThread, b.at, 0xff));
      if (_mm512_mask_cmpge_epu64_mask(threaded, thread, limit)) break;
      __m512i tsz = _mm512_maskz_mov_epi64(hasTs, GMT_FIELDS(kColTs, b.at, 0xff));
      __mmask8 checked = threaded & hasTs;
      // In most traces the ts are in global order: then none is below the one before it, and if the first is
      // not below any thread's last (boundV), there is no need to look up each thread's.
      bool ordered = !_mm512_test_epi64_mask(tsz, one) && !_mm512_mask_cmplt_epu64_mask(checked, lastTs, boundV);
      __m512i ts;
      if (ordered) [[likely]] {
        ts = _mm512_add_epi64(groupPrefixSum(_mm512_srli_epi64(tsz, 1)), lastTs);  // no delta is negative
      } else {
        ts = _mm512_add_epi64(groupPrefixSum(groupUnzigzag(tsz)), lastTs);
        if (checked && !groupTsInOrder(ts, thread, checked, last)) break;
      }

      __m512i size = GMT_FIELDS(kColSize, b.alloc, isAlloc);
      if (b.w[kColSize] > 5 && _mm512_cmpgt_epu64_mask(size, maxSize)) break;
      __m512i allocId = GMT_FIELDS(kColAllocId, b.alloc, isAlloc);
      __m512i freeId = GMT_FIELDS(kColFreeId, b.free, isFree);
      __m512i ids = _mm512_mask_add_epi64(groupUnzigzag(allocId), isAlloc, groupUnzigzag(allocId), one);
      ids = _mm512_add_epi64(groupPrefixSum(_mm512_maskz_mov_epi64(isAlloc, ids)), lastId);
      lastId = _mm512_permutexvar_epi64(lane7, ids);
      ids = _mm512_maskz_add_epi64(isAlloc | isFree, ids, groupUnzigzag(freeId));
      lastTs = _mm512_permutexvar_epi64(lane7, ts);
      ts = _mm512_maskz_mov_epi64(hasTs, ts);
      if (checked) {
        _mm512_mask_i64scatter_epi64(last, checked, thread, ts, 8);  // in lane order: a thread's last ts wins
        // In order, the last ts is the largest (or, if an event without a thread comes after the last checked
        // one, not below it: a bound that is too high only costs a look at each thread's last ts).
        boundV = ordered ? lastTs
                         : _mm512_max_epu64(boundV, _mm512_set1_epi64(int64_t(
                                                        _mm512_reduce_max_epu64(_mm512_maskz_mov_epi64(checked, ts)))));
      }
      __m512i k64 = _mm512_cvtepu8_epi64(kinds);
      __m512i t0 = _mm512_or_si512(_mm512_permutex2var_epi64(tail0a, k64, tail0b), _mm512_slli_epi64(thread, 32));
      __m512i t1 = _mm512_permutex2var_epi64(tail1a, k64, tail1b);

      // Events 2j and 2j+1 are the j-th 16 bytes of the even (e) and odd (o) halves.
      __m512i e0 = _mm512_unpacklo_epi64(ids, size), e1 = _mm512_unpacklo_epi64(ts, zero),
              e2 = _mm512_unpacklo_epi64(t0, t1);
      __m512i o0 = _mm512_unpackhi_epi64(ids, size), o1 = _mm512_unpackhi_epi64(ts, zero),
              o2 = _mm512_unpackhi_epi64(t0, t1);
      char* o = reinterpret_cast<char*>(out + i);
      groupStorePair<0>(o, e0, e1, e2, o0, o1, o2);
      groupStorePair<1>(o, e0, e1, e2, o0, o1, o2);
      groupStorePair<2>(o, e0, e1, e2, o0, o1, o2);
      groupStorePair<3>(o, e0, e1, e2, o0, o1, o2);
      b.at += 8;
      b.alloc += allocs;
      b.free += frees;
    }
#undef GMT_FIELDS
    b.ts = uint64_t(_mm_cvtsi128_si64(_mm512_castsi512_si128(lastTs)));
    b.id = uint64_t(_mm_cvtsi128_si64(_mm512_castsi512_si128(lastId)));
    tsBound_ = uint64_t(_mm_cvtsi128_si64(_mm512_castsi512_si128(boundV)));
    b_ = b;
    return i;
  }

  std::shared_ptr<MappedFile> map_;
  std::string_view data_;
  uint64_t pos_ = 0;     // file offset of the next unread byte
  uint64_t offset_ = 0;  // file offset of the current block's payload, or of the end once read
  std::vector<char> scratch_, block_;
  Block b_;
  uint64_t kindsOffset_ = 0;  // file offset of b_.kinds
  RunKind runKinds_[16];
  uint32_t left_ = 0;
  uint64_t blocks_ = 0;  // blocks (and end marker) begun, counting from 1 in messages
  bool inBlock_ = false, done_ = false, groups_ = false;
  bool checksums_ = false;  // version 3
  Crc32cFn crc_ = crc32cPortable;
  std::vector<uint64_t> threadTs_;  // each thread's last ts, then a slot for the group decoder's spare lanes
  uint64_t tsBound_ = 0;            // no thread's last ts is above it
  uint32_t limit_ = kMaxThreads;
};

}  // namespace

std::unique_ptr<TraceReader> makeBinaryReader(std::string path, const ReadOptions& o, std::string_view data,
                                              std::shared_ptr<MappedFile> map) {
  return std::make_unique<BinaryReader>(std::move(path), o, data, std::move(map));
}

std::unique_ptr<TraceReader> makeBinaryStreamReader(std::string path, Compression c, const ReadOptions& o,
                                                     std::unique_ptr<Input> input) {
  return std::make_unique<BinaryReader>(std::move(path), c, o, std::move(input));
}

}  // namespace gomalloc::traces::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
