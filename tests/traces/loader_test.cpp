// The loader on hand-written traces: dense slots reused only after a free, per-slot sequence numbers, kCross
// for cross-thread dependencies, gc barriers in every stream, the global order, thread renumbering, digests.
#include <gtest/gtest.h>

#include <map>

#include "tests/traces/trace_test_util.h"
#include "traces/generate.h"
#include "traces/idmap.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

// The loader's id map: dense ids in pages, others hashed; ids spread thinly below the dense limit move every
// entry to the hash map, after which every id still maps as before.
// The events of a generator kind.
std::vector<Event> generated(const std::string& kind, uint64_t events, unsigned threads, uint64_t gcEvery) {
  GenOptions o;
  o.kind = kind;
  o.events = events;
  o.threads = threads;
  o.gcEvery = gcEvery;
  std::vector<Event> ev;
  generate(o, [&](const Event& e) { ev.push_back(e); });
  return ev;
}

TEST(SlotMapTest, DensePagesAndTheMoveToHashing) {
  detail::SlotMap m;
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 3000; i++) ids.push_back(i);                          // dense: one page run
  for (uint64_t i = 0; i < 6000; i++) ids.push_back((uint64_t{1} << 16) * (i + 1) % (uint64_t{1} << 30));  // thin
  ids.push_back(uint64_t{1} << 40);                                               // above the limit
  for (size_t k = 0; k < ids.size(); k++) {
    if (m.find(ids[k]) != detail::SlotMap::kNone) continue;  // (the thin ids wrap onto earlier ones)
    EXPECT_EQ(m.insert(ids[k], uint32_t(k)), detail::SlotMap::kNone);
  }
  size_t live = m.size();
  for (size_t k = 0; k < ids.size(); k++) {
    const uint32_t v = m.find(ids[k]);
    ASSERT_NE(v, detail::SlotMap::kNone) << ids[k];
    EXPECT_EQ(ids[v], ids[k]);
    EXPECT_EQ(m.insert(ids[k], 7), v);  // present: unchanged
  }
  for (uint64_t i = 0; i < 3000; i++) EXPECT_EQ(m.erase(i), uint32_t(i));
  EXPECT_EQ(m.erase(5), detail::SlotMap::kNone);
  EXPECT_EQ(m.size(), live - 3000);
  EXPECT_EQ(m.find(uint64_t{1} << 40), uint32_t(ids.size() - 1));
}

ReplayProgram build(const std::vector<Event>& ev, bool lenient = false) {
  ProgramBuilder::Options o;
  o.lenient = lenient;
  ProgramBuilder b("hand", o);
  for (auto& e : ev) b.add(e);
  return b.finish();
}

void expectOp(const ReplayOp& op, ReplayOp::Kind k, uint32_t slot, uint32_t seq, bool cross) {
  EXPECT_EQ(op.kind(), k);
  EXPECT_EQ(op.slot, slot);
  EXPECT_EQ(op.seq, seq);
  EXPECT_EQ(op.cross(), cross);
}

TEST(TraceLoader, SlotsAreReusedOnlyAfterAFreeAndSequencesCount) {
  auto p = build({Event::alloc(0, 100, 8), Event::alloc(0, 200, 4096, true), Event::free(0, 100),
                  Event::alloc(0, 300, 24), Event::free(0, 300), Event::free(0, 200)});
  ASSERT_EQ(p.threads.size(), 1u);
  auto& t = p.threads[0];
  ASSERT_EQ(t.size(), 6u);
  expectOp(t[0], ReplayOp::Alloc, 0, 0, false);
  EXPECT_EQ(t[0].size(), 8u);
  expectOp(t[1], ReplayOp::Alloc, 1, 0, false);
  EXPECT_TRUE(t[1].scan());
  EXPECT_EQ(t[1].size(), 4096u);
  expectOp(t[2], ReplayOp::Free, 0, 1, false);
  expectOp(t[3], ReplayOp::Alloc, 0, 2, false);  // slot 0 again, after its free
  expectOp(t[4], ReplayOp::Free, 0, 3, false);
  expectOp(t[5], ReplayOp::Free, 1, 1, false);
  EXPECT_EQ(p.slots, 2u);
  EXPECT_EQ(p.events, 6u);
  EXPECT_EQ(p.liveAtEnd, 0u);
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 0, 0, 0, 0, 0}));
}

