#include "traces/import_go.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "traces/error.h"
#include "traces/import.h"

namespace gomalloc::traces {
namespace {

constexpr uint64_t kPageShift = 13;  // Go's 8 KiB pages: one-page spans share one scan/noscan class

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

// Go 1.19's size classes (runtime/sizeclasses.go): the object size of classes 1..67.
constexpr uint32_t kClassSizes[] = {8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,  160,
                                    176,   192,   208,   224,   240,   256,   288,   320,   352,   384,   416,  448,
                                    480,   512,   576,   640,   704,   768,   896,   1024,  1152,  1280,  1408, 1536,
                                    1792,  2048,  2304,  2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144, 6528,
                                    6784,  6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
                                    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};
constexpr uint64_t kMaxSmall = 32768, kTinyBlock = 16;

// Whether mallocgc(requested) gives an object of the rounded size: the same size class, or both large.
bool sameClass(uint64_t requested, uint64_t rounded) {
  if (requested > rounded) return false;
  if (rounded > kMaxSmall) return requested > kMaxSmall;
  if (rounded == kTinyBlock) return requested >= 1;  // a 16 B object, or a tiny block opened by 1-15 B
  const uint32_t* c = std::lower_bound(std::begin(kClassSizes), std::end(kClassSizes), uint32_t(rounded));
  if (c == std::end(kClassSizes) || *c != rounded) return false;  // not a class size
  return c == std::begin(kClassSizes) ? requested >= 1 : requested > c[-1];
}

bool digits(std::string_view s, size_t& i) {
  const size_t from = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
  return i > from;
}

// Where a line of the runtime's own diagnostics starts in s at or after from (npos if none): gctrace's
// "gc N @T.TTTs N%: ... N P", the pacer's "pacer: " and the scavenger's "scav N ...". Such a line is
// written with its own '\n', so it runs to the end of s.
size_t foreignStart(std::string_view s, size_t from = 0) {
  for (size_t at = from; at < s.size(); at++) {
    const std::string_view r = s.substr(at);
    if (r[0] == 'g' && startsWith(r, "gc ")) {
      size_t i = 3;
      if (digits(r, i) && startsWith(r.substr(i), " @") && (i += 2, digits(r, i)) && r.find("%: ", i) != r.npos &&
          r.size() >= 2 && r.substr(r.size() - 2) == " P")
        return at;
    } else if (r[0] == 'p' && startsWith(r, "pacer: ")) {
      return at;
    } else if (r[0] == 's' && startsWith(r, "scav ") && r.size() > 5 && r[5] >= '0' && r[5] <= '9') {
      return at;
    }
  }
  return std::string_view::npos;
}

// Where a record header starts inside a line that does not begin with one (npos if none).
size_t headerInside(std::string_view s) {
  size_t best = std::string_view::npos;
  for (std::string_view p : {"tracealloc(0x", "tracefree(0x", "tracegc()"}) best = std::min(best, s.find(p));
  return best;
}

// The importer: a record at a time; events go to a callback (null in the counting pass).
class Importer {
 public:
  // input: the file read; shown: its name in messages ("-" for standard input). settled: in the writing pass,
  // the counting pass's verdict for each scan guess in order (-1 still a guess, 0 pointer-free, 1 pointers).
  Importer(std::string input, std::string shown, const GoImportOptions& o, TraceWriter* w,
           const std::vector<int8_t>* settled = nullptr)
      : input_(std::move(input)), path_(std::move(shown)), o_(o), w_(w), settled_(settled) {}

