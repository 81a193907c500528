#include "traces/import_heaptrack.h"

#include <fmt/format.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "traces/error.h"
#include "traces/import.h"
#include "traces/writer.h"

namespace gomalloc::traces {
namespace {

constexpr uint64_t kFileVersion = 3;  // heaptrack 1.4's interpreted data file
constexpr uint64_t kNsPerMs = 1000000;

// The importer: a line at a time; events go to the writer (null in the counting pass).
class Importer {
 public:
  Importer(std::string input, std::string shown, const HeaptrackImportOptions& o, TraceWriter* w)
      : input_(std::move(input)), path_(std::move(shown)), o_(o), w_(w) {}

  HeaptrackImportStats run() {
    LineReader lines(openSniffed(input_));
    lines_ = &lines;
    std::string line;
    try {
      while (lines.next(line)) {
        s_.lines++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        record(line);
      }
    } catch (const TraceError&) {
      throw;
    } catch (const std::runtime_error& e) {  // the input: I/O or a corrupt compressed stream
      fail(lines.number() + 1, e.what());
    }
    if (s_.lines == 0) fail(1, "empty input: not a heaptrack data file");
    for (const Info& i : infos_) s_.liveAtEnd += i.live.size();
    lines_ = nullptr;
    return s_;
  }

 private:
  [[noreturn]] void fail(uint64_t line, const std::string& what) const {
    Where w;
    w.line = line;
    throw TraceError(path_, w, what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail(lines_->number(), what); }

  // The line's hex fields after its letter, into f_: at most max of them (then the rest of the line in rest).
  size_t fields(std::string_view line, size_t max, std::string_view* rest = nullptr) {
    f_.clear();
    size_t at = 1;
    while (at < line.size()) {
      if (line[at] != ' ') fail(fmt::format("'{}' line: expected a space at column {}: {}", line[0], at + 1, line));
      at++;
      if (f_.size() == max) {
        if (!rest) fail(fmt::format("'{}' line: more than {} field{}: {}", line[0], max, max == 1 ? "" : "s", line));
        *rest = line.substr(at);
        return f_.size();
      }
      uint64_t v = 0;
      size_t digits = 0;
      for (; at < line.size() && line[at] != ' '; at++, digits++) {
        const char c = line[at];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) fail(fmt::format("'{}' line: field {} is not a hex number: {}", line[0], f_.size() + 1, line));
        if (v >> 60) fail(fmt::format("'{}' line: field {} exceeds 64 bits: {}", line[0], f_.size() + 1, line));
        v = v << 4 | uint64_t(d);
      }
      if (digits == 0) fail(fmt::format("'{}' line: field {} is empty: {}", line[0], f_.size() + 1, line));
      f_.push_back(v);
    }
    if (rest) *rest = {};
    return f_.size();
  }
  void expect(std::string_view line, size_t got, size_t want, const char* what) {
    if (got != want) fail(fmt::format("'{}' line: expected {} ({} field{}), got {} field{}: {}", line[0], what, want,
                                      want == 1 ? "" : "s", got, got == 1 ? "" : "s", line));
  }
  // A reference to a numbered record: 1..count (0 too when zeroOk).
  void ref(std::string_view line, uint64_t v, uint64_t count, bool zeroOk, const char* what) {
    if (v > count || (v == 0 && !zeroOk))
      fail(fmt::format("'{}' line: {} {:#x} is not defined ({} so far): {}", line[0], what, v, count, line));
  }