TEST(TraceLoader, CrossThreadFreesAndReusesWaitForTheSlot) {
  auto p = build({Event::alloc(0, 1, 16), Event::free(1, 1), Event::alloc(0, 2, 16), Event::alloc(1, 3, 32)});
  ASSERT_EQ(p.threads.size(), 2u);
  auto &t0 = p.threads[0], &t1 = p.threads[1];
  ASSERT_EQ(t0.size(), 2u);
  ASSERT_EQ(t1.size(), 2u);
  expectOp(t0[0], ReplayOp::Alloc, 0, 0, false);
  expectOp(t1[0], ReplayOp::Free, 0, 1, true);    // freed on another thread than its alloc
  expectOp(t0[1], ReplayOp::Alloc, 1, 0, false);  // thread 1's freed slot is not handed to thread 0 at once
  expectOp(t1[1], ReplayOp::Alloc, 0, 2, false);  // thread 1 reuses the slot it freed itself: no wait
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 1, 0, 1}));
  EXPECT_EQ(p.liveAtEnd, 2u);
}

TEST(TraceLoader, SlotsFreedLongAgoOnAnotherThreadAreReused) {
  // Thread 1 frees 40000 objects of thread 0; thread 0 keeps allocating: it gets those slots back once
  // their frees are far enough behind (and waits on them only if replay lags that far).
  std::vector<Event> ev;
  for (uint64_t i = 0; i < 40000; i++) ev.push_back(Event::alloc(0, i, 16));
  for (uint64_t i = 0; i < 40000; i++) ev.push_back(Event::free(1, i));
  for (uint64_t i = 0; i < 40000; i++) ev.push_back(Event::alloc(0, 100000 + i, 16));
  auto p = build(ev);
  EXPECT_LT(p.slots, 70000u);
  size_t crossAllocs = 0;
  for (auto& op : p.threads[0])
    if (op.kind() == ReplayOp::Alloc && op.cross()) crossAllocs++;
  EXPECT_GT(crossAllocs, 0u);
}

TEST(TraceLoader, GcIsABarrierInEveryStreamIncludingThreadsThatStartLater) {
  auto p = build({Event::alloc(0, 1, 16), Event::gc(), Event::alloc(1, 2, 16), Event::gc(1), Event::free(0, 1)});
  ASSERT_EQ(p.threads.size(), 2u);
  EXPECT_EQ(p.gcBarriers, 2u);
  auto &t0 = p.threads[0], &t1 = p.threads[1];
  ASSERT_EQ(t0.size(), 4u);
  ASSERT_EQ(t1.size(), 3u);
  expectOp(t0[0], ReplayOp::Alloc, 0, 0, false);
  EXPECT_EQ(t0[1].kind(), ReplayOp::Gc);
  EXPECT_EQ(t0[1].seq, 0u);
  EXPECT_EQ(t0[2].kind(), ReplayOp::Gc);
  EXPECT_EQ(t0[2].seq, 1u);
  expectOp(t0[3], ReplayOp::Free, 0, 1, false);
  EXPECT_EQ(t1[0].kind(), ReplayOp::Gc);  // thread 1 appeared after gc 0 but still reaches it
  EXPECT_EQ(t1[0].seq, 0u);
  expectOp(t1[1], ReplayOp::Alloc, 1, 0, false);
  EXPECT_EQ(t1[2].kind(), ReplayOp::Gc);
  EXPECT_EQ(t1[2].seq, 1u);
  // alloc(t0), gc0 on t0 and t1, alloc(t1), gc1 on t0 and t1, free(t0)
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 0, 1, 1, 0, 1, 0}));
  EXPECT_EQ(p.events, 5u);
}

