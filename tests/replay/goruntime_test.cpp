// The go-runtime backend: traces replayed in the real Go 1.19 runtime (gomalloc-goruntime, built next to the
// gomalloc binary when Go 1.19 is installed), checked against the Go model at every gc event with GOGC=off.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "replay/factory.h"
#include "replay/goruntime_backend.h"
#include "replay/replayer.h"
#include "traces/generate.h"
#include "traces/loader.h"

namespace gomalloc::replay {
namespace {

// The child program, or "" when Go 1.19 was not installed at build time.
std::string childProgram() {
  try {
    return findGoRuntimeProgram(GOMALLOC_BINARY);
  } catch (const GoRuntimeError&) {
    return "";
  }
}

#define REQUIRE_GO_RUNTIME(program)                                                                               \
  const std::string program = childProgram();                                                                     \
  if (program.empty()) GTEST_SKIP() << "gomalloc-goruntime is not built: Go 1.19 (Debian golang-1.19-go) was not " \
                                       "installed when this tree was configured"

traces::ReplayProgram generated(const char* kind, uint64_t events, uint32_t threads, uint64_t gcEvery) {
  traces::GenOptions o;
  o.kind = kind;
  o.events = events;
  o.threads = threads;
  o.gcEvery = gcEvery;
  traces::ProgramBuilder b(std::string("gen:") + kind);
  traces::generate(o, [&b](const traces::Event& e) { b.add(e); });
  return b.finish();
}

Result onRuntime(const traces::ReplayProgram& prog, const std::string& program, const std::string& gogc = "off",
                 int procs = 1) {
  GoRuntimeOptions g;
  g.program = program;
  g.procs = procs;
  g.gogc = gogc;
  g.rssIntervalMs = 0;
  return runGoRuntime(prog, g);
}

Result onModel(const traces::ReplayProgram& prog) {
  core::Config cfg;
  cfg.gogc = -1;
  auto backend = makeBackend("go", 1, cfg);
  Options o;
  o.procs = 1;
  o.deterministic = true;
  o.rssIntervalMs = 0;
  return run(prog, *backend, o);
}

std::vector<HeapFigures> gcFigures(const Result& r) {
  std::vector<HeapFigures> out;
  for (auto& p : r.timeline)
    if (p.kind == TimelinePoint::Kind::Gc && p.heap) out.push_back(*p.heap);
  return out;
}

// Allocations per size class as the model counts them (tiny allocations in class 2, as the runtime does).
std::vector<uint64_t> modelClassAllocs(const Result& r) {
  std::vector<uint64_t> out(r.go->classes.size());
  for (size_t spc = 0; spc < r.go->spanClasses.size(); spc++) out[spc >> 1] += r.go->spanClasses[spc].mallocs;
  return out;
}

// Checks the runtime against the model at every gc event. slack: objects the runtime may have allocated for
// itself during the replay (HeapObjects and HeapAlloc above the model's by at most slack 8-byte objects).
void expectSameHeap(const traces::ReplayProgram& prog, const std::string& program, uint64_t slack) {
  const Result rt = onRuntime(prog, program), model = onModel(prog);
  ASSERT_TRUE(rt.runtime);
  EXPECT_FALSE(rt.go);  // no cache-level statistics: the runtime does not have them
  const HeapFigures base = rt.runtime->baseline;
  EXPECT_GT(base.heapObjects, 0u);  // the runtime's own objects and the replay program's slot table

  // GOGC=off: one collection per gc event, each forced.
  EXPECT_EQ(rt.runtime->numGC - rt.runtime->baselineNumGC, prog.gcBarriers);
  EXPECT_EQ(rt.runtime->numForcedGC - rt.runtime->baselineNumForcedGC, prog.gcBarriers);
  EXPECT_TRUE(rt.runtime->pacerGcEvents.empty());
  EXPECT_EQ(rt.pacerStops, 0u);

  const auto a = gcFigures(rt), b = gcFigures(model);
  ASSERT_EQ(a.size(), prog.gcBarriers);
  ASSERT_EQ(b.size(), prog.gcBarriers);
  for (size_t i = 0; i < a.size(); i++) {
    SCOPED_TRACE("gc event " + std::to_string(i));
    ASSERT_GE(a[i].heapObjects, base.heapObjects + b[i].heapObjects);
    EXPECT_LE(a[i].heapObjects - base.heapObjects - b[i].heapObjects, slack);
    ASSERT_GE(a[i].heapAlloc, base.heapAlloc + b[i].heapAlloc);
    EXPECT_LE(a[i].heapAlloc - base.heapAlloc - b[i].heapAlloc, 8 * slack);
    if (slack == 0) {
      EXPECT_EQ(a[i].heapInuse - base.heapInuse, b[i].heapInuse);
    }
  }

  // Per-class allocation counts: the trace's, counted as Go does (equal to the model's).
  const std::vector<uint64_t> want = modelClassAllocs(model);
  ASSERT_EQ(rt.classCounts.size(), want.size());
  for (size_t c = 1; c < want.size(); c++) EXPECT_EQ(rt.classCounts[c].allocs, want[c]) << "class " << c;
  EXPECT_EQ(rt.allocs, model.allocs);
  EXPECT_EQ(rt.frees, model.frees);
  EXPECT_EQ(rt.gcEvents, prog.gcBarriers);
  // MemStats.BySize agrees with the trace in every class above the tiny one (the runtime's own allocations
  // during the replay are a handful of small objects).
  for (size_t c = 3; c < rt.runtime->bySize.size() && c < want.size(); c++)
    EXPECT_LE(rt.runtime->bySize[c].allocs - want[c], slack) << "class " << c;
}

TEST(GoRuntime, TinyTraceMatchesTheModelAtEveryGcEvent) {
  REQUIRE_GO_RUNTIME(program);
  expectSameHeap(traces::loadProgram(GOMALLOC_SOURCE_DIR "/examples/tiny.json"), program, 0);
}

TEST(GoRuntime, SteadyTraceMatchesTheModelAtEveryGcEvent) {
  REQUIRE_GO_RUNTIME(program);
  // With one P the child replays every thread's ops in the trace's order on one goroutine, and its heap is
  // prepared before the baseline (docs/design.md): the same objects, bytes and spans as the model's.
  expectSameHeap(generated("steady", 20000, 1, 2000), program, 0);
  expectSameHeap(generated("steady", 20000, 4, 2000), program, 0);
}

TEST(GoRuntime, GoroutinesOnSeveralPsInterleaveButCountsAreExact) {
  REQUIRE_GO_RUNTIME(program);
  const traces::ReplayProgram prog = generated("steady", 20000, 4, 2000);
  const Result rt = onRuntime(prog, program, "off", 2), model = onModel(prog);
  EXPECT_EQ(rt.runtime->numGC - rt.runtime->baselineNumGC, prog.gcBarriers);
  EXPECT_EQ(rt.allocs, model.allocs);
  EXPECT_EQ(rt.liveObjects, model.liveObjects);
  const std::vector<uint64_t> want = modelClassAllocs(model);
  for (size_t c = 1; c < want.size(); c++) EXPECT_EQ(rt.classCounts[c].allocs, want[c]) << "class " << c;
  ASSERT_EQ(rt.procStats.size(), 2u);
  EXPECT_EQ(rt.procStats[0].threads.size(), 2u);
}

TEST(GoRuntime, PacerCollectionsAreRecordedWithTheirEvent) {
  REQUIRE_GO_RUNTIME(program);
  // No gc events, GOGC=10 and a live set that grows: the runtime's pacer starts collections by itself.
  const traces::ReplayProgram prog = generated("web", 50000, 1, 0);
  const Result rt = onRuntime(prog, program, "10");
  const uint64_t cycles = rt.runtime->numGC - rt.runtime->baselineNumGC;
  EXPECT_GT(cycles, 0u);
  EXPECT_EQ(rt.runtime->numForcedGC, rt.runtime->baselineNumForcedGC);
  EXPECT_EQ(rt.pacerStops, cycles);
  ASSERT_FALSE(rt.runtime->pacerGcEvents.empty());
  EXPECT_LE(rt.runtime->pacerGcEvents.size(), cycles);
  for (size_t i = 1; i < rt.runtime->pacerGcEvents.size(); i++)
    EXPECT_LT(rt.runtime->pacerGcEvents[i - 1], rt.runtime->pacerGcEvents[i]);
  EXPECT_LE(rt.runtime->pacerGcEvents.back(), prog.events);
  // One mark start per listed cycle, paired: each mark began after the cycle before ended, and before its own end
  // (the mark of cycle n is named by the child, so a mark no alloc saw does not shift the pairs after it).
  ASSERT_EQ(rt.pacerGcStarts.size(), rt.runtime->pacerGcEvents.size());
  for (size_t i = 0; i < rt.pacerGcStarts.size(); i++) {
    EXPECT_LE(rt.pacerGcStarts[i], rt.runtime->pacerGcEvents[i]) << i;
    if (i > 0) {
      EXPECT_GE(rt.pacerGcStarts[i], rt.runtime->pacerGcEvents[i - 1]) << i;
    }
  }
  // Each paced cycle's cons/mark estimate, from GODEBUG=gcpacertrace=1: the first paced cycle's is 0 (the setup
  // measured none); at most one per cycle; at least one cycle measured a non-zero one.
  const std::vector<double>& cm = rt.runtime->consMarks;
  ASSERT_FALSE(cm.empty());
  EXPECT_LE(cm.size(), cycles);
  EXPECT_EQ(cm.front(), 0.0);
  EXPECT_TRUE(std::any_of(cm.begin(), cm.end(), [](double x) { return x != 0; }));
  // The first paced cycle's heap scan work: at least the scan work of the objects the replay program made.
  ASSERT_TRUE(rt.runtime->firstPacedScanWork.has_value());
  EXPECT_GE(*rt.runtime->firstPacedScanWork, rt.runtime->baselineScanBytes);
  // The stacks' and globals' scan work, from the same lines: the replay program has goroutines and globals.
  ASSERT_TRUE(rt.runtime->stackScanBytes.has_value());
  EXPECT_GT(*rt.runtime->stackScanBytes, 0u);
  ASSERT_TRUE(rt.runtime->globalsScanBytes.has_value());
  EXPECT_GT(*rt.runtime->globalsScanBytes, 100000u);  // its .data + .bss, about 220 KiB
}

TEST(GoRuntime, MissingProgramNamesThePackage) {
  const auto dir = std::filesystem::temp_directory_path() / "gomalloc-no-goruntime";
  try {
    findGoRuntimeProgram((dir / "gomalloc").string());
    FAIL() << "expected GoRuntimeError";
  } catch (const GoRuntimeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("golang-1.19-go"), std::string::npos) << what;
    EXPECT_NE(what.find("scripts/setup.sh"), std::string::npos) << what;
  }
  traces::ReplayProgram prog = traces::loadProgram(GOMALLOC_SOURCE_DIR "/examples/tiny.json");
  GoRuntimeOptions g;
  g.program = (dir / "gomalloc-goruntime").string();
  EXPECT_THROW(runGoRuntime(prog, g), GoRuntimeError);
}

}  // namespace
}  // namespace gomalloc::replay
