// The converter of gomalloc record's raw files (traces/record.h) on raw files written here: the global order
// across threads (address reuse, same-ts handoffs), realloc, unknown frees, lost and damaged records, ticks to ns.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/traces/trace_test_util.h"
#include "traces/record.h"

namespace gomalloc::traces::testing {
namespace {

namespace raw = traces::raw;

// A raw file built chunk by chunk, as the recorder writes it.
class RawFile {
 public:
  explicit RawFile(std::vector<std::string> command = {"prog", "arg one"}) {
    raw::RawProcess p;
    p.pid = 42, p.ppid = 1, p.startTs = 1000;
    std::string cmd;
    for (auto& c : command) cmd += c + '\0';
    p.cmdBytes = cmd.size();  // not padded: the chunks after it are not 8-byte aligned (the converter copies them)
    std::string payload = std::string(reinterpret_cast<const char*>(&p), sizeof p) + cmd;
    chunk(raw::kChunkProcess, 0, 0, payload, uint32_t(payload.size()));
  }
  // Records of one thread: {ts, ptr, size, entry}.
  struct R {
    uint64_t ts, ptr, size;
    uint8_t entry;
  };
  RawFile& events(uint32_t thread, uint64_t seq, std::initializer_list<R> rs) {
    std::string payload;
    for (const R& r : rs) {
      raw::Record rec{r.ts, r.ptr, raw::Record::pack(r.size, 0, r.entry)};
      payload.append(reinterpret_cast<const char*>(&rec), sizeof rec);
    }
    chunk(raw::kChunkEvents, thread, seq, payload, uint32_t(rs.size()));
    return *this;
  }
  RawFile& end(uint64_t ts, uint64_t lost = 0) {
    raw::RawEnd e;
    e.reason = raw::kEndExit, e.ts = ts, e.lostEvents = lost, e.beforeReady = 3;
    chunk(raw::kChunkEnd, 0, 0, std::string(reinterpret_cast<const char*>(&e), sizeof e), sizeof e);
    return *this;
  }
  // A calibration pair (without any, the records' ts are ns).
  RawFile& clock(uint64_t tick, uint64_t ns) {
    raw::RawClock c;
    c.tick = tick, c.ns = ns;
    chunk(raw::kChunkClock, 0, 0, std::string(reinterpret_cast<const char*>(&c), sizeof c), sizeof c);
    return *this;
  }
  RawFile& garbage(const std::string& s) {
    data_ += s;
    return *this;
  }
  const std::string& data() const { return data_; }

