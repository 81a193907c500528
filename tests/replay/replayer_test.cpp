// The replay engine with the null and system backends and with checking backends defined here.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "replay/basic_backends.h"
#include "replay/engine.h"
#include "replay/replayer.h"
#include "replay/synth.h"

namespace gomalloc::replay {
namespace {

using traces::ReplayOp;
using traces::ReplayProgram;

// malloc/free plus bookkeeping that catches what the engine must never do: free an object it did not get
// (or before it got it), free twice, run a GC cycle while a P is inside an op. Optionally a fake pacer that
// asks for a cycle every `pacerEvery` allocations.
class CheckingBackend final : public BackendImpl<CheckingBackend> {
 public:
  static constexpr bool kHarnessClasses = true;
  static constexpr bool kHasGc = true;

  explicit CheckingBackend(uint64_t pacerEvery = 0) : pacerEvery_(pacerEvery) {}
  ~CheckingBackend() override {
    for (auto& [p, size] : live_) std::free(p);
  }
  std::string name() const override { return "checking"; }

  void* mallocFast(int p, size_t size, bool) {
    inOp_.fetch_add(1);
    void* ptr = std::malloc(size ? size : 1);
    {
      std::lock_guard lk(mu_);
      live_[ptr] = size;
      mallocsOnP_[p]++;
    }
    if (pacerEvery_ && mallocs_.fetch_add(1) % pacerEvery_ == pacerEvery_ - 1) pacer_.store(true);
    inOp_.fetch_sub(1);
    return ptr;
  }
  void freeFast(int, void* ptr, size_t size) {
    inOp_.fetch_add(1);
    {
      std::lock_guard lk(mu_);
      auto it = live_.find(ptr);
      if (it == live_.end()) badFrees_++;
      else if (it->second != size) badSizes_++;
      else live_.erase(it);
    }
    std::free(ptr);
    inOp_.fetch_sub(1);
  }
  bool gcRequestedFast() const { return pacer_.load(); }
  bool gcRequested() const override { return pacer_.load(); }
  void gc(bool forced) override {
    if (inOp_.load() != 0) cyclesDuringOps_++;
    (forced ? forced_ : paced_)++;
    pacer_.store(false);
  }
  void releaseLive(const LiveObjects& live) override {
    std::lock_guard lk(mu_);
    for (auto& [ptr, size] : live) {
      auto it = live_.find(const_cast<void*>(ptr));
      if (it == live_.end()) badFrees_++;
      else live_.erase(it);
      std::free(const_cast<void*>(ptr));
    }
  }

  uint64_t badFrees() const { return badFrees_; }
  uint64_t badSizes() const { return badSizes_; }
  uint64_t cyclesDuringOps() const { return cyclesDuringOps_; }
  uint64_t forced() const { return forced_; }
  uint64_t paced() const { return paced_; }
  size_t liveCount() {
    std::lock_guard lk(mu_);
    return live_.size();
  }

 private:
  uint64_t pacerEvery_;
  std::mutex mu_;
  std::unordered_map<void*, size_t> live_;
  std::unordered_map<int, uint64_t> mallocsOnP_;
  uint64_t badFrees_ = 0, badSizes_ = 0;
  std::atomic<int> inOp_{0};
  std::atomic<uint64_t> mallocs_{0};
  std::atomic<bool> pacer_{false};
  uint64_t cyclesDuringOps_ = 0, forced_ = 0, paced_ = 0;  // written with the world stopped
};

// A backend whose allocations fail after a number of calls.
class FailingBackend final : public BackendImpl<FailingBackend> {
 public:
  static constexpr bool kHarnessClasses = false;
  static constexpr bool kHasGc = false;
  explicit FailingBackend(uint64_t failAfter) : left_(failAfter) {}
  std::string name() const override { return "failing"; }
  void* mallocFast(int, size_t size, bool) {
    if (left_.fetch_sub(1) <= 0) throw std::runtime_error("out of test memory");
    return std::malloc(size ? size : 1);
  }
  void freeFast(int, void* p, size_t) { std::free(p); }
  bool gcRequestedFast() const { return false; }
  void releaseLive(const LiveObjects& live) override {
    for (auto& [p, s] : live) std::free(const_cast<void*>(p));
  }