TEST(TraceLoader, SparseThreadIdsAreRenumberedInIdOrder) {
  auto p = build({Event::alloc(900, 1, 16), Event::alloc(5, 2, 16), Event::free(70, 1)});
  EXPECT_EQ(p.threadIds, (std::vector<uint32_t>{5, 70, 900}));
  ASSERT_EQ(p.threads.size(), 3u);
  EXPECT_EQ(p.threads[2].size(), 1u);  // thread 900
  EXPECT_EQ(p.threads[1][0].kind(), ReplayOp::Free);
  EXPECT_TRUE(p.threads[1][0].cross());
  EXPECT_EQ(p.order, (std::vector<uint16_t>{2, 0, 1}));
}

TEST(TraceLoader, DenseThreadIdsKeepTheirNumbers) {
  auto p = build({Event::alloc(2, 1, 16), Event::alloc(0, 2, 16), Event::alloc(1, 3, 16)});
  EXPECT_EQ(p.threadIds, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(p.order, (std::vector<uint16_t>{2, 0, 1}));
}

TEST(TraceLoader, GcOnlyTraceHasOneStream) {
  auto p = build({Event::gc(), Event::gc()});
  ASSERT_EQ(p.threads.size(), 1u);
  EXPECT_EQ(p.threads[0].size(), 2u);
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 0}));
  auto empty = build({});
  EXPECT_TRUE(empty.threads.empty());
  EXPECT_EQ(empty.events, 0u);
}

TEST(TraceLoader, LenientAllocOfALiveIdFreesTheOldObjectFirst) {
  auto p = build({Event::alloc(0, 1, 16), Event::alloc(1, 1, 32), Event::free(1, 1)}, true);
  EXPECT_EQ(p.implicitFrees, 1u);
  ASSERT_EQ(p.threads.size(), 2u);
  auto& t1 = p.threads[1];
  ASSERT_EQ(t1.size(), 3u);
  expectOp(t1[0], ReplayOp::Free, 0, 1, true);    // the implicit free of the first object
  expectOp(t1[1], ReplayOp::Alloc, 0, 2, false);  // the new object reuses the slot
  EXPECT_EQ(t1[1].size(), 32u);
  expectOp(t1[2], ReplayOp::Free, 0, 3, false);
  EXPECT_EQ(p.events, 3u);
  EXPECT_EQ(p.order, (std::vector<uint16_t>{0, 1, 1, 1}));
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("event 1"), std::string::npos) << p.warnings[0];
}

TEST(TraceLoader, LenientFreeOfADeadIdIsSkipped) {
  auto p = build({Event::alloc(0, 1, 16), Event::free(0, 1), Event::free(0, 1), Event::free(0, 42)}, true);
  EXPECT_EQ(p.skippedFrees, 2u);
  EXPECT_EQ(p.events, 2u);
  EXPECT_EQ(p.threads[0].size(), 2u);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("skipped 2 frees"), std::string::npos) << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("event 2"), std::string::npos) << p.warnings[0];
}

TEST(TraceLoader, DigestDependsOnEventsNotEncoding) {
  TempDir dir;
  std::vector<Event> ev = {Event::alloc(0, 1, 24, true).at(5), Event::gc(), Event::free(1, 1).at(9)};
  std::vector<std::string> digests;
  for (const char* name : {"d.json", "d.jsonl.gz", "d.gmt", "d.gmt.zst"}) {
    auto w = createWriter(dir.file(name), {});
    for (auto& e : ev) w->write(e);
    w->finish();
    digests.push_back(loadProgram(dir.file(name)).digest);
  }
  for (auto& d : digests) EXPECT_EQ(d, digests[0]);
  EXPECT_EQ(digests[0].size(), 16u);
  auto other = ev;
  other[2].ts = 10;
  EXPECT_NE(build(other).digest, digests[0]);
  other = ev;
  other[0].scan = false;
  EXPECT_NE(build(other).digest, digests[0]);
}

