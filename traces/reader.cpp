#include "traces/reader.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <utility>

#include "traces/binary_format.h"
#include "traces/reader_impl.h"

namespace gomalloc::traces {

std::string_view opName(Op op) {
  switch (op) {
    case Op::Alloc: return "alloc";
    case Op::Free: return "free";
    case Op::Gc: return "gc";
  }
  return "?";
}

std::string_view encodingName(Encoding e) {
  switch (e) {
    case Encoding::Json: return "json";
    case Encoding::JsonLines: return "jsonl";
    case Encoding::Binary: return "gmt";
  }
  return "?";
}

std::string_view compressionName(Compression c) {
  switch (c) {
    case Compression::Zstd: return "zst";
    case Compression::Gzip: return "gz";
    case Compression::None: break;
  }
  return "";
}

std::optional<Format> formatFromSuffix(std::string_view path) {
  auto ends = [&](std::string_view s) { return path.size() >= s.size() && path.substr(path.size() - s.size()) == s; };
  Format f;
  if (ends(".zst")) {
    f.compression = Compression::Zstd;
    path.remove_suffix(4);
  } else if (ends(".gz")) {
    f.compression = Compression::Gzip;
    path.remove_suffix(3);
  }
  if (ends(".json")) f.encoding = Encoding::Json;
  else if (ends(".jsonl") || ends(".ndjson")) f.encoding = Encoding::JsonLines;
  else if (ends(".gmt")) f.encoding = Encoding::Binary;
  else return std::nullopt;
  return f;
}

std::string Where::str() const {
  std::string pos;
  if (line > 0) pos = fmt::format("line {}, column {}", line, column);
  else if (offset != ~uint64_t{0}) pos = fmt::format("byte {}", offset);
  if (event != kNoEvent) return pos.empty() ? fmt::format("event {}", event) : fmt::format("event {} ({})", event, pos);
  std::string what = afterEvents ? "header, after the events" : "header";
  return pos.empty() ? what : fmt::format("{} ({})", what, pos);
}

std::string traceMessage(const std::string& file, const Where& where, const std::string& message) {
  return file + ": " + where.str() + ": " + message;
}

TraceError::TraceError(const std::string& file, const Where& where, const std::string& message)
    : std::runtime_error(traceMessage(file, where, message)) {}

TraceReader::TraceReader(std::string path, Format format, const ReadOptions& opts, std::unique_ptr<Input> input)
    : path_(std::move(path)), format_(format), opts_(opts), input_(std::move(input)) {}

TraceReader::~TraceReader() = default;

Where TraceReader::where(const Event& e, uint64_t index) const {
  Where w;
  w.event = index;
  w.line = e.line;
  w.column = e.column;
  return w;
}

void TraceReader::fail(const Event& e, uint64_t index, const std::string& message) const {
  throw TraceError(path_, where(e, index), message);
}

void TraceReader::setHeaderComplete() { headerComplete_ = true; }

size_t TraceReader::read(Event* out, size_t n) {
  if (finished_) return 0;
  batchFirst_ = events_;
  size_t k = fill(out, n);
  if (!checksEvents_) check(out, k, batchFirst_);
  if (k == 0) {
    finished_ = true;
    finalChecks();
  }
  return k;
}

void TraceReader::check(Event* ev, size_t n, uint64_t first) {
  uint32_t limit = header_.threads.value_or(kMaxThreads);
  // Until "threads" is known (a JSON document may declare it after the events), remember where each thread
  // first appeared, to name the first offending event at the end.
  bool record = !header_.threads && !headerComplete_;
  uint64_t* last = lastTs_.data();
  size_t known = lastTs_.size();
  for (size_t i = 0; i < n; i++) {
    const Event& e = ev[i];
    if (!e.hasThread) continue;
    uint16_t t = e.thread;
    if (t >= known) [[unlikely]] {
      if (t >= limit) badThread(e, first + i, limit);
      lastTs_.resize(size_t(t) + 1, 0);
      if (record) firstSeen_.resize(size_t(t) + 1, {~uint64_t{0}, 0, 0});
      last = lastTs_.data();
      known = lastTs_.size();
    }
    if (record && firstSeen_[t].index == ~uint64_t{0}) firstSeen_[t] = {first + i, e.line, e.column};
    if (e.hasTs) {
      if (e.ts < last[t]) [[unlikely]]
        tsWentBackwards(e, first + i, last[t]);
      last[t] = e.ts;
    }
  }
}

void TraceReader::badThread(const Event& e, uint64_t index, uint32_t limit) {
  std::string m = fmt::format("\"thread\" is too large: {} (the header declares \"threads\": {}, at {})", e.thread,
                              limit, threadsWhere_.str());
  if (!opts_.recover) fail(e, index, m);
  queueEventError(index, traceMessage(path_, where(e, index), m));
}

void TraceReader::tsWentBackwards(const Event& e, uint64_t index, uint64_t last) {
  if (!opts_.lenient) {
    std::string m = fmt::format("\"ts\" goes backwards on thread {}: {} after {} (ts must not decrease within a "
                                "thread)",
                                e.thread, e.ts, last);
    if (!opts_.recover) fail(e, index, m);
    queueEventError(index, traceMessage(path_, where(e, index), m));
    return;
  }
  if (tsBackwards_++ == 0) firstTsBackwards_ = where(e, index).str();
}

void TraceReader::checkSlow(const Event& e, uint64_t index, uint64_t* lastTs) {
  if (!e.hasThread) return;
  uint32_t limit = header_.threads.value_or(kMaxThreads);
  if (e.thread >= limit) {
    badThread(e, index, limit);  // recovering: queued; the thread has no ts slot to check against
    return;
  }
  if (!e.hasTs) return;
  if (e.ts < lastTs[e.thread]) tsWentBackwards(e, index, lastTs[e.thread]);
  lastTs[e.thread] = e.ts;
}

size_t TraceReader::readInput(char* dst, size_t n) {
  if (!inputError_.empty()) return 0;
  try {
    return input_->read(dst, n);
  } catch (const TraceError&) {
    throw;
  } catch (const std::exception& e) {
    inputError_ = e.what();
    if (inputError_.empty()) inputError_ = "read error";
    return 0;
  }
}

void TraceReader::finalChecks() {
  setHeaderComplete();
  if (!header_.threads) return;
  const Seen* worst = nullptr;
  uint32_t worstThread = 0;
  for (uint32_t t = *header_.threads; t < firstSeen_.size(); t++) {
    if (firstSeen_[t].index != ~uint64_t{0} && (!worst || firstSeen_[t].index < worst->index))
      worst = &firstSeen_[t], worstThread = t;
  }
  if (!worst) return;
  Where w;
  w.event = worst->index;
  w.line = worst->line;
  w.column = worst->column;
  throw TraceError(path_, w,
                   fmt::format("\"thread\" is too large: {} (the header declares \"threads\": {}, at {})", worstThread,
                               *header_.threads, threadsWhere_.str()));
}

namespace {

// Optimal string alignment distance (Levenshtein with adjacent transpositions), for short keys.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); i++) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); j++) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); i++)
    for (size_t j = 1; j <= b.size(); j++) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(uint8_t(a[i])) != std::tolower(uint8_t(b[i]))) return false;
  return true;
}

}  // namespace

