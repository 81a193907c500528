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
  text += allocRecord("0xc000010000", "0x20", "main.node", "1", "runtime.mallocgc(0x18, 0x479280, 0x1)");
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
  EXPECT_EQ(ev[0].size, 0x18u);  // requested, not rounded
  EXPECT_TRUE(ev[0].scan);       // main.node, no type facts: guessed, then its page's class for the next one
  EXPECT_EQ(ev[1].size, 5u);
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
  EXPECT_EQ(meta["import"]["scan_guessed"], 2);  // main.node and runtime.g

  GoImportOptions g;
  g.threads = GoImportOptions::Threads::Goroutine;
  importGoAllocFreeTrace(in, dir.file("g.jsonl"), g);
  auto rg = openTrace(dir.file("g.jsonl"), {});
  const std::vector<Event> eg = readAll(*rg);
  EXPECT_EQ(eg[0].thread, 0);
  EXPECT_EQ(eg[3].thread, 1);  // goroutine 7
  EXPECT_EQ(eg[4].thread, 2);  // the sweeping goroutine frees
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
