#include "traces/import_go.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "traces/error.h"
#include "traces/output.h"

namespace gomalloc::traces {
namespace {

constexpr uint64_t kPageShift = 13;  // Go's 8 KiB pages: one-page spans share one scan/noscan class

// Lines of a decompressed input, without their '\n'.
class LineReader {
 public:
  explicit LineReader(std::unique_ptr<Input> in) : in_(std::move(in)) {}
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      if (pos_ < len_) {
        const char* start = buf_.data() + pos_;
        const void* nl = std::memchr(start, '\n', len_ - pos_);
        if (nl) {
          const size_t n = size_t(static_cast<const char*>(nl) - start);
          line.append(start, n);
          pos_ += n + 1;
          ++number_;
          return true;
        }
        line.append(start, len_ - pos_);
        pos_ = len_;
      }
      len_ = in_->read(buf_.data(), buf_.size());
      pos_ = 0;
      if (len_ == 0) {
        if (line.empty()) return false;
        ++number_;
        return true;  // a last line without '\n'
      }
    }
  }
  uint64_t number() const { return number_; }

 private:
  std::unique_ptr<Input> in_;
  std::vector<char> buf_ = std::vector<char>(size_t{1} << 20);
  size_t pos_ = 0, len_ = 0;
  uint64_t number_ = 0;
};