  GoImportStats run() {
    LineReader lines(openSniffed(input_));
    lines_ = &lines;
    std::string line;
    try {
      while (next(line)) {
        Header h = parseHeader(line);
        if (h.kind == Header::None && !line.empty()) {
          if (const size_t at = headerInside(line); at != std::string::npos) {  // foreign text, then a record
            s_.headersAfterForeign++;
            h = parseHeader(std::string_view(line).substr(at));
          }
        }
        if (h.malformed) fail(lines.number(), "malformed record header: " + line);
        if (h.kind == Header::None) {
          s_.foreignLines += !line.empty();
          continue;
        }
        s_.records++;
        if (h.kind == Header::Gc) {
          bool ended = false;
          while (next(line))
            if (line == "end tracegc") {
              ended = true;
              break;
            }
          s_.unterminated += !ended;
          gc();
          continue;
        }
        record(h, line);
      }
    } catch (const TraceError&) {
      throw;
    } catch (const std::runtime_error& e) {  // the input: I/O or a corrupt compressed stream
      fail(lines.number() + 1, e.what());
    }
    flushSegment();
    s_.goroutines = goroutines_.size();
    lines_ = nullptr;
    return s_;
  }

  // After the counting pass: each scan guess settled by a later object of its span, or still a guess; the
  // stats then count what the writing pass will write.
  std::vector<int8_t> settle() {
    std::vector<int8_t> v(guessSpans_.size(), -1);
    for (size_t k = 0; k < v.size(); k++) {
      v[k] = spans_[find(guessSpans_[k])].scan;
      if (v[k] < 0) continue;
      s_.scanGuessed--;
      s_.scanSettledLater++;
      s_.tinyBlocks += v[k] == 0 && guessSizes_[k] < kTinyBlock;
    }
    return v;
  }
  const GoImportStats& stats() const { return s_; }

 private:
  [[noreturn]] void fail(uint64_t line, const std::string& what) const {
    Where w;
    w.line = line;
    throw TraceError(path_, w, what);
  }

  // The next line, '\r' dropped, with the runtime's diagnostics that other threads wrote into its middle cut
  // out and the line rejoined with its rest (which follows the diagnostics' own '\n').
  bool next(std::string& line) {
    if (pushedBack_) {
      pushedBack_ = false;
      line.swap(pending_);
      return true;
    }
    if (!lines_->next(line)) return false;
    s_.lines++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (size_t at = line.size() > 1 ? foreignStart(line, 1) : std::string::npos; at != std::string::npos;
         at = foreignStart(line, at)) {
      if (!lines_->next(pending_)) {  // the input ends after the diagnostics
        line.resize(at);
        s_.splicedLines++;
        break;
      }
      s_.lines++;
      if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
      if (parseHeader(pending_).kind != Header::None) {  // a record starts: the line was not broken
        line.resize(at);
        s_.splicedLines++;
        pushedBack_ = true;
        break;
      }
      line.resize(at);
      line += pending_;
      s_.splicedLines++;
      if (at == 0) break;
    }
    return true;
  }

  // The rest of an alloc or free record: the goroutine header and the frames, up to an empty line.
  void record(const Header& h, std::string& line) {
    uint64_t goroutine = 0, requested = 0;
    bool sawGoroutine = false, haveRequested = false, stopLooking = false, ended = false;
    while (next(line)) {
      if (line.empty()) {
        ended = true;
        break;
      }
      if (line[0] == '\t') continue;  // a frame's file and line
      if (foreignStart(line) == 0) {  // a whole line of diagnostics between two of the record's
        s_.foreignLines++;
        continue;
      }
      if (!sawGoroutine && startsWith(line, "goroutine ")) {
        goroutine = std::strtoull(line.c_str() + 10, nullptr, 10);
        sawGoroutine = true;
      } else if (line == "...additional frames elided...") {
        s_.framesElided++;
      } else if (!haveRequested && !stopLooking && line[0] == 'r') {
        if (startsWith(line, "runtime.systemstack_switch(")) {
          stopLooking = true;  // allocated on the system stack: a deeper mallocgc is an outer call's
        } else if (startsWith(line, "runtime.mallocgc(")) {
          std::string_view s = std::string_view(line).substr(17);
          haveRequested = hex(s, requested);
        }
      }
    }
    s_.unterminated += !ended;
    if (!sawGoroutine) s_.framesMissing++;
    const uint16_t thread = threadOf(goroutine, lines_->number());
    if (h.kind == Header::Alloc) alloc(h, thread, requested, haveRequested);
    else free(h, thread);
  }