 private:
  std::atomic<int64_t> left_;
};

Options quiet(int procs, bool deterministic = false) {
  Options o;
  o.procs = procs;
  o.deterministic = deterministic;
  o.rssIntervalMs = 0;
  return o;
}

// --- Program validation -------------------------------------------------------------------------------

TEST(ReplayValidate, AcceptsBuiltPrograms) {
  EXPECT_NO_THROW(validateProgram(synth::producerConsumer(100, 4, 3, 1, 10)));
  EXPECT_NO_THROW(validateProgram(synth::steady(2000, 3, 50, 2, 300)));
  EXPECT_NO_THROW(validateProgram(ReplayProgram{}));
}

std::string validationError(const ReplayProgram& p) {
  try {
    validateProgram(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ReplayValidate, RejectsFreeBeforeAlloc) {
  ReplayProgram p;
  p.slots = 1;
  p.threads = {{ReplayOp::free(0, 1, 16, true)}, {ReplayOp::alloc(0, 0, 16, false, false)}};
  p.order = {0, 1};
  EXPECT_NE(validationError(p).find("expects sequence 1 but in trace order the slot is at 0"), std::string::npos)
      << validationError(p);
}

TEST(ReplayValidate, RejectsFreeOfAnotherSize) {
  ReplayProgram p;
  p.slots = 1;
  p.threads = {{ReplayOp::alloc(0, 0, 16, false, false), ReplayOp::free(0, 1, 24, false)}};
  p.order = {0, 0};
  EXPECT_NE(validationError(p).find("free of 24 bytes from slot 0 which holds 16"), std::string::npos)
      << validationError(p);
}

TEST(ReplayValidate, RejectsOutOfRangeAndMismatchedOrder) {
  ReplayProgram p;
  p.slots = 1;
  p.threads = {{ReplayOp::alloc(3, 0, 16, false, false)}};
  p.order = {0};
  EXPECT_NE(validationError(p).find("slot 3 of 1"), std::string::npos);
  p.threads = {{ReplayOp::alloc(0, 0, 16, false, false)}};
  p.order = {0, 0};
  EXPECT_NE(validationError(p).find("order has 2 entries"), std::string::npos);
  p.order = {1};
  EXPECT_NE(validationError(p).find("names thread 1"), std::string::npos);
}

TEST(ReplayValidate, RejectsIncompleteOrInterleavedGcBarriers) {
  ReplayProgram p;
  p.slots = 1;
  p.gcBarriers = 1;
  p.threads = {{ReplayOp::gc(0)}, {ReplayOp::alloc(0, 0, 8, false, false), ReplayOp::gc(0)}};
  p.order = {0, 1, 1};
  EXPECT_NE(validationError(p).find("between the per-thread copies of gc barrier 0"), std::string::npos)
      << validationError(p);
  p.threads = {{ReplayOp::gc(0)}, {ReplayOp::alloc(0, 0, 8, false, false)}};
  p.order = {1, 0};
  EXPECT_NE(validationError(p).find("missing from 1 thread"), std::string::npos) << validationError(p);
  p.threads = {{ReplayOp::gc(0), ReplayOp::gc(0)}};
  p.order = {0, 0};
  EXPECT_NE(validationError(p).find("gc barrier 0 where 1 was expected"), std::string::npos) << validationError(p);
}

TEST(ReplayValidate, RunRefusesInvalidPrograms) {
  ReplayProgram p;
  p.slots = 1;
  p.threads = {{ReplayOp::free(0, 0, 0, false)}};
  p.order = {0};
  NullBackend b(1);
  EXPECT_THROW(run(p, b, quiet(1)), std::invalid_argument);
  Options o = quiet(2000);
  EXPECT_THROW(effectiveProcs(p, o), std::invalid_argument);
}

// --- The program builder ------------------------------------------------------------------------------

TEST(ReplaySynth, MarksCrossThreadOpsAndReusesSlotsPerThread) {
  synth::ProgramBuilder b(2);
  uint64_t a = b.alloc(0, 32);
  b.free(1, a);            // crosses: slot last touched by thread 0
  uint64_t c = b.alloc(1, 48);  // reuses the slot on thread 1: no wait
  b.gc();
  b.free(1, c);
  ReplayProgram p = b.build();
  ASSERT_EQ(p.slots, 1u);
  ASSERT_EQ(p.threads[1].size(), 4u);
  EXPECT_TRUE(p.threads[1][0].cross());
  EXPECT_EQ(p.threads[1][0].seq, 1u);
  EXPECT_FALSE(p.threads[1][1].cross());
  EXPECT_EQ(p.threads[1][1].seq, 2u);
  EXPECT_EQ(p.threads[1][1].size(), 48u);
  EXPECT_EQ(p.threads[1][2].kind(), ReplayOp::Gc);
  EXPECT_EQ(p.threads[0][1].kind(), ReplayOp::Gc);
  EXPECT_EQ(p.events, 5u);
  EXPECT_EQ(p.gcBarriers, 1u);
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 1, 1, 0, 1, 1}));
  EXPECT_EQ(p.liveAtEnd, 0u);
  EXPECT_THROW(b.free(0, 12345), std::invalid_argument);
}

TEST(ReplaySynth, SameSeedSameProgram) {
  auto a = synth::steady(5000, 4, 100, 7, 1000), b = synth::steady(5000, 4, 100, 7, 1000);
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.order, b.order);
  EXPECT_NE(a.digest, synth::steady(5000, 4, 100, 8, 1000).digest);
}