 private:
  void chunk(uint32_t kind, uint32_t thread, uint64_t seq, const std::string& payload, uint32_t count) {
    raw::ChunkHeader h;
    h.kind = kind, h.thread = thread, h.count = count, h.seq = seq;
    data_.append(reinterpret_cast<const char*>(&h), sizeof h);
    data_ += payload;
  }
  std::string data_;
};

constexpr uint8_t kMalloc = raw::kMalloc, kFree = raw::kFree;

struct Converted {
  RecordStats stats;
  std::vector<Event> events;
  TraceHeader header;
};

Converted convert(const TempDir& dir, const RawFile& f) {
  const std::string in = dir.write("p.raw", f.data()), out = dir.file("p.jsonl");
  Converted c;
  RawRecording rec = readRawRecording(in);
  c.stats = convertRecording(rec, out);
  auto r = openTrace(out);
  c.events = readAll(*r);
  c.header = r->header();
  // Every conversion is a valid trace.
  EXPECT_NO_THROW(loadProgram(out)) << slurp(out);
  return c;
}

std::string str(const std::vector<Event>& es) {
  std::string s;
  for (auto& e : es) appendEventJson(s, e), s += "\n";
  return s;
}

TEST(RecordConvert, AnAddressFreedOnOneThreadAndReusedOnAnotherIsOrderedByTs) {
  TempDir dir;
  // Thread 5 frees 0x10 at 30; thread 9 gets 0x10 back at 30 (same ts: the free goes first) and at 45 again.
  RawFile f;
  f.events(5, 0, {{1010, 0x10, 24, kMalloc}, {1030, 0x10, 0, kFree}, {1040, 0x20, 8, kMalloc}});
  f.events(9, 0, {{1020, 0x30, 16, kMalloc}, {1030, 0x10, 32, kMalloc}, {1044, 0x10, 0, kFree}, {1045, 0x10, 48, kMalloc}});
  f.end(1100);
  Converted c = convert(dir, f);
  ASSERT_EQ(c.events.size(), 7u) << str(c.events);
  // Thread 5 had the first event: it is thread 0. ts count from the process start (1000).
  EXPECT_EQ(str(c.events),
            "{\"op\":\"alloc\",\"thread\":0,\"id\":1,\"size\":24,\"scan\":true,\"ts\":10}\n"
            "{\"op\":\"alloc\",\"thread\":1,\"id\":2,\"size\":16,\"scan\":true,\"ts\":20}\n"
            "{\"op\":\"free\",\"thread\":0,\"id\":1,\"ts\":30}\n"
            "{\"op\":\"alloc\",\"thread\":1,\"id\":3,\"size\":32,\"scan\":true,\"ts\":30}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":4,\"size\":8,\"scan\":true,\"ts\":40}\n"
            "{\"op\":\"free\",\"thread\":1,\"id\":3,\"ts\":44}\n"
            "{\"op\":\"alloc\",\"thread\":1,\"id\":5,\"size\":48,\"scan\":true,\"ts\":45}\n");
  EXPECT_EQ(c.stats.threads, 2u);
  EXPECT_EQ(c.stats.unknownFrees, 0u);
  EXPECT_EQ(c.stats.liveAtEnd, 3u);
}

// An object allocated on one thread and freed by another at the same ts (a handoff faster than the clock):
// the order by (ts, free first) would free it before its alloc; the converter puts the alloc first.
TEST(RecordConvert, ASameTsHandoffKeepsTheAllocBeforeTheFree) {
  TempDir dir;
  RawFile f({"handoff"});
  f.events(0, 0, {{2000, 0x10, 24, kMalloc}, {2010, 0x18, 8, kMalloc}});
  f.events(1, 0, {{2000, 0x10, 0, kFree}, {2005, 0x40, 8, kMalloc}});
  Converted c = convert(dir, f);
  EXPECT_EQ(c.stats.unknownFrees, 0u) << str(c.events);
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(c.events[0].op, Op::Alloc);
  EXPECT_EQ(c.events[1].op, Op::Free);
  EXPECT_EQ(c.events[1].id, c.events[0].id);
  EXPECT_EQ(c.events[1].thread, 1);
  EXPECT_EQ(c.events[1].ts, 1000u);
  EXPECT_EQ(c.stats.end, "none");
}

TEST(RecordConvert, ReallocIsAFreeAndAnAllocUnderANewId) {
  TempDir dir;
  RawFile f;
  f.events(0, 0, {{1100, 0x10, 24, kMalloc},
                  {1200, 0x10, 0, raw::kReallocFree},
                  {1210, 0x10, 100, raw::kReallocAlloc},  // grown in place: the same address, a new id
                  {1300, 0x10, 0, raw::kReallocFree},
                  {1310, 0x80, 1000, raw::kReallocAlloc},
                  {1400, 0x90, 7, raw::kReallocAlloc}});  // realloc(NULL, 7)
  f.end(1500);
  Converted c = convert(dir, f);
  EXPECT_EQ(str(c.events),
            "{\"op\":\"alloc\",\"thread\":0,\"id\":1,\"size\":24,\"scan\":true,\"ts\":100}\n"
            "{\"op\":\"free\",\"thread\":0,\"id\":1,\"ts\":200}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":2,\"size\":100,\"scan\":true,\"ts\":210}\n"
            "{\"op\":\"free\",\"thread\":0,\"id\":2,\"ts\":300}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":3,\"size\":1000,\"scan\":true,\"ts\":310}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":4,\"size\":7,\"scan\":true,\"ts\":400}\n");
  EXPECT_EQ(c.stats.entries[raw::kReallocAlloc], 3u);
  EXPECT_EQ(c.stats.entries[raw::kReallocFree], 2u);
  EXPECT_EQ(c.stats.durationNs, 500u);
  EXPECT_EQ(c.stats.end, "exit");
}

TEST(RecordConvert, UnknownFreesAndLiveAddressesAreCountedNotGuessed) {
  TempDir dir;
  RawFile f;
  f.events(0, 0, {{1100, 0x10, 24, kMalloc},
                  {1150, 0x99, 0, kFree},           // never allocated (before the recorder was ready)
                  {1200, 0x10, 32, kMalloc},        // its free was not seen: the old object freed first
                  {1300, 0x10, 0, raw::kDelete}});
  f.end(1400);
  Converted c = convert(dir, f);
  EXPECT_EQ(c.stats.unknownFrees, 1u);
  EXPECT_EQ(c.stats.liveAddressReallocated, 1u);
  EXPECT_EQ(c.stats.allocs, 2u);
  EXPECT_EQ(c.stats.frees, 2u);
  EXPECT_EQ(c.stats.beforeReady, 3u);
  const auto& meta = c.header.meta["record"];
  EXPECT_EQ(meta["unknown_frees"], 1);
  EXPECT_EQ(meta["live_address_reallocated"], 1);
  EXPECT_EQ(meta["before_ready"], 3);
  EXPECT_EQ(meta["entries"]["delete"], 1);
  EXPECT_EQ(meta["command"][1], "arg one");
  EXPECT_EQ(c.header.meta["source"], "prog 'arg one'");
  EXPECT_EQ(c.header.threads, 1u);
}

TEST(RecordConvert, ThreadsAreNumberedInTheOrderOfTheirFirstEvent) {
  TempDir dir;
  RawFile f;
  f.events(7, 0, {{1300, 0x10, 1, kMalloc}});
  f.events(3, 0, {{1200, 0x20, 2, kMalloc}});
  f.events(0, 0, {{1250, 0x30, 3, kMalloc}});
  Converted c = convert(dir, f);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].size, 2u);
  EXPECT_EQ(c.events[0].thread, 0);
  EXPECT_EQ(c.events[1].thread, 1);
  EXPECT_EQ(c.events[2].thread, 2);
}

