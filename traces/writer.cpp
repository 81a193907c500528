#include "traces/writer.h"

#include <charconv>
#include <vector>

#include "traces/binary_format.h"
#include "traces/error.h"

namespace gomalloc::traces {
namespace {

constexpr size_t kFlush = size_t{1} << 20;

void appendUint(std::string& out, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, size_t(r.ptr - tmp));
}

class JsonWriter final : public TraceWriter {
 public:
  JsonWriter(std::unique_ptr<Sink> sink, bool lines, const TraceHeader& h) : sink_(std::move(sink)), lines_(lines) {
    buf_.reserve(kFlush + 4096);
    std::string head = headerObject(h).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    if (lines_) {
      buf_ += head;
      buf_ += '\n';
    } else {
      head.pop_back();  // the closing '}'
      buf_ += head;
      buf_ += ",\"events\":[";
    }
  }
  void write(const Event& e) override {
    if (!lines_) buf_ += events_ ? ",\n" : "\n";
    appendEventJson(buf_, e);
    if (lines_) buf_ += '\n';
    ++events_;
    if (buf_.size() >= kFlush) flush();
  }
  void finish() override {
    if (!lines_) buf_ += "\n]}\n";
    flush();
    sink_->finish();
  }

 private:
  void flush() {
    sink_->write(buf_.data(), buf_.size());
    buf_.clear();
  }
  std::unique_ptr<Sink> sink_;
  bool lines_;
  std::string buf_;
};

class BinaryWriter final : public TraceWriter {
 public:
  BinaryWriter(std::unique_ptr<Sink> sink, const TraceHeader& h) : sink_(std::move(sink)) {
    std::string head = headerObject(h).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    char fixed[16];
    std::memcpy(fixed, detail::kGmtMagic, 8);
    detail::putU16(fixed + 8, detail::kGmtVersion);
    detail::putU16(fixed + 10, 0);
    detail::putU32(fixed + 12, uint32_t(head.size()));
    sink_->write(fixed, 16);
    sink_->write(head.data(), head.size());
    block_.resize(8 + kBlockBytes + detail::kGmtMaxEventBytes + 8);
    p_ = block_.data() + 8;
  }
  void write(const Event& e) override {
    using namespace detail;
    char* p = p_ + 2;
    unsigned tag = unsigned(e.op);
    bool threaded = e.op != Op::Gc || e.hasThread;
    if ((e.op == Op::Alloc && e.scan) || (e.op == Op::Gc && e.hasThread)) tag |= kTagFlag;
    if (threaded && e.thread != thread_) {
      unsigned n = e.thread > 0xff ? 2 : 1;
      put64(p, e.thread);
      p += n;
      tag |= n << kTagThreadShift;
      thread_ = e.thread;
    }
    if (e.op != Op::Gc) {
      uint64_t z = zigzag(e.id - allocId_ - (e.op == Op::Alloc));
      unsigned c = codeFor(bytesFor(z));
      put64(p, z);
      p += lenOf(c);
      tag |= c << kTagIdShift;
      if (e.op == Op::Alloc) allocId_ = e.id;
    }
    if (e.op == Op::Alloc) {
      unsigned n = bytesFor(e.size);
      put64(p, e.size);
      p += n;
      tag |= n << kTagSizeShift;
    }
    if (e.hasTs) {
      uint64_t z = zigzag(e.ts - ts_);
      unsigned c = codeFor(bytesFor(z));
      put64(p, z);
      p += lenOf(c);
      tag |= kTagHasTs | c << kTagTsShift;
      ts_ = e.ts;
    }
    putU16(p_, uint16_t(tag));
    p_ = p;
    ++events_;
    if (++count_ == kGmtMaxBlockEvents || size_t(p_ - block_.data() - 8) >= kBlockBytes) flush();
  }
  void finish() override {
    flush();
    char end[16];
    detail::putU32(end, 0);
    detail::putU32(end + 4, 8);
    detail::putU64(end + 8, events_);
    sink_->write(end, 16);
    sink_->finish();
  }

 private:
  static constexpr size_t kBlockBytes = size_t{1} << 20;
  void flush() {
    if (count_ == 0) return;
    size_t len = size_t(p_ - block_.data() - 8);
    detail::putU32(block_.data(), count_);
    detail::putU32(block_.data() + 4, uint32_t(len));
    sink_->write(block_.data(), 8 + len);
    p_ = block_.data() + 8;
    count_ = 0;
    thread_ = 0, ts_ = 0, allocId_ = 0;
  }
  std::unique_ptr<Sink> sink_;
  std::vector<char> block_;
  char* p_;
  uint32_t count_ = 0;
  uint16_t thread_ = 0;
  uint64_t ts_ = 0, allocId_ = 0;
};

}  // namespace

nlohmann::ordered_json headerObject(const TraceHeader& h) {
  nlohmann::ordered_json j;
  j["format"] = "gomalloc-trace";
  j["version"] = 1;
  if (!h.meta.is_null()) j["meta"] = h.meta;
  if (h.threads) j["threads"] = *h.threads;
  return j;
}

void appendEventJson(std::string& out, const Event& e) {
  switch (e.op) {
    case Op::Alloc:
      out += "{\"op\":\"alloc\",\"thread\":";
      appendUint(out, e.thread);
      out += ",\"id\":";
      appendUint(out, e.id);
      out += ",\"size\":";
      appendUint(out, e.size);
      if (e.scan) out += ",\"scan\":true";
      break;
    case Op::Free:
      out += "{\"op\":\"free\",\"thread\":";
      appendUint(out, e.thread);
      out += ",\"id\":";
      appendUint(out, e.id);
      break;
    case Op::Gc:
      out += "{\"op\":\"gc\"";
      if (e.hasThread) {
        out += ",\"thread\":";
        appendUint(out, e.thread);
      }
      break;
  }
  if (e.hasTs) {
    out += ",\"ts\":";
    appendUint(out, e.ts);
  }
  out += '}';
}

std::unique_ptr<TraceWriter> createWriter(std::unique_ptr<Sink> sink, Format f, const TraceHeader& header) {
  sink = compress(std::move(sink), f.compression);
  if (f.encoding == Encoding::Binary) return std::make_unique<BinaryWriter>(std::move(sink), header);
  return std::make_unique<JsonWriter>(std::move(sink), f.encoding == Encoding::JsonLines, header);
}

std::unique_ptr<TraceWriter> createWriter(const std::string& path, const TraceHeader& header) {
  auto f = formatFromSuffix(path);
  if (!f)
    throw TraceError(path + ": unknown trace suffix: use .json, .jsonl, .ndjson or .gmt, optionally followed by "
                            ".zst or .gz");
  try {
    return createWriter(fileSink(path), *f, header);
  } catch (const TraceError&) {
    throw;
  } catch (const std::exception& e) {
    throw TraceError(e.what());
  }
}

}  // namespace gomalloc::traces