// --- Deterministic mode -------------------------------------------------------------------------------

TEST(ReplayDeterministic, CountsMatchTheProgram) {
  ReplayProgram p = synth::producerConsumer(500, 4, 5, 3, 50);
  NullBackend b(2);
  Result r = run(p, b, quiet(2, true));
  EXPECT_EQ(r.events, p.events);
  EXPECT_EQ(r.allocs, 2000u);
  EXPECT_EQ(r.frees, 2000u - p.liveAtEnd);
  EXPECT_EQ(r.gcEvents, 10u);
  EXPECT_EQ(r.liveObjects, p.liveAtEnd);
  EXPECT_EQ(r.procs, 2);
  EXPECT_FALSE(r.interrupted);
  ASSERT_EQ(r.procStats.size(), 2u);
  EXPECT_EQ(r.procStats[0].threads, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(r.procStats[0].allocs + r.procStats[1].allocs, r.allocs);
  EXPECT_FALSE(r.procStats[0].timed);
  ASSERT_TRUE(r.addressDigest.has_value());
  uint64_t classAllocs = 0;
  for (auto& c : r.classCounts) classAllocs += c.allocs;
  EXPECT_EQ(classAllocs + r.zeroSizeAllocs, r.allocs);
  EXPECT_EQ(r.timeline.front().kind, TimelinePoint::Kind::Start);
  EXPECT_EQ(r.timeline.back().kind, TimelinePoint::Kind::End);
}

TEST(ReplayDeterministic, SameAddressesEveryRun) {
  ReplayProgram p = synth::steady(20000, 3, 200, 11, 4000);
  NullBackend b1(3), b2(3);
  Result r1 = run(p, b1, quiet(3, true)), r2 = run(p, b2, quiet(3, true));
  EXPECT_EQ(r1.addressDigest, r2.addressDigest);
  EXPECT_EQ(r1.bytesRequested, r2.bytesRequested);
}

TEST(ReplayDeterministic, CorruptProgramIsAnErrorNotAHang) {
  // Valid in trace order, so validation passes; then corrupt the sequence after validation by replaying a
  // program whose cross op names a future sequence: validation must reject it instead.
  ReplayProgram p;
  p.slots = 1;
  p.threads = {{ReplayOp::alloc(0, 0, 8, false, false), ReplayOp::free(0, 3, 8, false)}};
  p.order = {0, 0};
  NullBackend b(1);
  EXPECT_THROW(run(p, b, quiet(1, true)), std::invalid_argument);
}

// --- Touching memory ----------------------------------------------------------------------------------

class RecordingBackend final : public BackendImpl<RecordingBackend> {
 public:
  static constexpr bool kHarnessClasses = false;
  static constexpr bool kHasGc = false;
  std::string name() const override { return "recording"; }
  void* mallocFast(int, size_t size, bool) {
    blocks.emplace_back(new unsigned char[size + 1]());
    sizes.push_back(size);
    return blocks.back().get();
  }
  void freeFast(int, void*, size_t) {}
  bool gcRequestedFast() const { return false; }
  std::vector<std::unique_ptr<unsigned char[]>> blocks;
  std::vector<size_t> sizes;
};

size_t touchedBytes(TouchMode m, size_t size) {
  synth::ProgramBuilder pb(1);
  pb.alloc(0, size);
  ReplayProgram p = pb.build();
  RecordingBackend b;
  Options o = quiet(1, true);
  o.touch = m;
  run(p, b, o);
  size_t n = 0;
  for (size_t i = 0; i < size; i++) n += b.blocks[0][i] == 0xA5;
  EXPECT_EQ(b.blocks[0][size], 0) << "wrote past the object";
  return n;
}

TEST(ReplayTouch, WritesWhatTheModeSays) {
  EXPECT_EQ(touchedBytes(TouchMode::None, 100), 0u);
  EXPECT_EQ(touchedBytes(TouchMode::First, 100), 8u);
  EXPECT_EQ(touchedBytes(TouchMode::First, 5), 1u);
  EXPECT_EQ(touchedBytes(TouchMode::Full, 100), 100u);
  // One byte per further 4 KiB page: a 40 KiB object spans 10 or 11 pages.
  size_t pages = touchedBytes(TouchMode::Pages, 40 * 1024);
  EXPECT_GE(pages, 8u + 9);
  EXPECT_LE(pages, 8u + 10);
  EXPECT_EQ(touchedBytes(TouchMode::Pages, 0), 0u);
  EXPECT_EQ(parseTouchMode("pages"), TouchMode::Pages);
  EXPECT_FALSE(parseTouchMode("most").has_value());
}

// --- Concurrent mode ----------------------------------------------------------------------------------

TEST(ReplayConcurrent, ProducerConsumerSameTotalsWithOneTwoAndEightPs) {
  ReplayProgram p = synth::producerConsumer(3000, 8, 4, 5, 500);
  for (int procs : {1, 2, 8}) {
    CheckingBackend b;
    Result r = run(p, b, quiet(procs));
    EXPECT_EQ(r.allocs, 24000u) << procs;
    EXPECT_EQ(r.frees, 24000u - p.liveAtEnd) << procs;
    EXPECT_EQ(r.gcEvents, 6u) << procs;
    EXPECT_EQ(r.events, p.events) << procs;
    EXPECT_EQ(b.badFrees(), 0u) << procs;
    EXPECT_EQ(b.badSizes(), 0u) << procs;
    EXPECT_EQ(b.cyclesDuringOps(), 0u) << procs;
    EXPECT_EQ(b.forced(), 6u) << procs;
    EXPECT_EQ(b.liveCount(), 0u) << "live objects released";
    EXPECT_FALSE(r.addressDigest.has_value());
    for (auto& ps : r.procStats) EXPECT_TRUE(ps.timed);
  }
}

TEST(ReplayConcurrent, CrossThreadFreesNeverRunBeforeTheirAlloc) {
  // Thread 1 frees everything thread 0 allocates, right after; with 2 Ps it must wait every time.
  synth::ProgramBuilder pb(2);
  for (int i = 0; i < 20000; i++) pb.free(1, pb.alloc(0, 8 + i % 200));
  ReplayProgram p = pb.build();
  CheckingBackend b;
  Result r = run(p, b, quiet(2));
  EXPECT_EQ(b.badFrees(), 0u);
  EXPECT_EQ(r.frees, 20000u);
  EXPECT_EQ(r.liveObjects, 0u);
}

TEST(ReplayBarrier, MoreThreadsThanCoresWithGcEventsAndPacerCompletes) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const auto threads = uint16_t(std::min(64u, 4 * cores + 3));
  ReplayProgram p = synth::producerConsumer(400, threads, 2, 9, 37);
  CheckingBackend b(/*pacerEvery=*/97);
  Result r = run(p, b, quiet(threads));
  EXPECT_EQ(r.procs, threads);
  EXPECT_EQ(r.gcEvents, p.gcBarriers);
  EXPECT_EQ(b.forced(), p.gcBarriers);
  EXPECT_GT(b.paced(), 0u);
  EXPECT_EQ(r.pacerStops, b.paced());
  EXPECT_EQ(b.cyclesDuringOps(), 0u);
  EXPECT_EQ(b.badFrees(), 0u);
  EXPECT_EQ(r.allocs, 400u * threads);
}