std::unique_ptr<Input> openInput(const std::string& path) {
  auto raw = fileInput(path);
  // Sniff the compression from the first bytes, then hand them back in front of the rest.
  char head[4] = {};
  size_t got = 0;
  while (got < sizeof head) {
    const size_t n = raw->read(head + got, sizeof head - got);
    if (n == 0) break;
    got += n;
  }
  struct Prefixed : Input {
    std::string head;
    size_t at = 0;
    std::unique_ptr<Input> rest;
    size_t read(char* dst, size_t n) override {
      if (at < head.size()) {
        const size_t k = std::min(n, head.size() - at);
        std::memcpy(dst, head.data() + at, k);
        at += k;
        return k;
      }
      return rest->read(dst, n);
    }
    uint64_t rawBytes() const override { return rest->rawBytes(); }
  };
  auto p = std::make_unique<Prefixed>();
  p->head.assign(head, got);
  p->rest = std::move(raw);
  const Compression c = sniffCompression(p->head);
  return decompress(std::move(p), c);
}

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "0x1f" at s (advanced past it); false when there is no hex number.
bool hex(std::string_view& s, uint64_t& v) {
  if (!startsWith(s, "0x")) return false;
  size_t i = 2;
  v = 0;
  for (; i < s.size() && i < 18; i++) {
    const char c = s[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = v << 4 | uint64_t(d);
  }
  if (i == 2) return false;
  s.remove_prefix(i);
  return true;
}

// One traced record's header line.
struct Header {
  enum Kind { None, Alloc, Free, Gc } kind = None;
  uint64_t addr = 0, size = 0;
  std::string type;
  bool malformed = false;
};

Header parseHeader(std::string_view line) {
  Header h;
  if (line == "tracegc()") {
    h.kind = Header::Gc;
    return h;
  }
  const bool alloc = startsWith(line, "tracealloc(");
  if (!alloc && !startsWith(line, "tracefree(")) return h;
  h.kind = alloc ? Header::Alloc : Header::Free;
  std::string_view s = line.substr(alloc ? 11 : 10);
  if (!hex(s, h.addr) || !startsWith(s, ", ")) return h.malformed = true, h;
  s.remove_prefix(2);
  if (!hex(s, h.size)) return h.malformed = true, h;
  if (s == ")") return h;
  if (!alloc || !startsWith(s, ", ") || s.back() != ')') return h.malformed = true, h;
  h.type = std::string(s.substr(2, s.size() - 3));
  return h;
}

// The importer: a record at a time; events go to a callback (null in the counting pass).
class Importer {
 public:
  // input: the file read; shown: its name in messages ("-" for standard input)
  Importer(std::string input, std::string shown, const GoImportOptions& o, TraceWriter* w)
      : input_(std::move(input)), path_(std::move(shown)), o_(o), w_(w) {}

  GoImportStats run() {
    LineReader lines(openInput(input_));
    std::string line;
    try {
      while (lines.next(line)) {
        s_.lines++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const Header h = parseHeader(line);
        if (h.malformed) fail(lines.number(), "malformed record header: " + line);
        if (h.kind == Header::None) {
          s_.foreignLines += !line.empty();
          continue;
        }
        s_.records++;
        if (h.kind == Header::Gc) {
          while (lines.next(line) && line != "end tracegc") s_.lines++;
          gc();
          continue;
        }
        record(h, lines, line);
      }
    } catch (const TraceError&) {
      throw;
    } catch (const std::runtime_error& e) {  // the input: I/O or a corrupt compressed stream
      fail(lines.number() + 1, e.what());
    }
    flushSegment();
    s_.goroutines = goroutines_.size();
    return s_;
  }

 private:
  [[noreturn]] void fail(uint64_t line, const std::string& what) const {
    Where w;
    w.line = line;
    throw TraceError(path_, w, what);
  }

  // The rest of an alloc or free record: the goroutine header and the frames, up to an empty line.
  void record(const Header& h, LineReader& lines, std::string& line) {
    uint64_t goroutine = 0, requested = 0;
    bool sawGoroutine = false, haveRequested = false, stopLooking = false;
    while (lines.next(line)) {
      s_.lines++;
      if (line.empty() || line == "\r") break;
      if (!sawGoroutine && startsWith(line, "goroutine ")) {
        goroutine = std::strtoull(line.c_str() + 10, nullptr, 10);
        sawGoroutine = true;
      } else if (!haveRequested && !stopLooking) {
        if (startsWith(line, "runtime.systemstack_switch(")) {
          stopLooking = true;  // allocated on the system stack: a deeper mallocgc is an outer call's
        } else if (startsWith(line, "runtime.mallocgc(")) {
          std::string_view s = std::string_view(line).substr(17);
          haveRequested = hex(s, requested);
        }
      }
    }
    if (!sawGoroutine) s_.framesMissing++;
    const uint16_t thread = threadOf(goroutine, lines.number());
    if (h.kind == Header::Alloc) alloc(h, thread, haveRequested ? requested : 0, haveRequested);
    else free(h, thread);
  }

  uint16_t threadOf(uint64_t goroutine, uint64_t line) {
    auto [it, added] = goroutines_.try_emplace(goroutine, uint32_t(goroutines_.size()));
    if (o_.threads == GoImportOptions::Threads::Single) return 0;
    if (it->second > 65535) fail(line, "more than 65536 goroutines: import with --threads single");
    (void)added;
    return uint16_t(it->second);
  }

  void alloc(const Header& h, uint16_t thread, uint64_t requested, bool fromFrame) {
    s_.allocs++;
    uint64_t size = h.size;
    if (fromFrame && requested <= h.size) {
      size = requested;
      s_.requestedFromFrame++;
    } else {
      s_.roundedSize++;
    }
    bool scan;
    const int known = goTypeHasPointers(h.type);
    const uint64_t page = h.addr >> kPageShift;
    if (known >= 0) {
      scan = known == 1;
      s_.scanFromType++;
      pageScan_[page] = scan;
    } else if (auto it = pageScan_.find(page); it != pageScan_.end()) {
      scan = it->second;  // a one-page span holds one scan class
      s_.scanFromType++;
    } else {
      scan = true;
      s_.scanGuessed++;
    }
    if (auto it = live_.find(h.addr); it != live_.end()) {  // its free was never printed
      s_.reallocatedLive++;
      emit(Event::free(thread, it->second));
      live_.erase(it);
    }
    const uint64_t id = nextId_++;
    live_[h.addr] = id;
    emit(Event::alloc(thread, id, size, scan));
  }

  void free(const Header& h, uint16_t thread) {
    auto it = live_.find(h.addr);
    if (it == live_.end()) {
      s_.untracedFrees++;
      return;
    }
    s_.frees++;
    const Event e = Event::free(thread, it->second);
    const bool before = gcPending_ && it->second < segmentFirstId_;
    live_.erase(it);
    if (before) movedFrees_.push_back(e);  // found dead by the pending collection: written before it
    else emit(e);
  }

  void gc() {
    s_.gcs++;
    flushSegment();
    gcPending_ = true;
    segmentFirstId_ = nextId_;
  }

  // Writes the frees found dead by the pending gc, the gc, then what came after it.
  void flushSegment() {
    if (!gcPending_) return;
    for (const Event& e : movedFrees_) write(e);
    write(Event::gc());
    for (const Event& e : segment_) write(e);
    movedFrees_.clear();
    segment_.clear();
    gcPending_ = false;
  }

  void emit(const Event& e) {
    if (gcPending_) segment_.push_back(e);
    else write(e);
  }
  void write(const Event& e) {
    if (w_) w_->write(e);
  }

  std::string input_, path_;
  GoImportOptions o_;
  TraceWriter* w_;
  GoImportStats s_;
  std::unordered_map<uint64_t, uint64_t> live_;        // address -> id of the live object there
  std::unordered_map<uint64_t, bool> pageScan_;        // 8 KiB page -> scan class seen there
  std::unordered_map<uint64_t, uint32_t> goroutines_;  // goroutine id -> dense thread
  uint64_t nextId_ = 1, segmentFirstId_ = 0;
  bool gcPending_ = false;
  std::vector<Event> segment_, movedFrees_;
};

// Standard input copied to a temporary file (removed at the end, or by a fatal signal), so it can be read twice.
class SpooledStdin {
 public:
  SpooledStdin() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gomalloc-import-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw TraceError("-: cannot create a temporary file for standard input: " + std::string(std::strerror(errno)));
    path_ = tmpl;
    handle_ = registerTemporary(path_);
    std::vector<char> buf(size_t{1} << 20);
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw TraceError("-: cannot read standard input: " + std::string(std::strerror(errno)));
      if (n == 0) break;
      for (ssize_t at = 0; at < n;) {
        const ssize_t k = ::write(fd, buf.data() + at, size_t(n - at));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
          ::close(fd);
          throw TraceError("-: cannot copy standard input to " + path_ + ": " + std::strerror(errno));
        }
        at += k;
      }
    }
    ::close(fd);
  }
  ~SpooledStdin() {
    ::unlink(path_.c_str());
    unregisterTemporary(handle_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int handle_ = -1;
};

}  // namespace