TEST(TraceLoader, LoadsAFileWithPathAndCounters) {
  TempDir dir;
  std::string path = dir.write("spec.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 24})",
                                                 R"({"op": "alloc", "thread": 1, "id": 2, "size": 40000})",
                                                 R"({"op": "free", "thread": 1, "id": 1})", R"({"op": "gc"})",
                                                 R"({"op": "free", "thread": 0, "id": 2})"}));
  auto p = loadProgram(path);
  EXPECT_EQ(p.path, path);
  EXPECT_EQ(p.events, 5u);
  EXPECT_EQ(p.gcBarriers, 1u);
  EXPECT_EQ(p.slots, 2u);
  EXPECT_EQ(p.liveAtEnd, 0u);
  EXPECT_EQ(p.threads[0].size(), 3u);
  EXPECT_EQ(p.threads[1].size(), 3u);
  EXPECT_TRUE(p.warnings.empty());
}

// Replays the program in its global order and checks what replay relies on: order lists every op once, each
// op finds its slot at the sequence it expects, allocs go into empty slots and frees empty full ones, kCross
// is set exactly when the slot's previous op was on another thread, and each gc barrier is reached by every
// thread, consecutively, in ordinal order.
void expectConsistent(const ReplayProgram& p) {
  size_t n = p.threads.size(), total = 0;
  for (auto& t : p.threads) total += t.size();
  ASSERT_EQ(p.order.size(), total);
  std::vector<uint32_t> seq(p.slots, 0);
  std::vector<int> lastThread(p.slots, -1);
  std::vector<size_t> pos(n, 0);
  uint32_t gcs = 0;
  for (size_t i = 0; i < p.order.size();) {
    uint16_t t = p.order[i];
    ASSERT_LT(t, n);
    ASSERT_LT(pos[t], p.threads[t].size());
    const ReplayOp& op = p.threads[t][pos[t]];
    if (op.kind() == ReplayOp::Gc) {
      ASSERT_EQ(op.seq, gcs);
      for (uint16_t d = 0; d < n; d++, i++) {  // every thread, consecutively, in thread order
        ASSERT_EQ(p.order[i], d);
        ASSERT_EQ(p.threads[d][pos[d]].kind(), ReplayOp::Gc);
        ASSERT_EQ(p.threads[d][pos[d]++].seq, gcs);
      }
      gcs++;
      continue;
    }
    ASSERT_LT(op.slot, p.slots);
    ASSERT_EQ(op.seq, seq[op.slot]);
    ASSERT_EQ(op.kind() == ReplayOp::Alloc, seq[op.slot] % 2 == 0);
    ASSERT_EQ(op.cross(), lastThread[op.slot] != -1 && lastThread[op.slot] != t);
    seq[op.slot]++;
    lastThread[op.slot] = t;
    pos[t]++, i++;
  }
  EXPECT_EQ(gcs, p.gcBarriers);
}

TEST(TraceLoader, ProgramsOfEveryGeneratorAreConsistent) {
  for (auto& k : genKinds()) {
    SCOPED_TRACE(std::string(k.name));
    GenOptions o;
    o.kind = std::string(k.name);
    o.events = 20000;
    o.gcEvery = 777;
    ProgramBuilder b(o.kind);
    generate(o, [&](const Event& e) { b.add(e); });
    ReplayProgram p = b.finish();
    EXPECT_EQ(p.events, 20000u);
    EXPECT_EQ(p.gcBarriers, 20000u / 777);
    expectConsistent(p);
  }
  expectConsistent(build({Event::alloc(0, 1, 16), Event::alloc(1, 1, 8), Event::free(2, 1)}, true));
}