TEST(ReplayBarrier, MorePsThanThreadsAndSharedPs) {
  ReplayProgram p = synth::producerConsumer(300, 5, 3, 2, 50);
  for (int procs : {2, 3, 9}) {  // 9 Ps: four have no thread at all
    CheckingBackend b(50);
    Result r = run(p, b, quiet(procs));
    EXPECT_EQ(r.gcEvents, p.gcBarriers) << procs;
    EXPECT_EQ(r.allocs, 1500u) << procs;
    EXPECT_EQ(b.cyclesDuringOps(), 0u) << procs;
    EXPECT_EQ(b.badFrees(), 0u) << procs;
  }
}

TEST(ReplayStress, SteadyProgramManyPsWithPacer) {
  ReplayProgram p = synth::steady(60000, 6, 300, 21, 7000);
  for (int procs : {1, 3, 6}) {
    CheckingBackend b(501);
    Result r = run(p, b, quiet(procs));
    EXPECT_EQ(r.events, p.events);
    EXPECT_EQ(r.liveObjects, p.liveAtEnd);
    EXPECT_EQ(b.badFrees(), 0u);
    EXPECT_EQ(b.cyclesDuringOps(), 0u);
  }
}

TEST(ReplayConcurrent, CancelStopsEarlyAndMarksTheResult) {
  ReplayProgram p = synth::producerConsumer(20000, 4, 3, 1, 100);
  std::atomic<bool> cancel{true};
  Options o = quiet(4);
  o.cancel = &cancel;
  CheckingBackend b;
  Result r = run(p, b, o);
  EXPECT_TRUE(r.interrupted);
  EXPECT_LT(r.events, p.events);
  EXPECT_EQ(b.liveCount(), 0u);
  Options d = quiet(4, true);
  d.cancel = &cancel;
  CheckingBackend b2;
  Result r2 = run(p, b2, d);
  EXPECT_TRUE(r2.interrupted);
  EXPECT_EQ(r2.events, 0u);
}