  uint16_t threadOf(uint64_t goroutine, uint64_t line) {
    auto [it, added] = goroutines_.try_emplace(goroutine, uint32_t(goroutines_.size()));
    if (o_.threads == GoImportOptions::Threads::Single) return 0;
    if (it->second > 65535) fail(line, "more than 65536 goroutines: import with --threads single");
    (void)added;
    return uint16_t(it->second);
  }

  // Spans as far as the addresses show them: a small object's 8 KiB pages belong to one span, which holds one
  // size class and one scan class until all its objects are dead (then the runtime may free it and reuse its
  // pages for any class). An object across two pages joins their spans (multi-page spans).
  struct Span {
    uint32_t parent;
    int8_t scan = -1;  // unknown
    uint64_t rounded = 0, live = 0;
  };
  uint32_t find(uint32_t s) {
    while (spans_[s].parent != s) s = spans_[s].parent = spans_[spans_[s].parent].parent;
    return s;
  }
  uint32_t newSpan(uint64_t rounded) {
    const uint32_t id = uint32_t(spans_.size());
    spans_.push_back(Span{id, -1, rounded, 0});
    return id;
  }
  // The span of a small object at addr (rounded size), one made when its pages show none that can hold it.
  uint32_t spanOf(uint64_t addr, uint64_t rounded) {
    const uint64_t first = addr >> kPageShift, last = (addr + rounded - 1) >> kPageShift;
    uint32_t span = UINT32_MAX;
    for (uint64_t p = first; p <= last; p++) {
      uint32_t here = UINT32_MAX;
      if (auto it = pages_.find(p); it != pages_.end()) {
        const uint32_t r = find(it->second);
        if (spans_[r].rounded == rounded && spans_[r].live > 0) here = r;  // the same span, still in use
      }
      if (span == UINT32_MAX) {
        span = here != UINT32_MAX ? here : newSpan(rounded);
      } else if (here != UINT32_MAX && here != span) {  // two pages of one object: one span
        spans_[here].parent = span;
        spans_[span].live += spans_[here].live;
        if (spans_[span].scan < 0) spans_[span].scan = spans_[here].scan;
      }
      pages_[p] = span;
    }
    return span;
  }

  void alloc(const Header& h, uint16_t thread, uint64_t requested, bool fromFrame) {
    s_.allocs++;
    uint64_t size = h.size;
    if (fromFrame && sameClass(requested, h.size)) {
      size = requested;
      s_.requestedFromFrame++;
    } else {
      s_.roundedSize++;
      s_.requestedOtherClass += fromFrame;
    }
    int scan = goTypeHasPointers(h.type);
    uint32_t span = UINT32_MAX;
    if (h.size <= kMaxSmall) span = spanOf(h.addr, h.size);
    if (scan >= 0) {
      s_.scanFromType++;
      if (span != UINT32_MAX) {
        if (spans_[span].scan >= 0 && spans_[span].scan != scan) {  // the pages were reused unseen
          s_.scanConflicts++;
          span = newSpan(h.size);
          for (uint64_t p = h.addr >> kPageShift; p <= (h.addr + h.size - 1) >> kPageShift; p++) pages_[p] = span;
        }
        spans_[span].scan = int8_t(scan);
      }
    } else if (h.size == kTinyBlock && fromFrame && requested <= 8) {
      scan = 0;  // a pointer-free request of at most 8 B is given 16 B only as a tiny block
      s_.scanFromTinySize++;
      if (span != UINT32_MAX && spans_[span].scan < 0) spans_[span].scan = 0;
    } else if (span != UINT32_MAX && spans_[span].scan >= 0) {
      scan = spans_[span].scan;  // a span holds one scan class
      s_.scanFromSpan++;
    } else {
      s_.scanGuessed++;
      const size_t k = guessSpans_.size();
      guessSpans_.push_back(span == UINT32_MAX ? newSpan(h.size) : span);
      guessSizes_.push_back(size);
      scan = settled_ && k < settled_->size() && (*settled_)[k] >= 0 ? (*settled_)[k] : 1;
    }
    if (scan == 0 && size < kTinyBlock) {  // mallocgc's tiny allocator: this request opened a new block
      size = kTinyBlock;
      s_.tinyBlocks++;
    }
    if (span != UINT32_MAX) spans_[span].live++;
    if (auto it = live_.find(h.addr); it != live_.end()) {  // its free was never printed
      s_.reallocatedLive++;
      release(it->second.span);
      emit(Event::free(thread, it->second.id));
      live_.erase(it);
    }
    const uint64_t id = nextId_++;
    live_[h.addr] = Live{id, span};
    emit(Event::alloc(thread, id, size, scan == 1));
  }