  void record(std::string_view line) {
    if (line.empty()) {
      s_.emptyLines++;
      return;
    }
    if (!sawVersion_ && line[0] != 'v' && line[0] != '#')
      fail("not a heaptrack data file: it does not begin with a 'v VERSION FILEVERSION' line");
    if (line.size() > 1 && line[1] != ' ') fail(fmt::format("expected a space after the line type '{}': {}", line[0], line));
    std::string_view rest;
    const std::vector<uint64_t>& f = f_;
    switch (line[0]) {
      case '+': {
        const size_t n = fields(line, 3);
        if (n == 3) raw();
        expect(line, n, 1, "an allocation info index");
        if (f[0] >= infos_.size()) fail(fmt::format("'+' line: allocation info {:#x} is not defined ({} so far)", f[0], infos_.size()));
        alloc(infos_[f[0]]);
        return;
      }
      case '-': {
        const size_t n = fields(line, 1);
        expect(line, n, 1, "an allocation info index");
        if (f[0] >= infos_.size()) fail(fmt::format("'-' line: allocation info {:#x} is not defined ({} so far)", f[0], infos_.size()));
        free(infos_[f[0]]);
        return;
      }
      case 'a': {
        const size_t n = fields(line, 2);
        expect(line, n, 2, "a size and a trace index");
        ref(line, f[1], s_.traces, true, "trace");
        if (f[0] > kMaxSize) fail(fmt::format("'a' line: size {} exceeds the trace format's 2^40", f[0]));
        infos_.push_back(Info{f[0], {}});
        s_.allocInfos++;
        return;
      }
      case 't': {
        const size_t n = fields(line, 2);
        expect(line, n, 2, "an instruction pointer index and a parent trace index");
        ref(line, f[0], s_.ips, false, "instruction pointer");
        ref(line, f[1], s_.traces, true, "parent trace");
        s_.traces++;
        return;
      }
      case 'i': {  // address, module, then FUNCTION alone or FUNCTION FILE LINE per (inlined) frame
        const size_t n = fields(line, SIZE_MAX);
        if (n < 2 || (n != 3 && (n - 2) % 3 != 0))
          fail(fmt::format("'i' line: expected an address, a module, then FUNCTION or FUNCTION FILE LINE per frame, "
                           "got {} fields: {}", n, line));
        ref(line, f_[1], s_.strings, true, "module string");
        for (size_t k = 2; k < n; k++)
          if ((k - 2) % 3 != 2) ref(line, f_[k], s_.strings, true, (k - 2) % 3 ? "file string" : "function string");
        s_.ips++;
        return;
      }
      case 's':
      case 'S': {
        const size_t n = fields(line, 1, &rest);
        expect(line, n, 1, "a length and a text");
        if (f[0] != rest.size())
          fail(fmt::format("'{}' line: length {:#x} does not match the text's {} bytes: {}", line[0], f[0], rest.size(), line));
        if (line[0] == 's') s_.strings++;
        else s_.suppressions++;
        return;
      }
      case 'c': {
        const size_t n = fields(line, 1);
        expect(line, n, 1, "elapsed milliseconds");
        s_.timeLines++;
        if (f[0] < s_.lastTimeMs) s_.timeBackwards++;
        else s_.lastTimeMs = f[0];
        return;
      }
      case 'R':
        expect(line, fields(line, 1), 1, "the resident set size in pages");
        s_.rssLines++;
        return;
      case 'I':
        expect(line, fields(line, 2), 2, "a page size and a page count");
        s_.pageSize = f[0], s_.physicalPages = f[1];
        return;
      case 'v': {
        const size_t n = fields(line, 2);
        expect(line, n, 2, "heaptrack's version and the file format's");
        if (f[1] != kFileVersion)
          fail(fmt::format("file format version {} (heaptrack {}.{}.{}): only version {} (heaptrack 1.4) is known", f[1],
                           f[0] >> 16, f[0] >> 8 & 0xff, f[0] & 0xff, kFileVersion));
        s_.heaptrackVersion = f[0], s_.fileVersion = f[1];
        sawVersion_ = true;
        return;
      }
      case 'X':
        s_.command = std::string(line.size() > 2 ? line.substr(2) : "");
        return;
      case 'A':
        s_.attached++;
        return;
      case '#':
        s_.comments++;
        return;
      case 'x':
      case 'm':
        raw();
      default:
        fail(fmt::format("unknown line type '{}': {}", line[0], line));
    }
  }