// The windows of a streamed program, one after the other, are the whole program's ops and order; the summary
// is its description.
TEST(TraceLoader, WindowsConcatenatedAreTheWholeProgram) {
  for (auto& k : genKinds()) {
    const std::vector<Event> ev = generated(std::string(k.name), 20000, 5, 500);
    const std::string bin = encode(ev, Format{Encoding::Binary, Compression::None});
    auto whole = openTraceMemory("t.gmt", bin);
    const ReplayProgram full = loadProgram(*whole);
    for (uint64_t window : {uint64_t{1}, uint64_t{500}, uint64_t{999}, uint64_t{1000}, uint64_t{7000}}) {
      SCOPED_TRACE(std::string(k.name) + " window " + std::to_string(window));
      auto r = openTraceMemory("t.gmt", bin);
      // (The thread set given: a window of one event does not show every thread.)
      const std::vector<uint16_t> ids(full.threadIds.begin(), full.threadIds.end());
      ProgramStream stream(*r, ProgramStream::Options{{}, window, ids});
      ReplayProgram w, cat;
      cat.threads.resize(full.threads.size());
      size_t windows = 0;
      while (stream.next(w)) {
        ASSERT_EQ(w.threads.size(), full.threads.size());
        for (size_t t = 0; t < w.threads.size(); t++)
          cat.threads[t].insert(cat.threads[t].end(), w.threads[t].begin(), w.threads[t].end());
        cat.order.insert(cat.order.end(), w.order.begin(), w.order.end());
        EXPECT_LE(w.peakLiveBytes, full.peakLiveBytes);
        windows++;
      }
      EXPECT_EQ(windows, (20000 + window - 1) / window);
      ASSERT_EQ(cat.order, full.order);
      for (size_t t = 0; t < full.threads.size(); t++) {
        ASSERT_EQ(cat.threads[t].size(), full.threads[t].size());
        for (size_t i = 0; i < full.threads[t].size(); i++) {
          const ReplayOp &a = cat.threads[t][i], &b = full.threads[t][i];
          ASSERT_TRUE(a.slot == b.slot && a.seq == b.seq && a.bits == b.bits) << "thread " << t << " op " << i;
        }
      }
      const ReplayProgram s = stream.summary();
      EXPECT_EQ(s.digest, full.digest);
      EXPECT_EQ(s.slots, full.slots);
      EXPECT_EQ(s.gcBarriers, full.gcBarriers);
      EXPECT_EQ(s.liveAtEnd, full.liveAtEnd);
      EXPECT_EQ(s.threadIds, full.threadIds);
      EXPECT_EQ(s.peakLiveBytes, full.peakLiveBytes);
    }
  }
}

// Each window carries what its ops add up to (replay counts from these instead of the ops), and the stream gives
// each slot's last allocated size (replay's sizes of the objects live at the end).
TEST(TraceLoader, WindowCountsAreTheOpsCountsAndSlotSizesTheLastAllocs) {
  std::vector<Event> ev = generated("steady", 20000, 3, 700);
  ev.push_back(Event::alloc(0, 1u << 30, 0));        // a zero-size object
  ev.push_back(Event::alloc(1, (1u << 30) + 1, 40000));  // a large one
  const std::string bin = encode(ev, Format{Encoding::Binary, Compression::None});
  auto r = openTraceMemory("t.gmt", bin);
  ProgramStream stream(*r, ProgramStream::Options{{}, 999, std::nullopt});
  ReplayProgram w;
  std::map<uint32_t, std::pair<uint32_t, uint64_t>> lastAlloc;  // slot -> the sequence and size of its last alloc
  while (stream.next(w)) {
    ASSERT_TRUE(w.counts.valid);
    ASSERT_EQ(w.counts.allocs.size(), w.threads.size());
    WindowCounts c;
    c.allocs.assign(w.threads.size(), 0), c.frees.assign(w.threads.size(), 0);
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> bySize;
    for (size_t t = 0; t < w.threads.size(); t++)
      for (const ReplayOp& op : w.threads[t]) {
        const uint64_t z = op.size();
        if (op.kind() == ReplayOp::Alloc) {
          c.allocs[t]++, c.bytesRequested += z, c.zeroSizeAllocs += z == 0;
          if (z > WindowCounts::kBySizeMax) c.largeAllocs++, c.largeBytes += z;
          else if (z) bySize[z].first++;
          auto& l = lastAlloc[op.slot];
          if (op.seq >= l.first) l = {op.seq, z};  // (a window's threads are not in trace order)
        } else if (op.kind() == ReplayOp::Free) {
          c.frees[t]++, c.bytesFreed += z;
          if (z > WindowCounts::kBySizeMax) c.largeFrees++;
          else if (z) bySize[z].second++;
        }
      }
    EXPECT_EQ(w.counts.allocs, c.allocs);
    EXPECT_EQ(w.counts.frees, c.frees);
    EXPECT_EQ(w.counts.bytesRequested, c.bytesRequested);
    EXPECT_EQ(w.counts.bytesFreed, c.bytesFreed);
    EXPECT_EQ(w.counts.zeroSizeAllocs, c.zeroSizeAllocs);
    EXPECT_EQ(w.counts.largeAllocs, c.largeAllocs);
    EXPECT_EQ(w.counts.largeBytes, c.largeBytes);
    EXPECT_EQ(w.counts.largeFrees, c.largeFrees);
    ASSERT_EQ(w.counts.bySize.size(), bySize.size());
    size_t i = 0;
    for (const auto& [z, n] : bySize) {
      const WindowCounts::BySize& b = w.counts.bySize[i++];
      EXPECT_EQ(b.size, z);
      EXPECT_EQ(b.allocs, n.first) << z;
      EXPECT_EQ(b.frees, n.second) << z;
    }
  }
  for (const auto& [slot, last] : lastAlloc) ASSERT_EQ(stream.slotSize(slot), last.second) << slot;
}