  void release(uint32_t span) {
    if (span == UINT32_MAX) return;
    Span& s = spans_[find(span)];
    if (s.live) s.live--;
  }

  void free(const Header& h, uint16_t thread) {
    auto it = live_.find(h.addr);
    if (it == live_.end()) {
      s_.untracedFrees++;
      return;
    }
    s_.frees++;
    release(it->second.span);
    const Event e = Event::free(thread, it->second.id);
    const bool before = gcPending_ && it->second.id < segmentFirstId_;
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

  struct Live {
    uint64_t id;
    uint32_t span;
  };
  std::string input_, path_;
  GoImportOptions o_;
  TraceWriter* w_;
  const std::vector<int8_t>* settled_;
  LineReader* lines_ = nullptr;
  std::string pending_;
  bool pushedBack_ = false;
  GoImportStats s_;
  std::unordered_map<uint64_t, Live> live_;            // address -> the live object there
  std::unordered_map<uint64_t, uint32_t> pages_;       // 8 KiB page -> its span (as last seen)
  std::vector<Span> spans_;
  std::vector<uint32_t> guessSpans_;                   // each scan guess's span, in order
  std::vector<uint64_t> guessSizes_;                   // and its size
  std::unordered_map<uint64_t, uint32_t> goroutines_;  // goroutine id -> dense thread
  uint64_t nextId_ = 1, segmentFirstId_ = 0;
  bool gcPending_ = false;
  std::vector<Event> segment_, movedFrees_;
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
          {"requested_size_other_class", s.requestedOtherClass},
          {"tiny_blocks", s.tinyBlocks},
          {"scan_from_type", s.scanFromType},
          {"scan_from_tiny_size", s.scanFromTinySize},
          {"scan_from_span", s.scanFromSpan},
          {"scan_settled_later", s.scanSettledLater},
          {"scan_guessed", s.scanGuessed},
          {"scan_class_conflicts", s.scanConflicts},
          {"untraced_frees_dropped", s.untracedFrees},
          {"live_address_reallocated", s.reallocatedLive},
          {"foreign_lines_skipped", s.foreignLines},
          {"foreign_text_cut_from_lines", s.splicedLines},
          {"headers_after_foreign_text", s.headersAfterForeign},
          {"records_with_frames_elided", s.framesElided},
          {"unterminated_last_record", s.unterminated},
          {"records_without_goroutine", s.framesMissing},
          {"goroutines", s.goroutines}};
}

GoImportStats importGoAllocFreeTrace(const std::string& path, const std::string& out, const GoImportOptions& o) {
  const ImportInput in(path);
  const std::string& input = in.path();
  // Pass 1 counts (and finds every error before anything is written); pass 2 writes.
  Importer count(input, path, o, nullptr);
  GoImportStats stats = count.run();
  const std::vector<int8_t> settled = count.settle();
  stats = count.stats();
  TraceHeader h;
  h.meta = {{"source", "go-allocfreetrace"},
            {"input", path},
            {"threads", o.threads == GoImportOptions::Threads::Single ? "single" : "goroutine"},
            {"import", goImportStatsJson(stats)}};
  auto w = createWriter(out, h);
  Importer write(input, path, o, w.get(), &settled);
  write.run();
  w->finish();
  return stats;
}

}  // namespace gomalloc::traces
