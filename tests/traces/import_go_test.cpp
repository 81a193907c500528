// gomalloc import go-allocfreetrace on hand-written records in the runtime's grammar (Go 1.19): requested
// sizes from the innermost mallocgc frame, the system-stack case, pointer-free inference, frees moved before
// the gc that found them dead, untraced frees dropped, foreign lines skipped, goroutines as threads.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/import_go.h"
#include "traces/reader.h"

namespace gomalloc::traces {
namespace {

using testing::TempDir;

std::string allocRecord(const std::string& addr, const std::string& size, const std::string& type,
                        const std::string& goroutine, const std::string& firstFrame) {
  std::string r = "tracealloc(" + addr + ", " + size + (type.empty() ? "" : ", " + type) + ")\n";
  r += "goroutine " + goroutine + " [running]:\n";
  r += firstFrame + "\n\t/usr/lib/go-1.19/src/runtime/malloc.go:1131 +0x7b1 fp=0x1 sp=0x2 pc=0x3\n";
  r += "runtime.mallocgc(0x999, 0x479280, 0x1)\n\t/usr/lib/go-1.19/src/runtime/malloc.go:1131 +0x7b1\n";  // outer
  r += "main.main()\n\t/home/user/main.go:164 +0x1a5\n\n";
  return r;
}

std::string freeRecord(const std::string& addr, const std::string& size, const std::string& goroutine) {
  return "tracefree(" + addr + ", " + size + ")\ngoroutine " + goroutine +
         " [running]:\nruntime.sweepone()\n\t/usr/lib/go-1.19/src/runtime/mgcsweep.go:577\n\n";
}

const char* kGc = "tracegc()\n\ngoroutine 2 [force gc (idle)]:\nruntime.gopark(0x0?)\n\nend tracegc\n\n";

TEST(ImportGo, RecordsBecomeEventsWithTheirRepairsCounted) {
  TempDir dir;
  std::string text = "some output of the program\n";
  text += allocRecord("0xc000010000", "0x20", "main.node", "1", "runtime.mallocgc(0x1c, 0x479280, 0x1)");
  text += allocRecord("0xc000020000", "0x10", "", "1", "runtime.mallocgc(0x5, 0x0, 0x0)");
  text += allocRecord("0xc000030000", "0x60", "runtime.g", "1", "runtime.systemstack_switch()");
  text += allocRecord("0xc000010020", "0x20", "*main.node", "7", "runtime.mallocgc(0x20, 0x479280, 0x1)");
  text += "gc 1 @0.228s 1%: 0.01+0.2+0.01 ms clock\n";
  text += kGc;
  text += freeRecord("0xc000010000", "0x20", "3");      // found dead by gc 1: written before it
  text += freeRecord("0xc0000f0000", "0x20", "3");      // never traced as allocated: dropped
  text += allocRecord("0xc000040000", "0x30", "[4]int", "1", "runtime.mallocgc(0x30, 0x1, 0x0)");
  const std::string in = dir.write("trace.txt", text), out = dir.file("t.jsonl");

  const GoImportStats s = importGoAllocFreeTrace(in, out, GoImportOptions{});
  EXPECT_EQ(s.allocs, 5u);
  EXPECT_EQ(s.frees, 1u);
  EXPECT_EQ(s.gcs, 1u);
  EXPECT_EQ(s.untracedFrees, 1u);
  EXPECT_EQ(s.requestedFromFrame, 4u);
  EXPECT_EQ(s.roundedSize, 1u);  // the system-stack allocation: the deeper mallocgc is not its own
  EXPECT_EQ(s.foreignLines, 2u);
  EXPECT_EQ(s.goroutines, 3u);

  auto r = openTrace(out, {});
  const std::vector<Event> ev = readAll(*r);
  ASSERT_EQ(ev.size(), 7u);
  EXPECT_EQ(ev[0].op, Op::Alloc);
  EXPECT_EQ(ev[0].size, 0x1cu);  // requested, not rounded
  EXPECT_TRUE(ev[0].scan);       // main.node: settled by *main.node, later in the same page
  EXPECT_EQ(ev[1].size, 16u);    // a pointer-free 5 B request opened a tiny block
  EXPECT_FALSE(ev[1].scan);      // untyped: pointer-free
  EXPECT_EQ(ev[2].size, 0x60u);
  EXPECT_TRUE(ev[3].scan);       // *main.node
  EXPECT_EQ(ev[4].op, Op::Free); // moved before the gc that found it dead
  EXPECT_EQ(ev[4].id, ev[0].id);
  EXPECT_EQ(ev[5].op, Op::Gc);
  EXPECT_EQ(ev[6].op, Op::Alloc);
  EXPECT_FALSE(ev[6].scan);  // [4]int
  for (const Event& e : ev) EXPECT_EQ(e.thread, 0) << "single is the default";
  const auto& meta = r->header().meta;
  EXPECT_EQ(meta["source"], "go-allocfreetrace");
  EXPECT_EQ(meta["import"]["untraced_frees_dropped"], 1);
  EXPECT_EQ(meta["import"]["scan_guessed"], 1);  // runtime.g
  EXPECT_EQ(meta["import"]["scan_settled_later"], 1);  // main.node
  EXPECT_EQ(meta["import"]["tiny_blocks"], 1);

  GoImportOptions g;
  g.threads = GoImportOptions::Threads::Goroutine;
  importGoAllocFreeTrace(in, dir.file("g.jsonl"), g);
  auto rg = openTrace(dir.file("g.jsonl"), {});
  const std::vector<Event> eg = readAll(*rg);
  EXPECT_EQ(eg[0].thread, 0);
  EXPECT_EQ(eg[3].thread, 1);  // goroutine 7
  EXPECT_EQ(eg[4].thread, 2);  // the sweeping goroutine frees
}

const char* kGctrace = "gc 2 @0.228s 1%: 0.01+0.2+0.01 ms clock, 0.02+0/0.1/0+0.03 ms cpu, 4->4->0 MB, 5 MB goal, 0 MB "
                       "stacks, 0 MB globals, 2 P";

// The quirks of real recordings (docs/trace-format.md, "Importing Go programs' traces"), one input each.
TEST(ImportGo, QuirksAreRepairedAndCounted) {
  struct Case {
    const char* name;
    std::string text;
    uint64_t allocs, frees, gcs;
    const char* stat;  // a meta.import count
    uint64_t statValue;
    uint64_t firstSize;  // the first alloc's size (0: none)
  };
  const std::string a = allocRecord("0xc000010000", "0x20", "*main.node", "1", "runtime.mallocgc(0x1c, 0x1, 0x1)");
  const std::string b = allocRecord("0xc000020000", "0x30", "", "1", "runtime.mallocgc(0x2a, 0x0, 0x0)");
  std::string spliced = a;  // gctrace in the middle of a frame, the rest of the line after its '\n'
  spliced.replace(spliced.find("0x1c, 0x1"), 4, std::string("0x1") + kGctrace + "\nc");  // mallocgc(0x1<gc..>\nc,
  std::string atEnd = a;  // gctrace at the end of a line: its '\n' then the line's own
  atEnd.replace(atEnd.find("+0x1a5"), 6, std::string("+0x1a5") + kGctrace + "\n");
  std::string inHeader = a;
  inHeader.replace(inHeader.find("0x20,"), 5, std::string("0x2") + kGctrace + "\n0,");
  std::string wholeLine = a;  // a whole gctrace line between the header and the goroutine
  wholeLine.replace(wholeLine.find("goroutine"), 0, std::string(kGctrace) + "\n");
  std::string pacer = a;
  pacer.replace(pacer.find("0x1c, 0x1"), 4, "0x1cpacer: assist ratio=+1.0e+000 (scan 0 MB in 4->4 MB) workers=1++0.0\n");
  std::string elided = a;
  elided.replace(elided.find("\n\n"), 1, "\n...additional frames elided...\ncreated by main.main\n\t/home/u/m.go:3 +0x1\n");
  std::string unterminated = b + a.substr(0, a.size() - 1);  // no empty line at the end
  const std::vector<Case> cases = {
      {"gctrace spliced into a frame", spliced + b, 2, 0, 0, "foreign_text_cut_from_lines", 1, 0x1c},
      {"gctrace at the end of a frame line", atEnd + b, 2, 0, 0, "foreign_text_cut_from_lines", 1, 0x1c},
      {"gctrace spliced into the header", inHeader + b, 2, 0, 0, "foreign_text_cut_from_lines", 1, 0x1c},
      {"a whole gctrace line inside a record", wholeLine + b, 2, 0, 0, "foreign_lines_skipped", 1, 0x1c},
      {"pacer spliced into mallocgc's frame", pacer + b, 2, 0, 0, "foreign_text_cut_from_lines", 1, 0x1c},
      {"foreign text before a header", "hello" + a + b, 2, 0, 0, "headers_after_foreign_text", 1, 0x1c},
      {"elided frames and created by", elided + b, 2, 0, 0, "records_with_frames_elided", 1, 0x1c},
      {"a last record without its empty line", unterminated, 2, 0, 0, "unterminated_last_record", 1, 0x2a},
      {"a tracegc cut by the end", a + "tracegc()\n\ngoroutine 2 [idle]:\n", 1, 0, 1, "unterminated_last_record", 1, 0x1c},
      {"frees of untraced early objects", freeRecord("0xc000000100", "0x10", "1") + a + freeRecord("0xc000010000", "0x20", "1"),
       1, 1, 0, "untraced_frees_dropped", 1, 0x1c},
      {"a live address allocated again", a + a, 2, 0, 0, "live_address_reallocated", 1, 0x1c},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const std::string in = dir.write("t.txt", c.text), out = dir.file("t.jsonl");
    const GoImportStats s = importGoAllocFreeTrace(in, out, GoImportOptions{});
    EXPECT_EQ(s.allocs, c.allocs);
    EXPECT_EQ(s.frees, c.frees);
    EXPECT_EQ(s.gcs, c.gcs);
    EXPECT_EQ(s.framesMissing, 0u);
    auto r = openTrace(out, {});
    const std::vector<Event> ev = readAll(*r);
    EXPECT_EQ(r->header().meta["import"][c.stat], c.statValue) << r->header().meta["import"].dump();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev[0].size, c.firstSize);
  }
}

// Pointer-free or not for named types: the span's other objects, earlier or later; a span whose objects all died
// may be reused for another class; a 16 B object for a request of at most 8 B is a tiny block.
TEST(ImportGo, NamedTypesTakeTheirSpansClass) {
  TempDir dir;
  std::string text;
  text += allocRecord("0xc000010000", "0x20", "main.a", "1", "runtime.mallocgc(0x20, 0x1, 0x1)");  // settled later
  text += allocRecord("0xc000010020", "0x20", "", "1", "runtime.mallocgc(0x20, 0x0, 0x0)");        // untyped: noscan
  text += allocRecord("0xc000010040", "0x20", "main.b", "1", "runtime.mallocgc(0x20, 0x1, 0x1)");  // from the span
  text += allocRecord("0xc000030000", "0x10", "main.c", "1", "runtime.mallocgc(0x4, 0x1, 0x1)");   // tiny
  text += allocRecord("0xc000040000", "0x30", "main.d", "1", "runtime.mallocgc(0x30, 0x1, 0x1)");
  text += kGc;
  text += freeRecord("0xc000040000", "0x30", "1");  // the span's only object dies: the page may be reused
  text += allocRecord("0xc000040000", "0x40", "main.e", "1", "runtime.mallocgc(0x40, 0x1, 0x1)");   // a guess
  text += allocRecord("0xc000040040", "0x40", "*int", "1", "runtime.mallocgc(0x40, 0x1, 0x1)");     // settles e
  const std::string in = dir.write("t.txt", text), out = dir.file("t.jsonl");
  const GoImportStats s = importGoAllocFreeTrace(in, out, GoImportOptions{});
  EXPECT_EQ(s.scanSettledLater, 2u);
  EXPECT_EQ(s.scanFromSpan, 1u);
  EXPECT_EQ(s.scanFromTinySize, 1u);
  EXPECT_EQ(s.scanGuessed, 1u);  // main.d: its span never showed its class
  auto r = openTrace(out, {});
  const std::vector<Event> ev = readAll(*r);
  ASSERT_EQ(ev.size(), 9u);
  EXPECT_FALSE(ev[0].scan);
  EXPECT_FALSE(ev[2].scan);
  EXPECT_FALSE(ev[3].scan);
  EXPECT_EQ(ev[3].size, 16u);
  EXPECT_TRUE(ev[4].scan);  // guessed
  EXPECT_EQ(ev[5].op, Op::Free);
  EXPECT_EQ(ev[6].op, Op::Gc);
  EXPECT_TRUE(ev[7].scan);  // main.e, settled by *int
  EXPECT_EQ(r->header().meta["import"]["scan_guessed"], 1);
}

TEST(ImportGo, TypeStringsDecidePointers) {
  struct Case {
    const char* type;
    int want;
  };
  for (const Case& c : std::vector<Case>{{"", 0},
                                         {"*main.node", 1},
                                         {"map.bucket[string]runtime.metricData", 1},
                                         {"string", 1},
                                         {"[]uint8", 1},
                                         {"uint8", 0},
                                         {"[16]uint64", 0},
                                         {"[2]*int", 1},
                                         {"main.node", -1},
                                         {"struct { a int }", -1}})
    EXPECT_EQ(goTypeHasPointers(c.type), c.want) << c.type;
}

TEST(ImportGo, AMalformedHeaderNamesTheFileAndLine) {
  TempDir dir;
  const std::string in = dir.write("bad.txt", "hello\ntracealloc(0xc0000, size)\n");
  try {
    importGoAllocFreeTrace(in, dir.file("t.json"), GoImportOptions{});
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.json")));
}

}  // namespace
}  // namespace gomalloc::traces