TEST(TraceLoader, AThreadAfterTheFirstWindowIsANewThreadErrorUnlessKnown) {
  std::vector<Event> ev;
  for (uint64_t i = 0; i < 10; i++) ev.push_back(Event::alloc(uint16_t(i % 2), i, 16));
  ev.push_back(Event::alloc(9, 100, 16));
  ev.push_back(Event::alloc(0, 101, 16));
  const std::string text = encode(ev, Format{Encoding::JsonLines, Compression::None});
  {
    auto r = openTraceMemory("t.jsonl", text);
    ProgramStream s(*r, ProgramStream::Options{{}, 4, std::nullopt});
    ReplayProgram w;
    EXPECT_TRUE(s.next(w));
    EXPECT_TRUE(s.next(w));
    try {
      while (s.next(w)) {
      }
      FAIL() << "no error";
    } catch (const NewThreadError& e) {
      EXPECT_NE(std::string(e.what()).find("t.jsonl: event 10 (line 12, column "), std::string::npos) << e.what();
    }
  }
  auto r = openTraceMemory("t.jsonl", text);
  ProgramStream s(*r, ProgramStream::Options{{}, 4, std::vector<uint16_t>{9, 0, 1}});
  ReplayProgram w;
  ASSERT_TRUE(s.next(w));
  EXPECT_EQ(w.threads.size(), 3u);
  EXPECT_EQ(w.threadIds, (std::vector<uint32_t>{0, 1, 9}));
  while (s.next(w)) {
  }
  auto whole = openTraceMemory("t.jsonl", text);
  EXPECT_EQ(s.summary().digest, loadProgram(*whole).digest);
}

