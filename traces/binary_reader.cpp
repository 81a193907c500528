// The .gmt reader: memory-mapped (or in-memory) blocks decoded in place, or blocks read one at a time from a
// decompressed stream. Every length and value is checked, so a corrupt file gives an error, never a crash.
#include <fmt/format.h>

#include <array>
#include <bit>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "traces/binary_format.h"
#include "traces/reader_impl.h"

namespace gomalloc::traces::detail {
namespace {

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

  uint64_t bytes() const override { return offset_ + uint64_t(cur_ - blockStart_); }

 protected:
  size_t fill(Event* out, size_t n) override {
    size_t k = 0;
    while (k < n) {
      if (left_ == 0) {
        if (done_) break;
        if (cur_ != blockEnd_)
          corrupt(cur_, fmt::format("{} bytes left over at the end of a block", blockEnd_ - cur_));
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

  [[noreturn]] void failAt(uint64_t offset, bool inEvent, const std::string& msg) const {
    Where w;
    if (inEvent) w.event = events_;
    w.offset = offset;
    throw TraceError(path_, w, msg);
  }
  [[noreturn]] void corrupt(const char* at, const std::string& msg) const {
    Where w;
    w.event = events_ + decoded_;
    w.offset = offset_ + uint64_t(at - blockStart_);
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
    try {
      while (have < n) {
        size_t got = input_->read(buf.data() + have, n - have);
        if (got == 0) return false;
        have += got;
      }
    } catch (const TraceError&) {
      throw;
    } catch (const std::exception& e) {
      failAt(pos_, true, e.what());
    }
    pos_ += n;
    where = buf.data();
    return true;
  }

  void readFileHeader() {
    const char* h;
    if (!take(16, scratch_, h)) failAt(0, false, "unexpected end of file (truncated?) in the .gmt file header");
    if (std::memcmp(h, kGmtMagic, 8) != 0) failAt(0, false, "not a .gmt file (bad magic number)");
    uint16_t version = getU16(h + 8), flags = getU16(h + 10);
    uint32_t len = getU32(h + 12);
    if (version != kGmtVersion)
      failAt(8, false, fmt::format("unsupported .gmt version {}: this reader reads version {}", version, kGmtVersion));
    if (flags != 0) failAt(10, false, fmt::format("unsupported .gmt flags 0x{:04x}", flags));
    if (len > kGmtHeaderMax) failAt(12, false, fmt::format("corrupt .gmt file: header length {} is too large", len));
    const char* j;
    if (!take(len, scratch_, j)) failAt(16, false, "unexpected end of file (truncated?) in the .gmt header");
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
    threadTs_.assign(size_t(limit_) + 1, 0);  // and a scratch slot for the events without a thread or a ts
    checksEvents_ = true;
    offset_ = pos_;
    blockStart_ = cur_ = blockEnd_ = nullptr;
  }

  bool nextBlock() {
    const char* h;
    uint64_t at = pos_;
    if (!take(8, scratch_, h)) failAt(at, true, "unexpected end of file (truncated?): expected a block or the end marker");
    uint32_t count = getU32(h), len = getU32(h + 4);
    if (count == 0) {
      if (len != 8) failAt(at, true, fmt::format("corrupt .gmt file: end marker with length {}, expected 8", len));
      const char* t;
      if (!take(8, scratch_, t)) failAt(at + 8, true, "unexpected end of file (truncated?) in the end marker");
      uint64_t total = getU64(t);
      if (total != events_)
        failAt(at + 8, true, fmt::format("corrupt .gmt file: the end marker counts {} events, the blocks hold {}",
                                         total, events_));
      bool trailing = memory() ? pos_ < data_.size() : input_->read(scratch_.data(), 1) > 0;
      if (trailing) failAt(pos_, true, "corrupt .gmt file: data after the end marker");
      offset_ = pos_;
      blockStart_ = cur_ = blockEnd_ = nullptr;
      done_ = true;
      return false;
    }
    if (count > kGmtMaxBlockEvents || len > kGmtMaxPayload || len < 2 * uint64_t(count))
      failAt(at, true, fmt::format("corrupt .gmt file: block of {} events in {} bytes", count, len));
    const char* payload;
    if (!take(len, block_, payload)) failAt(at + 8, true, "unexpected end of file (truncated?) inside a block");
    if (map_) map_->consumed(size_t(at));
    offset_ = at + 8;
    blockStart_ = cur_ = payload;
    blockEnd_ = payload + len;
    left_ = count;
    thread_ = 0, ts_ = 0, allocId_ = 0;
    return true;
  }

  // Decoding: the delta state lives in locals (so stores to events cannot alias it) and errors are codes,
  // turned into messages only when they happen.
  enum class Bad : uint8_t { None, Tag, PastEnd, Size };
  struct State {
    uint64_t ts, allocId, thread;
  };
  // Everything a tag says about its event, so that decoding spends no instructions on turning bits into
  // lengths, masks and bools: the fields' masks and places, and the Event's last 16 bytes (column, thread,
  // op, scan, hasTs, hasThread) with thread 0. One cache line per tag, by the tag's low 15 bits (bit 15 is 0
  // in every valid tag): 2 MiB, of which decoding touches the lines of the few hundred tags a trace uses.
  struct alignas(64) TagInfo {
    uint64_t mThread, mId, mSize, mTs;  // field masks, 0 for a field of length 0
    uint64_t idMask, tsMask;            // ~0 or 0: the event has an id (not a gc), has a ts
    uint64_t tail0;                     // the Event's bytes 32..39 (column, thread, op, scan)
    uint16_t tail1;                     // the Event's bytes 40..41 (hasTs, hasThread)
    uint8_t offId, offSize, offTs, total;  // total 0: an invalid tag
    uint8_t isAlloc, threaded;
  };
  static_assert(sizeof(TagInfo) == 64);
  static_assert(offsetof(Event, column) == 32 && offsetof(Event, thread) == 36 && offsetof(Event, op) == 38 &&
                offsetof(Event, scan) == 39 && offsetof(Event, hasTs) == 40 && offsetof(Event, hasThread) == 41 &&
                sizeof(Event) == 48 && std::is_trivially_copyable_v<Event>);
  static constexpr unsigned kTagIndexMask = 0x7fff;
  struct Tables {
    const TagInfo* info;   // by tag & kTagIndexMask
    const uint8_t* total;  // by tag: the event's length, 0 for an invalid tag
  };
  // The length has a table of its own, one byte per tag (64 KiB): it is the one lookup on the chain from an
  // event to the next (load the tag, load its length, add), which bounds decoding, so it is kept to a plain
  // byte load with no masking of the tag.
  static Tables tables() {
    struct Built {
      std::vector<TagInfo> info = std::vector<TagInfo>(kTagIndexMask + 1);
      std::vector<uint8_t> total = std::vector<uint8_t>(65536);
    };
    static const Built built = [] {
      Built t;
      for (unsigned tag = 0; tag <= kTagIndexMask; tag++) {
        unsigned op = tag & 3, lenT = (tag >> kTagThreadShift) & 3, lenId = lenOf((tag >> kTagIdShift) & 7),
                 lenSize = (tag >> kTagSizeShift) & 7, lenTs = lenOf((tag >> kTagTsShift) & 7);
        bool hasTs = tag & kTagHasTs, flag = tag & kTagFlag;
        bool bad = op == 3 || lenT == 3 || lenSize > 6 || (op != 0 && lenSize) ||
                   (op == 2 && (lenId || (!flag && lenT))) || (op == 1 && flag) || (!hasTs && lenTs);
        if (bad) continue;
        TagInfo& i = t.info[tag];
        i.mThread = lenMask(lenT);
        i.mId = lenMask(lenId);
        i.mSize = lenMask(lenSize);
        i.mTs = lenMask(lenTs);
        i.idMask = op == 2 ? 0 : ~uint64_t{0};
        i.tsMask = hasTs ? ~uint64_t{0} : 0;
        Event e;
        e.op = Op(op);
        e.scan = op == 0 && flag;
        e.hasTs = hasTs;
        e.hasThread = op != 2 || flag;
        std::memcpy(&i.tail0, reinterpret_cast<const char*>(&e) + 32, 8);
        std::memcpy(&i.tail1, reinterpret_cast<const char*>(&e) + 40, 2);
        i.offId = uint8_t(2 + lenT);
        i.offSize = uint8_t(i.offId + lenId);
        i.offTs = uint8_t(i.offSize + lenSize);
        i.total = uint8_t(i.offTs + lenTs);
        i.isAlloc = op == 0;
        i.threaded = e.hasThread;
        t.total[tag] = i.total;  // tags with bit 15 set stay 0: invalid
      }
      return t;
    }();
    return {built.info.data(), built.total.data()};
  }
  // The thread where tail0 keeps it.
  static uint64_t threadWord(uint64_t thread) {
    if constexpr (std::endian::native == std::endian::little) return thread << 32;
    else return thread << 16;
  }

  // The per-thread last ts (threadTs_) and the header's thread limit, for checking events as they are decoded.
  struct Check {
    uint64_t* last;
    uint64_t limit;
  };
  // Decodes one event at p (which has kGmtDecodeSlack readable bytes); returns the end of it, or nullptr with
  // *bad set. The tag's table entry gives every field's place, so finding the next event does not wait for
  // this one's fields, and no branch depends on the data but the error checks (fields are loaded whether
  // present or not and kept or dropped with masks: ops and flags vary at random in real traces). The event is
  // written as six 8-byte words.
  // *suspect is set for an event whose thread or ts needs checkSlow (the thread is not below the limit or the
  // ts goes backwards); otherwise its thread's last ts is updated.
  [[gnu::always_inline]] static inline const char* one(Tables tables, Check check, const char* p, Event& ev,
                                                       State& st, Bad* bad, bool* suspect) {
    unsigned tag = getU16(p);
    unsigned total = tables.total[tag];
    if (total == 0) [[unlikely]]
      return *bad = Bad::Tag, nullptr;
    const TagInfo& in = tables.info[tag & kTagIndexMask];
    uint64_t thread = load64(p + 2) & in.mThread;
    uint64_t idField = load64(p + in.offId) & in.mId;
    uint64_t size = load64(p + in.offSize) & in.mSize;
    uint64_t tsField = load64(p + in.offTs) & in.mTs;
    if (size > kMaxSize) [[unlikely]]
      return *bad = Bad::Size, nullptr;
    st.thread = in.mThread ? thread : st.thread;
    uint64_t id = st.allocId + unzigzag(idField) + in.isAlloc;
    st.allocId = in.isAlloc ? id : st.allocId;
    st.ts += unzigzag(tsField);  // a missing ts's field is 0
    ev.id = id & in.idMask;
    ev.size = size;
    ev.ts = st.ts & in.tsMask;
    ev.line = 0;
    uint64_t threadOut = in.threaded ? st.thread : 0;
    uint64_t tail0 = in.tail0 | threadWord(threadOut);
    bool tsChecked = in.threaded & in.tsMask;
    uint64_t tsSlot = tsChecked && threadOut < check.limit ? threadOut : check.limit;
    uint64_t ts = st.ts & in.tsMask & (uint64_t{0} - tsChecked);
    *suspect = (threadOut >= check.limit) | (ts < check.last[tsSlot]);
    if (!*suspect) [[likely]]
      check.last[tsSlot] = ts;
    uint64_t tail1 = in.tail1;
    char* raw = reinterpret_cast<char*>(&ev);
    std::memcpy(raw + 32, &tail0, 8);
    std::memcpy(raw + 40, &tail1, 8);
    return p + total;
  }

  // The slow path of the thread and ts checks, for the index-th event of this fill.
  [[gnu::cold, gnu::noinline]] void checkEvent(const Event& e, size_t index) {
    checkSlow(e, events_ + index, threadTs_.data());
  }

  // The events far enough from the block's end for whole-word loads (p + kGmtDecodeSlack <= end): decodes up
  // to m of them into out and returns how many; *p moves past them. On a bad event, returns its index with
  // *bad set and *p at it. Out of line, so that the loop has the registers to itself.
  [[gnu::noinline]] size_t decodeFast(Tables table, const char** pp, const char* end, Event* out, size_t m,
                                      State& state, Bad* bad) {
    const char* p = *pp;
    State st = state;
    Check check{threadTs_.data(), limit_};
    size_t i = 0;
    for (; i < m && size_t(end - p) >= kGmtDecodeSlack; i++) {
      bool suspect;
      const char* q = one(table, check, p, out[i], st, bad, &suspect);
      if (!q) [[unlikely]]
        break;
      if (suspect) [[unlikely]]
        checkEvent(out[i], i);
      p = q;
    }
    *pp = p;
    state = st;
    return i;
  }

  void decode(Event* out, size_t m) {
    const char* p = cur_;
    const char* end = blockEnd_;
    State st{ts_, allocId_, thread_};
    Tables table = tables();
    Bad bad = Bad::None;
    size_t i = decodeFast(table, &p, end, out, m, st, &bad);
    if (bad != Bad::None) badEvent(p, i, bad);
    // The last events of a block: decode from a zero-padded copy, then check the length.
    Check check{threadTs_.data(), limit_};
    for (; i < m; i++) {
      char pad[2 * kGmtDecodeSlack] = {};
      size_t left = size_t(end - p);
      std::memcpy(pad, p, std::min(left, kGmtDecodeSlack));
      bool suspect;
      const char* q = one(table, check, pad, out[i], st, &bad, &suspect);
      if (!q) badEvent(p, i, bad);
      if (size_t(q - pad) > left) badEvent(p, i, Bad::PastEnd);
      if (suspect) checkEvent(out[i], i);
      p += q - pad;
    }
    ts_ = st.ts, allocId_ = st.allocId, thread_ = uint16_t(st.thread);
    cur_ = p;
  }

  [[noreturn]] void badEvent(const char* at, size_t i, Bad bad) {
    decoded_ = i;
    unsigned tag = getU16(at);
    switch (bad) {
      case Bad::Tag:
        if ((tag & 3) == 3) corrupt(at, "invalid op 3 in an event tag");
        corrupt(at, fmt::format("invalid {} tag 0x{:04x}", opName(Op(tag & 3)), tag));
      case Bad::PastEnd: corrupt(at, "an event runs past the end of its block");
      case Bad::Size: corrupt(at, "size is too large (at most 2^40)");
      case Bad::None: break;
    }
    corrupt(at, "bad event");
  }

  std::shared_ptr<MappedFile> map_;
  std::string_view data_;
  uint64_t pos_ = 0;       // file offset of the next unread byte
  uint64_t offset_ = 0;    // file offset of blockStart_
  std::vector<char> scratch_, block_;
  const char* blockStart_ = nullptr;
  const char* cur_ = nullptr;
  const char* blockEnd_ = nullptr;
  uint32_t left_ = 0;
  bool done_ = false;
  size_t decoded_ = 0;
  uint16_t thread_ = 0;
  uint64_t ts_ = 0, allocId_ = 0;
  std::vector<uint64_t> threadTs_;  // each thread's last ts, then a scratch slot
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
