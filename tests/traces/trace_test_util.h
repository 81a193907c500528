// Helpers shared by the traces tests: temporary files, reading events from text, expecting errors.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "traces/loader.h"
#include "traces/reader.h"
#include "traces/writer.h"

namespace gomalloc::traces::testing {

// A directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("gomalloc-traces-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = file(name);
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<Event> readText(const std::string& name, const std::string& text, ReadOptions o = {}) {
  auto r = openTraceMemory(name, text, o);
  return readAll(*r);
}

// Reads (and, with load, loads) a trace held in text; returns the error message, or "" if there was none.
inline std::string errorOf(const std::string& name, const std::string& text, bool lenient = false, bool load = true) {
  try {
    ReadOptions ro;
    ro.lenient = lenient;
    auto r = openTraceMemory(name, text, ro);
    if (load) {
      LoadOptions lo;
      lo.lenient = lenient;
      loadProgram(*r, lo);
    } else {
      readAll(*r);
    }
  } catch (const TraceError& e) {
    return e.what();
  }
  return "";
}

// Writes events with a header into a string in format f.
inline std::string encode(const std::vector<Event>& events, Format f, const TraceHeader& h = {}) {
  std::string out;
  auto w = createWriter(stringSink(out), f, h);
  for (auto& e : events) w->write(e);
  w->finish();
  return out;
}

// Runs f with the .gmt group decoder (on a CPU that has it) and then with the portable one, which
// GOMALLOC_GMT_PORTABLE selects (traces/binary_reader.cpp).
template <class F>
void withBothGmtDecoders(F f) {
  for (bool portable : {false, true}) {
    SCOPED_TRACE(portable ? "portable decoder" : "group decoder");
    if (portable) setenv("GOMALLOC_GMT_PORTABLE", "1", 1);
    f();
    unsetenv("GOMALLOC_GMT_PORTABLE");
  }
}

// The file offset of the first block's kinds column in a .gmt file (docs/trace-format.md, "Binary encoding").
inline size_t gmtKinds(const std::string& bin) {
  size_t headerLen = size_t(uint8_t(bin[12])) | size_t(uint8_t(bin[13])) << 8 | size_t(uint8_t(bin[14])) << 16;
  return 16 + headerLen + 8 + 32;
}

inline bool sameEvents(const std::vector<Event>& a, const std::vector<Event>& b, std::string* why = nullptr) {
  if (a.size() != b.size()) {
    if (why) *why = "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); i++)
    if (!a[i].sameAs(b[i])) {
      if (why) {
        std::string x, y;
        appendEventJson(x, a[i]);
        appendEventJson(y, b[i]);
        *why = "event " + std::to_string(i) + ": " + x + " vs " + y;
      }
      return false;
    }
  return true;
}

// A JSON document trace around the given event lines (one per line, starting on line 3).
inline std::string doc(const std::vector<std::string>& events, const std::string& headerExtra = "") {
  std::string s = "{\"format\": \"gomalloc-trace\", \"version\": 1" + headerExtra + ",\n\"events\": [\n";
  for (size_t i = 0; i < events.size(); i++) s += events[i] + (i + 1 < events.size() ? ",\n" : "\n");
  return s + "]}\n";
}
// The same as JSON Lines (header on line 1, events from line 2).
inline std::string lines(const std::vector<std::string>& events, const std::string& headerExtra = "") {
  std::string s = "{\"format\": \"gomalloc-trace\", \"version\": 1" + headerExtra + "}\n";
  for (auto& e : events) s += e + "\n";
  return s;
}

}  // namespace gomalloc::traces::testing