// The default streaming: small windows growing to the most per window, and the thread set read ahead (kept
// from a pipe, scanned from a second reader of a file), so that a thread first seen after the first window is
// no error. The windows, concatenated, are the whole program.
TEST(TraceLoader, GrowingWindowsAndAThreadSetReadAhead) {
  std::vector<Event> ev = generated("steady", 5000, 3, 300);
  ev.push_back(Event::alloc(9, 1u << 30, 16));  // thread 9 first appears in the last event
  const std::string bin = encode(ev, Format{Encoding::Binary, Compression::None});
  auto whole = openTraceMemory("t.gmt", bin);
  const ReplayProgram full = loadProgram(*whole);
  ASSERT_EQ(full.threadIds, (std::vector<uint32_t>{0, 1, 2, 9}));
  for (bool reopen : {false, true}) {
    SCOPED_TRACE(reopen ? "reopen" : "kept");
    auto r = openTraceMemory("t.gmt", bin);
    ProgramStream::Options o{{}, 64, std::nullopt};
    o.firstWindow = 5;
    o.threadHorizon = 10000;
    if (reopen) o.reopen = [&] { return openTraceMemory("t.gmt", bin); };
    ProgramStream stream(*r, o);
    std::vector<size_t> sizes;
    ReplayProgram w;
    std::vector<uint16_t> order;
    while (stream.next(w)) {
      ASSERT_EQ(w.threads.size(), 4u);
      size_t events = 0;
      for (auto& t : w.threads) events += t.size();
      sizes.push_back(events);
      order.insert(order.end(), w.order.begin(), w.order.end());
      if (sizes.size() == 1) stream.setWindow(1000);
    }
    ASSERT_GE(sizes.size(), 6u);
    // (Ops per window: the events' ops plus a gc's copies in every stream, so at least the events.)
    EXPECT_GE(sizes[0], 5u);
    EXPECT_LT(sizes[0], 5u + 4u);
    EXPECT_GE(sizes[1], 10u);
    EXPECT_GE(sizes[5], 160u);
    EXPECT_EQ(order, full.order);
    EXPECT_EQ(stream.summary().digest, full.digest);
  }
  {  // Lenient: nothing is read ahead, but the first window reaches the horizon.
    ReadOptions ro;
    ro.lenient = true;
    auto r = openTraceMemory("t.gmt", bin, ro);
    ProgramStream::Options o{{true, nullptr}, 64, std::nullopt};
    o.firstWindow = 5;
    o.threadHorizon = 10000;
    ProgramStream stream(*r, o);
    ReplayProgram w;
    ASSERT_TRUE(stream.next(w));
    EXPECT_EQ(w.order.size(), full.order.size());
    EXPECT_EQ(w.threads.size(), 4u);
  }
  // Without the read ahead, thread 9 is new after the first window.
  auto r = openTraceMemory("t.gmt", bin);
  ProgramStream::Options o{{}, 64, std::nullopt};
  ProgramStream stream(*r, o);
  ReplayProgram w;
  EXPECT_THROW(
      while (stream.next(w)) {}, NewThreadError);
}

// With a read ahead, the error is the one loading the whole trace gives: a free of an id that is not live
// (event 2) before a syntax error in a later read, or the syntax error when it is in the same read of 1024
// events (which throws before giving the events before it).
TEST(TraceLoader, AReadAheadReportsTheErrorTheWholeLoadDoes) {
  for (size_t valid : {size_t{0}, size_t{3000}}) {
    SCOPED_TRACE(valid);
    std::vector<Event> ev = {Event::alloc(0, 1, 8), Event::alloc(1, 2, 8), Event::free(0, 7)};
    for (size_t i = 0; i < valid; i++) ev.push_back(Event::alloc(uint16_t(i % 2), 10 + i, 8));
    const std::string text =
        encode(ev, Format{Encoding::JsonLines, Compression::None}) + "{\"op\":\"alloc\",\"id\":\n";
    std::string expected;
    try {
      auto r = openTraceMemory("t.jsonl", text);
      loadProgram(*r);
    } catch (const TraceError& e) {
      expected = e.what();
    }
    EXPECT_EQ(expected.find("free of id 7") != std::string::npos, valid != 0) << expected;
    for (bool reopen : {false, true}) {
      auto r = openTraceMemory("t.jsonl", text);
      ProgramStream::Options o{{}, 100, std::nullopt};
      o.firstWindow = 1;
      o.threadHorizon = 100000;
      if (reopen) o.reopen = [&] { return openTraceMemory("t.jsonl", text); };
      ProgramStream stream(*r, o);
      ReplayProgram w;
      try {
        while (stream.next(w)) {
        }
        FAIL() << "no error";
      } catch (const TraceError& e) {
        EXPECT_EQ(std::string(e.what()), expected) << reopen;
      }
    }
  }
}

TEST(TraceLoader, ValidatorModeStoresNoOpsAndListsEveryError) {
  std::vector<std::string> errors;
  ProgramBuilder::Options o;
  o.keepOps = false;
  o.onError = [&](const std::string& m) { errors.push_back(m); };
  ProgramBuilder b("v.json", o);
  b.add(Event::free(0, 1));
  b.add(Event::alloc(0, 2, 8));
  b.add(Event::alloc(0, 2, 8));
  auto p = b.finish();
  EXPECT_TRUE(p.threads.empty());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "v.json: event 0: free of id 1 that is not live (never allocated, or already freed)");
  EXPECT_EQ(errors[1], "v.json: event 2: alloc of id 2 that is still live (free it first)");
}

}  // namespace
}  // namespace gomalloc::traces
