// The .gmt reader: memory-mapped (or in-memory) blocks decoded in place, or blocks read one at a time from a
// decompressed stream. Every length and value is checked, so a corrupt file gives an error, never a crash.
#include <fmt/format.h>

#include <vector>

#include "traces/binary_format.h"
#include "traces/reader_impl.h"

namespace gomalloc::traces::detail {
namespace {

class BinaryReader final : public TraceReader {
 public:
  // Memory mode: data is the whole (decompressed) file.
  BinaryReader(std::string path, const ReadOptions& o, std::string_view data, std::shared_ptr<void> keep)
      : TraceReader(std::move(path), Format{Encoding::Binary, Compression::None}, o, nullptr),
        keep_(std::move(keep)),
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
    if (count > kGmtMaxBlockEvents || len > kGmtMaxPayload || len < count)
      failAt(at, true, fmt::format("corrupt .gmt file: block of {} events in {} bytes", count, len));
    const char* payload;
    if (!take(len, block_, payload)) failAt(at + 8, true, "unexpected end of file (truncated?) inside a block");
    offset_ = at + 8;
    blockStart_ = cur_ = payload;
    blockEnd_ = payload + len;
    left_ = count;
    thread_ = 0, ts_ = 0, allocId_ = 0;
    return true;
  }

  template <bool kChecked>
  uint64_t varint(const char*& p, const char* start) {
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (kChecked && p >= blockEnd_) corrupt(start, "an event runs past the end of its block");
      uint8_t b = uint8_t(*p++);
      if (shift == 63 && b > 1) corrupt(start, "a varint is longer than 64 bits");
      v |= uint64_t(b & 0x7f) << shift;
      if (b < 0x80) return v;
      if (shift == 63) corrupt(start, "a varint is longer than 10 bytes");
    }
  }

  template <bool kChecked>
  const char* one(const char* p, Event& ev) {
    const char* start = p;
    if (kChecked && p >= blockEnd_) corrupt(start, "an event runs past the end of its block");
    uint8_t tag = uint8_t(*p++);
    unsigned op = tag & kTagOpMask;
    ev.line = 0, ev.column = 0;
    bool withThread = true;
    if (op == 0) {
      if (tag & 0xc0) corrupt(start, fmt::format("reserved bits set in alloc tag 0x{:02x}", tag));
    } else if (op == 1) {
      if (tag & 0xf0) corrupt(start, fmt::format("reserved bits set in free tag 0x{:02x}", tag));
    } else if (op == 2) {
      if (tag & 0xe0) corrupt(start, fmt::format("reserved bits set in gc tag 0x{:02x}", tag));
      withThread = tag & kTagGcThread;
      if (!withThread && (tag & kTagThread)) corrupt(start, "a gc without a thread carries a thread");
    } else {
      corrupt(start, "invalid op 3 in an event tag");
    }
    if (tag & kTagThread) {
      uint64_t t = varint<kChecked>(p, start);
      if (t >= kMaxThreads) corrupt(start, fmt::format("thread {} is too large (at most 65535)", t));
      thread_ = uint16_t(t);
    }
    ev.op = Op(op);
    ev.hasThread = withThread;
    ev.thread = withThread ? thread_ : 0;
    if (op == 0) {
      allocId_ = (tag & kTagNextId) ? allocId_ + 1 : allocId_ + unzigzag(varint<kChecked>(p, start));
      ev.id = allocId_;
      uint64_t size = varint<kChecked>(p, start);
      if (size > kMaxSize) corrupt(start, fmt::format("size {} is too large (at most 2^40)", size));
      ev.size = size;
      ev.scan = tag & kTagScan;
    } else {
      ev.id = op == 1 ? allocId_ + unzigzag(varint<kChecked>(p, start)) : 0;
      ev.size = 0;
      ev.scan = false;
    }
    if (tag & kTagTs) {
      ts_ += unzigzag(varint<kChecked>(p, start));
      ev.ts = ts_;
      ev.hasTs = true;
    } else {
      ev.ts = 0;
      ev.hasTs = false;
    }
    return p;
  }

  void decode(Event* out, size_t m) {
    const char* p = cur_;
    for (decoded_ = 0; decoded_ < m; decoded_++) {
      if (size_t(blockEnd_ - p) >= kGmtMaxEventBytes) {
        p = one<false>(p, out[decoded_]);
      } else {
        p = one<true>(p, out[decoded_]);
      }
    }
    decoded_ = 0;
    cur_ = p;
  }

  std::shared_ptr<void> keep_;
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
};

}  // namespace

std::unique_ptr<TraceReader> makeBinaryReader(std::string path, const ReadOptions& o, std::string_view data,
                                              std::shared_ptr<void> keep) {
  return std::make_unique<BinaryReader>(std::move(path), o, data, std::move(keep));
}

std::unique_ptr<TraceReader> makeBinaryStreamReader(std::string path, Compression c, const ReadOptions& o,
                                                     std::unique_ptr<Input> input) {
  return std::make_unique<BinaryReader>(std::move(path), c, o, std::move(input));
}

}  // namespace gomalloc::traces::detail
