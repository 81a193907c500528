// gomalloc import heaptrack on hand-written data files in heaptrack 1.4's grammar (file format 3): every line type,
// frees paired LIFO within an allocation info, ts from the time lines, plain/.zst/.gz/standard input, and every
// kind of malformed line as a TraceError naming the file and line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/traces/trace_test_util.h"
#include "traces/error.h"
#include "traces/import_heaptrack.h"
#include "traces/io.h"
#include "traces/reader.h"

namespace gomalloc::traces {
namespace {

using testing::slurp;
using testing::TempDir;

// Every line type heaptrack 1.4 writes (as found in its recordings), in the order it writes them.
const char* kHead =
    "v 10400 3\n"
    "X ./prog --flag\n"
    "I 1000 5e293f\n"
    "S 8 leak:foo\n"
    "s b /tmp/a/prog\n"    // 1: module
    "s 4 main\n"           // 2: function
    "s 6 prog.c\n"         // 3: file
    "s 9 do things\n"      // 4: a string with a space
    "i 5633c78de1e7 1\n"                  // 1: address and module only
    "i 5633c78de1fc 1 2\n"                // 2: function without file and line
    "i 5633c78de211 1 2 3 1a\n"           // 3: function, file, line
    "i 5633c78de224 1 4 3 4a 2 3 1a\n"    // 4: with an inlined frame
    "t 1 0\n"                             // 1
    "t 2 1\n"                             // 2
    "t 4 2\n";                            // 3

std::string body() {
  return std::string(kHead) +
         "a 18 1\n"   // info 0: 24 B
         "+ 0\n"      // id 1
         "+ 0\n"      // id 2
         "a 0 3\n"    // info 1: 0 B
         "+ 1\n"      // id 3
         "c 2\n"
         "- 0\n"      // id 2 (LIFO; by choice: two were live)
         "R 427\n"
         "\n"
         "A\n"
         "a 186a0 2\n"  // info 2: 100000 B
         "+ 2\n"        // id 4
         "- 2\n"        // id 4 (the only one)
         "- 2\n"        // none live: dropped
         "c 1\n"        // backwards: 2 kept
         "c c\n"
         "- 0\n"        // id 1
         "# strings: 4\n"
         "# ips: 4";    // no '\n' at the end
}

void checkBody(const std::string& out) {
  auto r = openTrace(out, {});
  const std::vector<Event> ev = readAll(*r);
  ASSERT_EQ(ev.size(), 7u);
  const uint64_t ms = 1000000;
  struct Want {
    Op op;
    uint64_t id, size, ts;
  };
  const std::vector<Want> want = {{Op::Alloc, 1, 24, 0},       {Op::Alloc, 2, 24, 0},      {Op::Alloc, 3, 0, 0},
                                  {Op::Free, 2, 0, 2 * ms},    {Op::Alloc, 4, 100000, 2 * ms},
                                  {Op::Free, 4, 0, 2 * ms},    {Op::Free, 1, 0, 12 * ms}};
  for (size_t k = 0; k < want.size(); k++) {
    SCOPED_TRACE(k);
    EXPECT_EQ(ev[k].op, want[k].op);
    EXPECT_EQ(ev[k].id, want[k].id);
    if (ev[k].op == Op::Alloc) {
      EXPECT_EQ(ev[k].size, want[k].size);
      EXPECT_TRUE(ev[k].scan) << "pointers is the default";
    }
    EXPECT_TRUE(ev[k].hasTs);
    EXPECT_EQ(ev[k].ts, want[k].ts);
    EXPECT_EQ(ev[k].thread, 0);
  }
  const auto& meta = r->header().meta;
  EXPECT_EQ(meta["source"], "heaptrack");
  EXPECT_EQ(meta["threads"], "unknown");
  EXPECT_EQ(meta["command"], "./prog --flag");
  EXPECT_EQ(meta["heaptrack"], "1.4.0, file format 3");
  EXPECT_EQ(r->header().threads, 1u);
  const auto& im = meta["import"];
  EXPECT_EQ(im["lines"], 34);
  EXPECT_EQ(im["allocs"], 4);
  EXPECT_EQ(im["frees"], 3);
  EXPECT_EQ(im["allocation_infos"], 3);
  EXPECT_EQ(im["trace_nodes"], 3);
  EXPECT_EQ(im["instruction_pointers"], 4);
  EXPECT_EQ(im["strings"], 4);
  EXPECT_EQ(im["time_lines"], 3);
  EXPECT_EQ(im["last_time_ms"], 12);
  EXPECT_EQ(im["events_before_first_time"], 3);
  EXPECT_EQ(im["time_went_backwards"], 1);
  EXPECT_EQ(im["rss_lines_skipped"], 1);
  EXPECT_EQ(im["frees_paired_lifo_by_choice"], 1);
  EXPECT_EQ(im["unmatched_frees_dropped"], 1);
  EXPECT_EQ(im["scan_assumed"], 4);
  EXPECT_EQ(im["attached"], 1);
  EXPECT_EQ(im["suppressions_skipped"], 1);
  EXPECT_EQ(im["comments_skipped"], 2);
  EXPECT_EQ(im["empty_lines_skipped"], 1);
  EXPECT_EQ(im["live_at_end"], 1);
}

TEST(ImportHeaptrack, EveryLineTypeIsReadAndCounted) {
  TempDir dir;
  const std::string in = dir.write("prog.ht", body()), out = dir.file("t.jsonl");
  const HeaptrackImportStats s = importHeaptrack(in, out, HeaptrackImportOptions{});
  EXPECT_EQ(s.allocs, 4u);
  EXPECT_EQ(s.frees, 3u);
  EXPECT_EQ(s.command, "./prog --flag");
  EXPECT_EQ(s.pageSize, 0x1000u);
  checkBody(out);
}

TEST(ImportHeaptrack, ScanNoneWritesPointerFreeObjects) {
  TempDir dir;
  const std::string in = dir.write("prog.ht", body()), out = dir.file("t.gmt");
  HeaptrackImportOptions o;
  o.scan = false;
  importHeaptrack(in, out, o);
  auto r = openTrace(out, {});
  for (const Event& e : readAll(*r)) EXPECT_FALSE(e.scan);
  EXPECT_NE(r->header().meta["scan"].get<std::string>().find("pointer-free"), std::string::npos);
}

// Standard input as the importer sees it: fd 0 replaced by the file for the call.
HeaptrackImportStats importFromStdin(const std::string& file, const std::string& out) {
  const int saved = ::dup(STDIN_FILENO);
  const int fd = ::open(file.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  ::dup2(fd, STDIN_FILENO);
  ::close(fd);
  HeaptrackImportStats s;
  try {
    s = importHeaptrack("-", out, HeaptrackImportOptions{});
  } catch (...) {
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
    throw;
  }
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  return s;
}

TEST(ImportHeaptrack, PlainZstdGzipAndStdinGiveTheSameTrace) {
  TempDir dir;
  const std::string text = body();
  dir.write("prog", text);
  for (Compression c : {Compression::Zstd, Compression::Gzip}) {  // named without a suffix: found by magic bytes
    auto sink = compress(fileSink(dir.file(c == Compression::Zstd ? "prog-z" : "prog-g")), c);
    sink->write(text.data(), text.size());
    sink->finish();
  }
  for (const char* name : {"prog", "prog-z", "prog-g"}) {
    SCOPED_TRACE(name);
    importHeaptrack(dir.file(name), dir.file(std::string(name) + ".json"), HeaptrackImportOptions{});
    checkBody(dir.file(std::string(name) + ".json"));
    importFromStdin(dir.file(name), dir.file(std::string(name) + "-stdin.json"));
    checkBody(dir.file(std::string(name) + "-stdin.json"));
  }
}

TEST(ImportHeaptrack, MalformedInputNamesTheFileAndLine) {
  struct Case {
    const char* name;
    std::string text;
    uint64_t line;
    const char* message;  // a part of it
  };
  const std::string v = "v 10400 3\n";
  const std::vector<Case> cases = {
      {"no version line", "X ./prog\n+ 0\n", 1, "not a heaptrack data file"},
      {"a Go trace", "tracealloc(0xc000010000, 0x20)\n", 1, "not a heaptrack data file"},
      {"a newer file format", "v 10500 4\n", 1, "file format version 4 (heaptrack 1.5.0)"},
      {"a raw file (heaptrack -r)", v + "x b /tmp/htx/ra\n", 2, "raw heaptrack file"},
      {"a raw allocation", v + "+ a 8 5633efb571d0\n", 2, "raw heaptrack file"},
      {"an unknown line type", v + "q 1\n", 2, "unknown line type 'q'"},
      {"no space after the type", v + "+0\n", 2, "expected a space after the line type '+'"},
      {"not hex", v + "a 1g 0\n", 2, "field 1 is not a hex number"},
      {"an empty field", v + "a 10  0\n", 2, "field 2 is empty"},
      {"more than 64 bits", v + "c 10000000000000000\n", 2, "exceeds 64 bits"},
      {"too many fields", v + "a 10 0 0\n", 2, "more than 2 fields"},
      {"too few fields", v + "a 10\n", 2, "expected a size and a trace index"},
      {"an allocation of an undefined info", v + "a 10 0\n+ 1\n", 3, "allocation info 0x1 is not defined"},
      {"a free of an undefined info", v + "- 0\n", 2, "allocation info 0x0 is not defined"},
      {"an info of an undefined trace", v + "a 10 1\n", 2, "trace 0x1 is not defined"},
      {"a trace of an undefined ip", v + "t 1 0\n", 2, "instruction pointer 0x1 is not defined"},
      {"a trace of an undefined parent", v + "i 10 0\nt 1 1\n", 3, "parent trace 0x1 is not defined"},
      {"an ip of an undefined string", v + "i 10 1\n", 2, "module string 0x1 is not defined"},
      {"an ip with a partial frame", v + "s 1 a\ni 10 1 1 1\n", 3, "FUNCTION FILE LINE per frame"},
      {"a string of the wrong length", v + "s 5 main\n", 2, "length 0x5 does not match the text's 4 bytes"},
      {"a trace of ip 0", v + "t 0 0\n", 2, "instruction pointer 0x0 is not defined"},
      {"a size beyond 2^40", v + "a 10000000001 0\n", 2, "exceeds the trace format's 2^40"},
      {"an empty file", "", 1, "empty input"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const std::string in = dir.write("bad.ht", c.text), out = dir.file("t.json");
    try {
      importHeaptrack(in, out, HeaptrackImportOptions{});
      ADD_FAILURE() << "no error";
    } catch (const TraceError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("bad.ht"), std::string::npos) << m;
      EXPECT_NE(m.find("line " + std::to_string(c.line)), std::string::npos) << m;
      EXPECT_NE(m.find(c.message), std::string::npos) << m;
    }
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST(ImportHeaptrack, ACorruptCompressedStreamNamesTheFile) {
  TempDir dir;
  std::string text = body();
  auto sink = compress(fileSink(dir.file("prog.zst")), Compression::Zstd);
  sink->write(text.data(), text.size());
  sink->finish();
  std::string z = slurp(dir.file("prog.zst"));
  z.resize(z.size() / 2);  // truncated
  const std::string in = dir.write("cut.zst", z);
  try {
    importHeaptrack(in, dir.file("t.json"), HeaptrackImportOptions{});
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.zst"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.json")));
}

}  // namespace
}  // namespace gomalloc::traces
