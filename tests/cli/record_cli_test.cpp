// gomalloc record on real programs, recorded at test time: Debian's python3 (threads, PYTHONMALLOC=malloc) and
// sort, which no one here wrote, and tests/cli/record_program.cpp, whose allocations are known exactly. Every
// trace validates, replays on every backend that is available, and compare runs on it.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tests/cli/cli_test_util.h"
#include "traces/reader.h"

namespace gomalloc::testing {
namespace {

const std::string kProgram = GOMALLOC_RECORD_PROGRAM;
const char* kPython = "/usr/bin/python3";

// validate, replay on each backend (the preloaded ones where installed and not under a sanitizer), compare.
void checkTraceEverywhere(const std::string& trace, const ScratchDir& dir) {
  RunResult v = gomalloc("validate " + trace, dir);
  EXPECT_EQ(v.code, 0) << v.err;
  for (const char* a : {"go", "system", "null", "jemalloc", "tcmalloc", "mimalloc"}) {
    const bool preloaded = std::string(a) != "go" && std::string(a) != "system" && std::string(a) != "null";
    if (preloaded && kSanitized) continue;
    RunResult r = gomalloc(fmt::format("replay {} --allocator {} --quiet --format json -o /dev/null", trace, a), dir);
    if (preloaded && r.code != 0 && r.err.find("not installed") != std::string::npos) continue;
    EXPECT_EQ(r.code, 0) << a << "\n" << r.err;
  }
  RunResult c = gomalloc(fmt::format("compare {} --allocator go --allocator system --quiet", trace), dir);
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("system"), std::string::npos) << c.out;
}

nlohmann::ordered_json recordMeta(const std::string& trace) {
  auto r = traces::openTrace(trace);
  traces::Event e;
  while (!r->headerComplete() && r->next(e)) {
  }
  return r->header().meta["record"];
}

TEST(RecordCli, ThreadsThatFreeEachOthersObjectsAreCountedExactly) {
  ScratchDir dir("record-threads");
  const std::string trace = (dir / "prog.gmt").string();
  RunResult rec = gomalloc("record -o " + trace + " -- " + kProgram + " threads", dir);
  ASSERT_EQ(rec.code, 0) << rec.err;
  EXPECT_NE(rec.err.find("recorded " + kProgram + " threads: "), std::string::npos) << rec.err;

  // Per marker size: allocs and frees, and the trace threads that did them.
  struct Seen {
    uint64_t allocs = 0, frees = 0;
    std::map<uint16_t, uint64_t> allocThreads, freeThreads;
  };
  std::map<uint64_t, Seen> bySize;
  std::map<uint64_t, uint64_t> sizeOf;
  auto r = traces::openTrace(trace);
  for (const traces::Event& e : traces::readAll(*r)) {
    if (e.op == traces::Op::Alloc) {
      sizeOf[e.id] = e.size;
      Seen& s = bySize[e.size];
      s.allocs++, s.allocThreads[e.thread]++;
    } else if (e.op == traces::Op::Free) {
      Seen& s = bySize[sizeOf.at(e.id)];
      s.frees++, s.freeThreads[e.thread]++;
    }
  }
  constexpr int kThreads = 4, kObjects = 500, kReallocs = 100;
  std::map<int, uint16_t> threadOf;  // program thread -> trace thread
  for (int t = 0; t < kThreads; t++) {
    ASSERT_EQ(bySize[1000 + t].allocThreads.size(), 1u) << t;
    threadOf[t] = bySize[1000 + t].allocThreads.begin()->first;
  }
  for (int t = 0; t < kThreads; t++) {
    const uint16_t mine = threadOf[t], next = threadOf[(t + 1) % kThreads];
    EXPECT_NE(mine, next);
    for (int base : {1000, 2000, 4000, 5000, 6000}) {  // handed to the next thread, which frees them
      const Seen& s = bySize[uint64_t(base + t)];
      EXPECT_EQ(s.allocs, uint64_t(kObjects)) << base + t;
      EXPECT_EQ(s.frees, uint64_t(kObjects)) << base + t;
      EXPECT_EQ(s.allocThreads, (std::map<uint16_t, uint64_t>{{mine, kObjects}})) << base + t;
      EXPECT_EQ(s.freeThreads, (std::map<uint16_t, uint64_t>{{next, kObjects}})) << base + t;
    }
    for (int base : {3000, 3100}) {  // realloc'ed and freed by the same thread
      const Seen& s = bySize[uint64_t(base + t)];
      EXPECT_EQ(s.allocThreads, (std::map<uint16_t, uint64_t>{{mine, kReallocs}})) << base + t;
      EXPECT_EQ(s.freeThreads, (std::map<uint16_t, uint64_t>{{mine, kReallocs}})) << base + t;
    }
  }
  auto meta = recordMeta(trace);
  EXPECT_GE(meta["threads"].get<int>(), kThreads);  // the main thread too, if it allocated
  EXPECT_GE(meta["entries"]["new"].get<int>(), kThreads * kObjects);
  EXPECT_EQ(meta["entries"]["new_aligned"].get<int>(), kThreads * kObjects);
  EXPECT_EQ(meta["entries"]["delete_aligned"].get<int>(), kThreads * kObjects);
  EXPECT_GE(meta["entries"]["aligned"].get<int>(), kThreads * kObjects);
  EXPECT_GE(meta["entries"]["calloc"].get<int>(), kThreads * kObjects);
  EXPECT_GE(meta["entries"]["realloc"].get<int>(), kThreads * kReallocs);
  EXPECT_EQ(meta["lost_events"], 0);
  EXPECT_EQ(meta["end"], "exit");
  EXPECT_EQ(meta["command"], nlohmann::ordered_json::array({kProgram, "threads"}));

  RunResult info = gomalloc("info " + trace, dir);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("source             " + kProgram + " threads\n"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("record             command [\""), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("duration_ns "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("unknown_frees "), std::string::npos) << info.out;
  checkTraceEverywhere(trace, dir);
}

TEST(RecordCli, PythonWithThreads) {
  if (!std::filesystem::exists(kPython)) GTEST_SKIP() << kPython << " is not installed";
  ScratchDir dir("record-python");
  const std::string trace = (dir / "py.gmt").string();
  const std::string script =
      "import threading\n"
      "def work(n):\n"
      "    d = {}\n"
      "    for i in range(n):\n"
      "        d[str(i)] = [i] * (i % 7)\n"
      "        if i % 3 == 0: d.pop(str(i // 2), None)\n"
      "ts = [threading.Thread(target=work, args=(8000,)) for _ in range(2)]\n"
      "for t in ts: t.start()\n"
      "work(2000)\n"
      "for t in ts: t.join()\n";
  spit(dir / "work.py", script);
  RunResult rec = runShell("PYTHONMALLOC=malloc '" GOMALLOC_BINARY "' record -o " + trace + " -- " + kPython + " " +
                               (dir / "work.py").string(),
                           dir);
  ASSERT_EQ(rec.code, 0) << rec.err;
  auto meta = recordMeta(trace);
  EXPECT_GE(meta["threads"].get<int>(), 3);
  EXPECT_GT(meta["allocs"].get<int>(), 20000);
  EXPECT_EQ(meta["lost_events"], 0);
  EXPECT_EQ(meta["end"], "exit");
  checkTraceEverywhere(trace, dir);
}

TEST(RecordCli, SortOnAGeneratedFile) {
  ScratchDir dir("record-sort");
  std::mt19937_64 rng(1);
  std::string text;
  for (int i = 0; i < 50000; i++) text += fmt::format("{} line {}\n", rng() % 100000, rng());
  spit(dir / "in.txt", text);
  const std::string trace = (dir / "sort.jsonl.zst").string();
  RunResult rec = gomalloc(fmt::format("record -o {} -- sort -n {} -o {}", trace, (dir / "in.txt").string(),
                                       (dir / "out.txt").string()),
                           dir);
  ASSERT_EQ(rec.code, 0) << rec.err;
  EXPECT_EQ(slurp(dir / "out.txt").size(), text.size());
  auto meta = recordMeta(trace);
  EXPECT_GT(meta["allocs"].get<int>(), 10);
  EXPECT_EQ(meta["end"], "exit");
  checkTraceEverywhere(trace, dir);
}

// What the program allocated, by size.
std::map<uint64_t, uint64_t> allocsBySize(const std::string& trace) {
  std::map<uint64_t, uint64_t> n;
  auto r = traces::openTrace(trace);
  for (const traces::Event& e : traces::readAll(*r))
    if (e.op == traces::Op::Alloc) n[e.size]++;
  return n;
}

TEST(RecordCli, ExitAndSignalsStillWriteTheTraceAndPassTheStatusOn) {
  ScratchDir dir("record-exit");
  const std::string t1 = (dir / "exit.gmt").string(), t2 = (dir / "signal.gmt").string();
  RunResult a = gomalloc("record -o " + t1 + " -- " + kProgram + " _exit", dir);
  EXPECT_EQ(a.code, 3) << a.err;
  EXPECT_NE(a.err.find("gomalloc: record: " + kProgram + " exited with status 3"), std::string::npos) << a.err;
  EXPECT_EQ(recordMeta(t1)["end"], "_exit");
  EXPECT_EQ(allocsBySize(t1)[7003], 1u);
  RunResult b = gomalloc("record -o " + t2 + " -- " + kProgram + " signal", dir);
  EXPECT_EQ(b.code, 128 + 15) << b.err;
  EXPECT_EQ(recordMeta(t2)["end"], "signal 15 (SIGTERM)");
  EXPECT_EQ(allocsBySize(t2)[7004], 1u);
}

TEST(RecordCli, ForksAreFollowedOnlyWhenAsked) {
  ScratchDir dir("record-fork");
  const std::string t = (dir / "f.gmt").string();
  RunResult a = gomalloc("record -o " + t + " -- " + kProgram + " fork", dir);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(allocsBySize(t)[7001], 1u);
  EXPECT_EQ(allocsBySize(t).count(7002), 0u);
  size_t files = 0;
  for (auto& f : std::filesystem::directory_iterator(dir.path())) files += f.path().extension() == ".gmt";
  EXPECT_EQ(files, 1u);

  const std::string t2 = (dir / "g.gmt").string();
  RunResult b = gomalloc("record --follow-forks -o " + t2 + " -- " + kProgram + " fork", dir);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(allocsBySize(t2)[7001], 1u);
  EXPECT_EQ(allocsBySize(t2).count(7002), 0u);
  std::string child;
  for (auto& f : std::filesystem::directory_iterator(dir.path()))
    if (f.path().filename().string().starts_with("g.") && f.path() != t2) child = f.path().string();
  ASSERT_FALSE(child.empty()) << b.err;
  EXPECT_EQ(allocsBySize(child)[7002], 1u);
  EXPECT_EQ(allocsBySize(child).count(7001), 0u);
  EXPECT_EQ(recordMeta(child)["forked"], true);
  EXPECT_EQ(gomalloc("validate " + child, dir).code, 0);
}

TEST(RecordCli, BadCommandsAreRefused) {
  ScratchDir dir("record-bad");
  RunResult a = gomalloc("record -o " + (dir / "x.gmt").string(), dir);
  EXPECT_EQ(a.code, 2) << a.err;
  RunResult b = gomalloc("record -o " + (dir / "x.gmt").string() + " -- /nonexistent/prog", dir);
  EXPECT_EQ(b.code, 2) << b.err;
  EXPECT_NE(b.err.find("gomalloc: record: cannot start /nonexistent/prog: No such file or directory"), std::string::npos)
      << b.err;
  RunResult c = gomalloc("record -o " + (dir / "x.txt").string() + " -- true", dir);
  EXPECT_EQ(c.code, 2) << c.err;
  EXPECT_NE(c.err.find("x.txt: unknown trace suffix"), std::string::npos) << c.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gmt"));
}

}  // namespace
}  // namespace gomalloc::testing