TEST(RecordConvert, LostAndDamagedRecordsAreReported) {
  TempDir dir;
  RawFile f;
  f.events(0, 0, {{1100, 0x10, 24, kMalloc}, {1110, 0x20, 24, kMalloc}});
  f.events(0, 5, {{1200, 0x30, 24, kMalloc}});  // records 2-4 never written
  f.end(1300, 7);
  f.garbage("GMRC and then nothing");  // a chunk cut short
  Converted c = convert(dir, f);
  EXPECT_EQ(c.stats.lostEvents, 3u + 7u);
  EXPECT_EQ(c.stats.unreadableBytes, 21u);
  EXPECT_EQ(c.stats.allocs, 3u);
}

// The records' ts are time-stamp counter ticks: the line through the first and the last calibration pair maps
// them to ns (here 2 ticks a ns from tick 10000 = 1000 ns, the process start); a thread whose tick steps back
// is counted and its ts held at the last one written, so the trace's ts never decrease.
TEST(RecordConvert, TicksAreConvertedToNsByTheCalibrationPairsAndBackwardStepsCounted) {
  TempDir dir;
  RawFile f;
  f.clock(10000, 1000).clock(30000, 11003);  // (a middle pair's jitter does not bend the line)
  f.events(0, 0, {{12000, 0x10, 24, kMalloc}, {16000, 0x10, 0, kFree}, {15000, 0x20, 8, kMalloc},
                  {20000, 0x30, 16, kMalloc}});
  f.events(1, 0, {{14000, 0x40, 32, kMalloc}});
  f.clock(50000, 21000);
  f.end(26000);
  Converted c = convert(dir, f);
  EXPECT_EQ(str(c.events),
            "{\"op\":\"alloc\",\"thread\":0,\"id\":1,\"size\":24,\"scan\":true,\"ts\":1000}\n"
            "{\"op\":\"alloc\",\"thread\":1,\"id\":2,\"size\":32,\"scan\":true,\"ts\":2000}\n"
            "{\"op\":\"free\",\"thread\":0,\"id\":1,\"ts\":3000}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":3,\"size\":8,\"scan\":true,\"ts\":3000}\n"
            "{\"op\":\"alloc\",\"thread\":0,\"id\":4,\"size\":16,\"scan\":true,\"ts\":5000}\n");
  EXPECT_EQ(c.stats.clockBackwards, 1u);
  EXPECT_DOUBLE_EQ(c.stats.ticksPerNs, 2.0);
  EXPECT_EQ(c.stats.durationNs, 25000u);
  const auto& meta = c.header.meta["record"];
  EXPECT_EQ(meta["clock_backwards"], 1);
  EXPECT_EQ(meta["ticks_per_ns"], 2.0);
}

TEST(RecordConvert, TickClockIsMonotonicAndTheIdentityWithoutPairs) {
  const TickClock none({});
  EXPECT_EQ(none.ns(12345), 12345u);
  const TickClock c({{30000, 11000}, {10000, 1000}});
  EXPECT_EQ(c.ns(10000), 1000u);
  EXPECT_EQ(c.ns(10001), 1000u);  // (truncated, never rounded up past a later tick's)
  EXPECT_EQ(c.ns(10002), 1001u);
  EXPECT_EQ(c.ns(9000), 500u);  // before the first pair: the same line
  EXPECT_EQ(c.ns(0), 0u);       // (never below 0)
  uint64_t last = 0;
  for (uint64_t t = 0; t < 100000; t += 7) {
    EXPECT_GE(c.ns(t), last) << t;
    last = c.ns(t);
  }
}

TEST(RecordConvert, AFileThatIsNoRecordingIsAnError) {
  TempDir dir;
  const std::string p = dir.write("x.raw", "not a recording at all, no");
  try {
    readRawRecording(p);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), p + ": not a raw recording of gomalloc record (no GMRC chunk at the start)");
  }
}

TEST(RecordConvert, ShellJoinQuotesWhatAShellWouldSplit) {
  EXPECT_EQ(shellJoin({"sort", "-n", "/tmp/a b", "it's"}), "sort -n '/tmp/a b' 'it'\\''s'");
}

}  // namespace
}  // namespace gomalloc::traces::testing
