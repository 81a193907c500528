#include "traces/writer.h"

#include <algorithm>
#include <charconv>
#include <cstring>
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

// Collects a block's events as columns (docs/trace-format.md, "Binary encoding"), written when the block is
// full or the trace ends. Version 3: the header, each block and the end marker are followed by their CRC-32C.
class BinaryWriter final : public TraceWriter {
 public:
  BinaryWriter(std::unique_ptr<Sink> sink, const TraceHeader& h) : sink_(std::move(sink)) {
    std::string head = headerObject(h).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    char fixed[16];
    std::memcpy(fixed, detail::kGmtMagic, 8);
    detail::putU16(fixed + 8, detail::kGmtVersion);
    detail::putU16(fixed + 10, 0);
    detail::putU32(fixed + 12, uint32_t(head.size()));
    char crc[detail::kGmtChecksum];
    detail::putU32(crc, detail::crc32c(head.data(), head.size(), detail::crc32c(fixed, 16)));
    sink_->write(fixed, 16);
    sink_->write(head.data(), head.size());
    sink_->write(crc, sizeof crc);
    for (auto& c : cols_) c.reserve(detail::kGmtMaxBlockEvents);
    kinds_.reserve(detail::kGmtMaxBlockEvents);
  }
  void write(const Event& e) override {
    using namespace detail;
    if (e.hasTs) {
      // A ts gap that would widen the block's ts column ends the block early: the event starts the next one, where
      // its delta is 0 (the base). Recorded traces have such gaps wherever the program paused.
      const unsigned w = blockHasTs_ ? bytesFor(zigzag(e.ts - blockLastTs_)) : 0;
      if (w > blockTsWidth_ && kinds_.size() >= kGmtMinCutBlock) {
        flush();
      } else {
        blockTsWidth_ = std::max(blockTsWidth_, w);
      }
      blockLastTs_ = e.ts, blockHasTs_ = true;
    }
    unsigned kind = unsigned(e.op);
    if ((e.op == Op::Alloc && e.scan) || (e.op == Op::Gc && e.hasThread)) kind |= kKindFlag;
    if (e.hasTs) kind |= kKindHasTs;
    kinds_.push_back(uint8_t(kind));
    cols_[kColThread].push_back(e.op != Op::Gc || e.hasThread ? e.thread : 0);
    cols_[kColTs].push_back(e.hasTs ? e.ts : 0);
    if (e.op == Op::Alloc) {
      cols_[kColAllocId].push_back(e.id);
      cols_[kColSize].push_back(e.size);
    } else if (e.op == Op::Free) {
      cols_[kColFreeId].push_back(e.id);
    }
    ++events_;
    if (kinds_.size() == kGmtMaxBlockEvents) flush();
  }
  void finish() override {
    flush();
    char end[16 + detail::kGmtChecksum];
    detail::putU32(end, 0);
    detail::putU32(end + 4, 8);
    detail::putU64(end + 8, events_);
    detail::putU32(end + 16, detail::crc32c(end, 16));
    sink_->write(end, sizeof end);
    sink_->finish();
  }

 private:
  // Writes the block: ids and ts become deltas (the block's bases are chosen so that its first alloc and first
  // ts take no bytes), then each column gets the width of its largest value.
  void flush() {
    using namespace detail;
    if (kinds_.empty()) return;
    std::vector<uint64_t>& ts = cols_[kColTs];
    std::vector<uint64_t>& allocIds = cols_[kColAllocId];
    std::vector<uint64_t>& freeIds = cols_[kColFreeId];
    if (!allocIds.empty()) allocId_ = allocIds[0] - 1;
    for (size_t i = 0; i < kinds_.size(); i++)
      if (kinds_[i] & kKindHasTs) {
        ts_ = ts[i];
        break;
      }
    uint64_t baseId = allocId_, baseTs = ts_;
    for (size_t i = 0, a = 0, f = 0; i < kinds_.size(); i++) {
      if (kinds_[i] & kKindHasTs) {
        uint64_t t = ts[i];
        ts[i] = zigzag(t - ts_);
        ts_ = t;
      }
      if ((kinds_[i] & 3) == unsigned(Op::Alloc)) {
        uint64_t id = allocIds[a];
        allocIds[a++] = zigzag(id - allocId_ - 1);
        allocId_ = id;
      } else if ((kinds_[i] & 3) == unsigned(Op::Free)) {
        freeIds[f] = zigzag(freeIds[f] - allocId_);
        f++;
      }
    }
    size_t len = kGmtBlockHeader + kinds_.size();
    unsigned width[kGmtColumns];
    for (unsigned c = 0; c < kGmtColumns; c++) {
      uint64_t all = 0;
      for (uint64_t v : cols_[c]) all |= v;
      width[c] = bytesFor(all);
      len += width[c] * cols_[c].size();
    }
    out_.assign(8 + len + 8, '\0');  // 8 more: fields are stored as 8-byte words; then the checksum
    char* p = out_.data();
    putU32(p, uint32_t(kinds_.size()));
    putU32(p + 4, uint32_t(len));
    for (unsigned c = 0; c < kGmtColumns; c++) p[8 + c] = char(width[c]);
    putU32(p + 16, uint32_t(allocIds.size()));
    putU32(p + 20, uint32_t(freeIds.size()));
    putU64(p + 24, baseId);
    putU64(p + 32, baseTs);
    p += 8 + kGmtBlockHeader;
    std::memcpy(p, kinds_.data(), kinds_.size());
    p += kinds_.size();
    for (unsigned c : {kColThread, kColTs, kColAllocId, kColSize, kColFreeId}) {
      for (uint64_t v : cols_[c]) put64(p, v), p += width[c];
      cols_[c].clear();
    }
    putU32(out_.data() + 8 + len, crc32c(out_.data(), 8 + len));
    sink_->write(out_.data(), 8 + len + kGmtChecksum);
    kinds_.clear();
    blockTsWidth_ = 0, blockHasTs_ = false;
  }
  std::unique_ptr<Sink> sink_;
  std::vector<uint8_t> kinds_;
  std::vector<uint64_t> cols_[detail::kGmtColumns];
  std::vector<char> out_;
  uint64_t ts_ = 0, allocId_ = 0;  // the last ts and alloc id written
  // The block being filled: the widest ts delta so far, and the last ts.
  unsigned blockTsWidth_ = 0;
  uint64_t blockLastTs_ = 0;
  bool blockHasTs_ = false;
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