std::string_view nearMissKey(std::string_view key, bool header) {
  static constexpr std::string_view kEvent[] = {"op", "thread", "id", "size", "scan", "ts"};
  static constexpr std::string_view kHeader[] = {"format", "version", "meta", "threads", "events"};
  if (key.size() > 16) return {};
  std::string_view best;
  size_t bestDistance = ~size_t{0};
  auto consider = [&](std::string_view name) {
    if (equalsIgnoringCase(key, name)) {
      best = name, bestDistance = 0;
      return;
    }
    size_t limit = name.size() <= 3 ? 1 : 2;
    size_t d = editDistance(key, name);
    if (d <= limit && d < bestDistance) best = name, bestDistance = d;
  };
  if (header)
    for (auto n : kHeader) consider(n);
  else
    for (auto n : kEvent) consider(n);
  return best;
}

void TraceReader::unknownKey(std::string_view key, uint64_t line, bool header) {
  unknownKeys_.total++;
  for (auto& [name, count] : unknownKeys_.keys)
    if (name == key) {
      count++;
      return;
    }
  if (unknownKeys_.keys.size() >= UnknownKeys::kMaxNamed) return;  // counted in total only
  unknownKeys_.keys.emplace_back(std::string(key), 1);
  std::string_view near = nearMissKey(key, header);
  if (near.empty()) return;
  std::string where = line ? fmt::format("line {}: ", line) : "";
  keyWarnings_.push_back(fmt::format("{}: {}unknown key \"{}\" (did you mean \"{}\"?)", path_, where, key, near));
}

std::vector<std::string> TraceReader::warnings() const {
  std::vector<std::string> w = keyWarnings_;
  if (tsBackwards_)
    w.push_back(fmt::format("{}: warning: {} events had a \"ts\" earlier than the previous one on their thread "
                            "(first: {}); read leniently",
                            path_, tsBackwards_, firstTsBackwards_));
  return w;
}

std::vector<Event> readAll(TraceReader& r) {
  std::vector<Event> all;
  Event buf[1024];
  while (size_t n = r.read(buf, 1024)) all.insert(all.end(), buf, buf + n);
  return all;
}

