#include "traces/import.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "traces/error.h"
#include "traces/import_go.h"
#include "traces/import_heaptrack.h"
#include "traces/output.h"

namespace gomalloc::traces {

bool LineReader::next(std::string& line) {
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

std::unique_ptr<Input> openSniffed(const std::string& path) {
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

ImportInput::ImportInput(const std::string& path) : shown_(path) {
  if (path != "-") return;
  std::string tmpl = (std::filesystem::temp_directory_path() / "gomalloc-import-XXXXXX").string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw TraceError("-: cannot create a temporary file for standard input: " + std::string(std::strerror(errno)));
  spooled_ = tmpl;
  handle_ = registerTemporary(spooled_);
  std::vector<char> buf(size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw TraceError("-: cannot read standard input: " + std::string(std::strerror(errno)));
    }
    if (n == 0) break;
    for (ssize_t at = 0; at < n;) {
      const ssize_t k = ::write(fd, buf.data() + at, size_t(n - at));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        ::close(fd);
        throw TraceError("-: cannot copy standard input to " + spooled_ + ": " + std::strerror(errno));
      }
      at += k;
    }
  }
  ::close(fd);
}

ImportInput::~ImportInput() {
  if (spooled_.empty()) return;
  ::unlink(spooled_.c_str());
  unregisterTemporary(handle_);
}

const std::vector<ImportFormat>& importFormats() {
  static const std::vector<ImportFormat> formats = {
      {"go-allocfreetrace",
       "the stderr of a Go <= 1.22 program run with GODEBUG=allocfreetrace=1",
       "The program's standard error (plain, .zst or .gz; - for standard input)",
       {{"threads", "single (default: one thread) or goroutine (one thread per goroutine)", {"single", "goroutine"},
         "single"}},
       [](const std::string& in, const std::string& out, const std::map<std::string, std::string>& o) {
         GoImportOptions io;
         io.threads = o.at("threads") == "goroutine" ? GoImportOptions::Threads::Goroutine
                                                     : GoImportOptions::Threads::Single;
         const GoImportStats s = importGoAllocFreeTrace(in, out, io);
         return fmt::format("{} allocs, {} frees, {} gc to {} ({} untraced frees dropped, {} sizes rounded, {} scan "
                            "guesses, {} foreign lines skipped, {} lines rejoined)",
                            s.allocs, s.frees, s.gcs, out, s.untracedFrees, s.roundedSize, s.scanGuessed,
                            s.foreignLines, s.splicedLines);
       }},
      {"heaptrack",
       "a heaptrack recording (heaptrack 1.4's data file; no thread ids; times in about 10 ms steps)",
       "The data file heaptrack wrote (plain, .zst or .gz; - for standard input)",
       {{"scan", "pointers (default: every object holds pointers) or none (every object is pointer-free); native "
                 "allocations carry no pointer information",
         {"pointers", "none"}, "pointers"}},
       [](const std::string& in, const std::string& out, const std::map<std::string, std::string>& o) {
         HeaptrackImportOptions io;
         io.scan = o.at("scan") == "pointers";
         const HeaptrackImportStats s = importHeaptrack(in, out, io);
         return fmt::format("{} allocs, {} frees to {} ({} frees paired by choice (LIFO), {} unmatched frees dropped, "
                            "{} live at the end; no thread ids: all on thread 0; ts from {} time lines, 1 ms units)",
                            s.allocs, s.frees, out, s.freesPairedByChoice, s.unmatchedFrees, s.liveAtEnd, s.timeLines);
       }},
  };
  return formats;
}

}  // namespace gomalloc::traces