int goTypeHasPointers(const std::string& type) {
  std::string_view t = type;
  if (t.empty()) return 0;  // mallocgc got no type: a raw, pointer-free allocation
  while (startsWith(t, "[") && !startsWith(t, "[]")) {  // [N]T: as T
    const size_t close = t.find(']');
    if (close == std::string_view::npos) return -1;
    t.remove_prefix(close + 1);
  }
  for (std::string_view p : {"*", "[]", "map[", "map.", "chan ", "chan<-", "<-chan", "func(", "interface {", "interface{",
                             "unsafe.Pointer", "string", "hchan"})
    if (startsWith(t, p)) return 1;
  for (std::string_view b : {"bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32",
                             "uint64", "uintptr", "float32", "float64", "complex64", "complex128"})
    if (t == b) return 0;
  return -1;
}

nlohmann::ordered_json goImportStatsJson(const GoImportStats& s) {
  return {{"lines", s.lines},
          {"records", s.records},
          {"allocs", s.allocs},
          {"frees", s.frees},
          {"gcs", s.gcs},
          {"requested_size_from_mallocgc", s.requestedFromFrame},
          {"rounded_size_used", s.roundedSize},
          {"scan_from_type_or_span", s.scanFromType},
          {"scan_guessed", s.scanGuessed},
          {"untraced_frees_dropped", s.untracedFrees},
          {"live_address_reallocated", s.reallocatedLive},
          {"foreign_lines_skipped", s.foreignLines},
          {"records_without_goroutine", s.framesMissing},
          {"goroutines", s.goroutines}};
}

GoImportStats importGoAllocFreeTrace(const std::string& path, const std::string& out, const GoImportOptions& o) {
  std::unique_ptr<SpooledStdin> spooled;
  if (path == "-") spooled = std::make_unique<SpooledStdin>();
  const std::string& input = spooled ? spooled->path() : path;
  // Pass 1 counts (and finds every error before anything is written); pass 2 writes.
  Importer count(input, path, o, nullptr);
  GoImportStats stats = count.run();
  TraceHeader h;
  h.meta = {{"source", "go-allocfreetrace"},
            {"input", path},
            {"threads", o.threads == GoImportOptions::Threads::Single ? "single" : "goroutine"},
            {"import", goImportStatsJson(stats)}};
  auto w = createWriter(out, h);
  Importer write(input, path, o, w.get());
  write.run();
  w->finish();
  return stats;
}

}  // namespace gomalloc::traces