TEST(ReplayConcurrent, CancelDuringTheRunWhileWorkersWait) {
  // Thread 1 waits on thread 0 all the time; cancel from another thread while it runs.
  synth::ProgramBuilder pb(2);
  for (int i = 0; i < 300000; i++) pb.free(1, pb.alloc(0, 16));
  ReplayProgram p = pb.build();
  std::atomic<bool> cancel{false};
  Options o = quiet(2);
  o.cancel = &cancel;
  o.onProgress = [&](const Progress& pr) {
    if (pr.done > 0) cancel.store(true);
  };
  o.progressIntervalMs = 1;
  NullBackend b(2);
  Result r = run(p, b, o);
  // Either it finished before the first progress report or it stopped early; never hangs.
  if (r.interrupted) EXPECT_LE(r.events, p.events);
  else EXPECT_EQ(r.events, p.events);
}

TEST(ReplayConcurrent, BackendErrorStopsEveryWorker) {
  ReplayProgram p = synth::producerConsumer(5000, 4, 2, 1, 100);
  for (int procs : {1, 4}) {
    FailingBackend b(1000);
    try {
      run(p, b, quiet(procs));
      ADD_FAILURE() << "expected an error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("out of test memory"), std::string::npos) << e.what();
    }
  }
  FailingBackend b(10);
  EXPECT_THROW(run(p, b, quiet(4, true)), std::runtime_error);
}

// --- Backends -----------------------------------------------------------------------------------------

TEST(ReplayBackends, ConcurrentSystemAndNullReplayTheSameCounts) {
  ReplayProgram p = synth::steady(30000, 2, 500, 4, 0);
  SystemBackend s;
  NullBackend n(2, 1 << 20);  // a small region: wraps around, and large objects get their own mapping
  Result rs = run(p, s, quiet(2)), rn = run(p, n, quiet(2));
  EXPECT_EQ(rs.allocs, rn.allocs);
  EXPECT_EQ(rs.frees, rn.frees);
  EXPECT_EQ(rs.bytesRequested, rn.bytesRequested);
  EXPECT_EQ(rs.backend, "system");
  EXPECT_EQ(rn.backend, "null");
  ASSERT_FALSE(rs.settings.empty());
  EXPECT_EQ(rs.settings[0].first, "malloc");
  EXPECT_FALSE(rs.heapFinal.has_value());
  EXPECT_FALSE(rs.go.has_value());
  uint64_t large = rs.classCounts[0].allocs;
  EXPECT_GT(large, 0u);
  EXPECT_EQ(rn.classCounts[0].allocs, large);
}

TEST(ReplayBackends, ConcurrentRssSamplesAndPeak) {
  ReplayProgram p = synth::steady(50000, 1, 2000, 4, 10000);
  SystemBackend s;
  Options o = quiet(1);
  o.rssIntervalMs = 1;
  o.touch = TouchMode::Full;
  Result r = run(p, s, o);
  EXPECT_GT(r.rssStartBytes, 0u);
  EXPECT_GE(r.peakRssBytes, r.rssEndBytes);
  size_t gcPoints = 0;
  for (size_t i = 1; i < r.timeline.size(); i++) EXPECT_LE(r.timeline[i - 1].tMs, r.timeline[i].tMs);
  for (auto& pt : r.timeline) {
    EXPECT_GT(pt.rssBytes, 0u);
    gcPoints += pt.kind == TimelinePoint::Kind::Gc;
  }
  EXPECT_EQ(gcPoints, r.gcEvents);
}

}  // namespace
}  // namespace gomalloc::replay