namespace {

// An input that first returns bytes already read (the sniffed head), then the rest of inner; or, if reading the
// head failed, that error (the reader then reports it where the head ends, as any error of its input).
class PrefixInput : public Input {
 public:
  PrefixInput(std::string head, std::unique_ptr<Input> inner, std::exception_ptr error)
      : head_(std::move(head)), inner_(std::move(inner)), error_(std::move(error)) {}
  size_t read(char* dst, size_t n) override {
    if (pos_ < head_.size()) {
      size_t k = std::min(n, head_.size() - pos_);
      std::memcpy(dst, head_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return inner_->read(dst, n);
  }
  uint64_t rawBytes() const override { return inner_->rawBytes(); }

 private:
  std::string head_;
  size_t pos_ = 0;
  std::unique_ptr<Input> inner_;
  std::exception_ptr error_;
};

// Reads up to n bytes of in to sniff them, then puts them back: in becomes an input that returns them first.
std::string peekHead(std::unique_ptr<Input>& in, size_t n) {
  std::string head(n, '\0');
  size_t have = 0;
  std::exception_ptr error;
  try {
    while (have < n) {
      size_t got = in->read(head.data() + have, n - have);
      if (got == 0) break;
      have += got;
    }
  } catch (const std::exception&) {
    error = std::current_exception();
  }
  head.resize(have);
  in = std::make_unique<PrefixInput>(head, std::move(in), std::move(error));
  return head;
}

detail::JsonMode jsonMode(const std::string& path, const ReadOptions& o) {
  std::optional<Encoding> e = o.encoding;
  if (!e) {
    if (auto f = formatFromSuffix(path)) e = f->encoding;
  }
  if (e == Encoding::Json) return detail::JsonMode::Document;
  if (e == Encoding::JsonLines) return detail::JsonMode::Lines;
  return detail::JsonMode::Sniff;
}

// The .gmt magic, or a file too short to hold it that starts like it (then the binary reader says truncated).
bool isBinary(std::string_view head) {
  return !head.empty() && std::memcmp(head.data(), detail::kGmtMagic, std::min<size_t>(head.size(), 8)) == 0;
}

// Whether a trace named .gmt (by its suffix) whose head is not the .gmt magic is still read as .gmt: unless it
// looks like JSON, so that a damaged or truncated .gmt file gets the .gmt reader's messages.
bool binaryBySuffix(const std::string& path, std::string_view head) {
  auto f = formatFromSuffix(path);
  if (!f || f->encoding != Encoding::Binary) return false;
  size_t i = head.find_first_not_of(" \t\r\n");
  return i == std::string_view::npos || (head[i] != '{' && uint8_t(head[i]) != 0xef);  // 0xef: a UTF-8 BOM
}

// Opens raw (a file's or memory's bytes): decompression, then the encoding.
std::unique_ptr<TraceReader> openInput(const std::string& path, const ReadOptions& o, std::unique_ptr<Input> raw,
                                       std::string_view whole, std::shared_ptr<MappedFile> map) {
  try {
    std::unique_ptr<Input> in = std::move(raw);
    std::string head = peekHead(in, 8);
    Compression c = sniffCompression(head);
    if (c == Compression::None) {
      if (isBinary(head) && !whole.empty() && (!o.encoding || *o.encoding == Encoding::Binary))
        return detail::makeBinaryReader(path, o, whole, std::move(map));
    } else {
      in = decompress(std::move(in), c);
      head = peekHead(in, 8);
    }
    if (o.encoding ? *o.encoding == Encoding::Binary : isBinary(head) || binaryBySuffix(path, head))
      return detail::makeBinaryStreamReader(path, c, o, std::move(in));
    return detail::makeJsonReader(path, c, jsonMode(path, o), o, std::move(in));
  } catch (const TraceError&) {
    throw;
  } catch (const std::exception& e) {
    throw TraceError(path + ": " + e.what());
  }
}

}  // namespace

std::unique_ptr<TraceReader> openTrace(const std::string& path, const ReadOptions& opts) {
  std::unique_ptr<Input> raw;
  try {
    raw = fileInput(path);
    std::string head = peekHead(raw, 8);
    // A regular file is mapped; standard input, a pipe or a device is read as a stream.
    struct stat st {};
    const bool regular = path != "-" && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (regular && sniffCompression(head) == Compression::None && isBinary(head) &&
        (!opts.encoding || *opts.encoding == Encoding::Binary)) {
      auto map = std::make_shared<MappedFile>(path);
      std::string_view whole(map->data(), map->size());
      return detail::makeBinaryReader(path, opts, whole, map);
    }
  } catch (const TraceError&) {
    throw;
  } catch (const std::exception& e) {
    throw TraceError(e.what());
  }
  return openInput(path, opts, std::move(raw), {}, nullptr);
}

std::unique_ptr<TraceReader> openTraceMemory(const std::string& name, std::string_view data,
                                             const ReadOptions& opts) {
  return openInput(name, opts, memoryInput(data), data, nullptr);
}

}  // namespace gomalloc::traces