  [[noreturn]] void raw() {
    fail("a raw heaptrack file (heaptrack -r): interpret it first, e.g. zstd -dc FILE | "
         "/usr/lib/heaptrack/libexec/heaptrack_interpret | zstd -c >FILE.zst");
  }

  struct Info {
    uint64_t size;
    std::vector<uint64_t> live;  // ids of the live objects of this info, oldest first
  };

  uint64_t ts() {
    if (s_.timeLines == 0) s_.eventsBeforeFirstTime++;
    return s_.lastTimeMs * kNsPerMs;
  }

  void alloc(Info& info) {
    s_.allocs++;
    s_.scanAssumed++;
    const uint64_t id = nextId_++;
    info.live.push_back(id);
    if (w_) w_->write(Event::alloc(0, id, info.size, o_.scan).at(ts()));
    else ts();
  }

  void free(Info& info) {
    if (info.live.empty()) {
      s_.unmatchedFrees++;
      return;
    }
    s_.frees++;
    s_.freesPairedByChoice += info.live.size() > 1;
    const uint64_t id = info.live.back();
    info.live.pop_back();
    if (w_) w_->write(Event::free(0, id).at(ts()));
    else ts();
  }

  std::string input_, path_;
  HeaptrackImportOptions o_;
  TraceWriter* w_;
  LineReader* lines_ = nullptr;
  HeaptrackImportStats s_;
  std::vector<Info> infos_;
  std::vector<uint64_t> f_;  // the fields of the line being read
  uint64_t nextId_ = 1;
  bool sawVersion_ = false;
};

}  // namespace

nlohmann::ordered_json heaptrackImportStatsJson(const HeaptrackImportStats& s) {
  return {{"lines", s.lines},
          {"allocs", s.allocs},
          {"frees", s.frees},
          {"allocation_infos", s.allocInfos},
          {"trace_nodes", s.traces},
          {"instruction_pointers", s.ips},
          {"strings", s.strings},
          {"time_lines", s.timeLines},
          {"last_time_ms", s.lastTimeMs},
          {"events_before_first_time", s.eventsBeforeFirstTime},
          {"time_went_backwards", s.timeBackwards},
          {"rss_lines_skipped", s.rssLines},
          {"frees_paired_lifo_by_choice", s.freesPairedByChoice},
          {"unmatched_frees_dropped", s.unmatchedFrees},
          {"scan_assumed", s.scanAssumed},
          {"attached", s.attached},
          {"suppressions_skipped", s.suppressions},
          {"comments_skipped", s.comments},
          {"empty_lines_skipped", s.emptyLines},
          {"live_at_end", s.liveAtEnd}};
}

HeaptrackImportStats importHeaptrack(const std::string& path, const std::string& out, const HeaptrackImportOptions& o) {
  const ImportInput in(path);
  // Pass 1 counts (and finds every error before anything is written); pass 2 writes.
  const HeaptrackImportStats stats = Importer(in.path(), path, o, nullptr).run();
  TraceHeader h;
  h.threads = 1;
  h.meta = {{"source", "heaptrack"},
            {"input", path},
            {"command", stats.command},
            {"heaptrack", fmt::format("{}.{}.{}, file format {}", stats.heaptrackVersion >> 16,
                                      stats.heaptrackVersion >> 8 & 0xff, stats.heaptrackVersion & 0xff,
                                      stats.fileVersion)},
            {"threads", "unknown"},
            {"clock", "ns"},
            {"times", "coarse: each event's ts is the last heaptrack time line before it (1 ms units, written about "
                      "every 10 ms), 0 before the first"},
            {"scan", o.scan ? "assumed: every object holds pointers (native allocations carry no pointer information)"
                            : "assumed: every object is pointer-free (native allocations carry no pointer information)"},
            {"free_pairing", "a free takes the newest live object of its allocation info (LIFO)"},
            {"import", heaptrackImportStatsJson(stats)}};
  auto w = createWriter(out, h);
  Importer(in.path(), path, o, w.get()).run();
  w->finish();
  return stats;
}

}  // namespace gomalloc::traces
