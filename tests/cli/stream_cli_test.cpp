// gomalloc replay streams the trace in windows: the report does not depend on the window (a window larger than
// the trace is the whole program at once, as loading it whole did), the trace can come from a pipe in every
// encoding, and a problem in a later window is still a clear error with no report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::ordered_json;

// The deterministic report, without timings, of `replay ARGS`.
std::string report(const std::string& args, const ScratchDir& dir) {
  RunResult r = gomalloc("replay " + args + " --quiet --deterministic --format json --no-timings", dir);
  EXPECT_EQ(r.code, 0) << args << ": " << r.err;
  return r.out;
}

constexpr const char* kWhole = " --window 1000000000";  // every trace here fits one window: loaded whole

TEST(StreamCli, TinyWindowsGiveTheReportOfTheWholeTraceForEveryKindAndExample) {
  ScratchDir dir("stream-kinds");
  std::vector<std::string> traces;
  for (const char* kind : {"steady", "web", "producer-consumer", "fragmentation", "large", "larson"}) {
    const std::string out = (dir / (std::string(kind) + ".gmt")).string();
    RunResult g = gomalloc(std::string("gen ") + kind + " --events 6000 --threads 4 --seed 3 -o " + out, dir);
    ASSERT_EQ(g.code, 0) << g.err;
    traces.push_back(out);
  }
  for (const char* ex : {"examples/web.json", "examples/steady.jsonl", "examples/larson.gmt",
                         "examples/producer-consumer.json", "examples/tiny.json"})
    traces.push_back(ex);
  for (const std::string& t : traces)
    for (const char* alloc : {"go", "null"})
      for (const char* procs : {"1", "2", "8"}) {
        const std::string args = t + " --allocator " + alloc + " --procs " + procs;
        Json whole = Json::parse(report(args + kWhole, dir)), windows = Json::parse(report(args + " --window 1000", dir));
        if (std::string(alloc) == "null") {  // its largest objects get mappings of their own: addresses not reproducible
          whole["summary"].erase("address_digest");
          windows["summary"].erase("address_digest");
        }
        EXPECT_EQ(windows.dump(1), whole.dump(1)) << args;
      }
}

TEST(StreamCli, GcEventsExactlyAtWindowBoundaries) {
  ScratchDir dir("stream-gc");
  const std::string t = (dir / "gc.gmt").string();
  ASSERT_EQ(gomalloc("gen steady --events 20000 --threads 3 --seed 5 --gc-every 500 -o " + t, dir).code, 0);
  for (const char* procs : {"1", "2", "8"}) {
    const std::string args = t + " --procs " + procs;
    const std::string whole = report(args + kWhole, dir);
    EXPECT_GT(Json::parse(whole)["summary"]["gc_events"].get<int>(), 30) << whole.substr(0, 2000);
    // Each cycle's events are global indices, the same whatever the window (the reports are compared whole).
    uint64_t last = 0;
    const Json parsed = Json::parse(whole);
    for (const auto& c : parsed["gc_cycles"]) {
      EXPECT_GE(c["end_event"].get<uint64_t>(), last);
      last = c["end_event"].get<uint64_t>();
    }
    EXPECT_GT(last, 10000u);
    // The gc is the last event of a window of 500 (and 1000), the first of one of 499 or 501 ... 
    for (const char* w : {"500", "1000", "499", "501", "1"})
      EXPECT_EQ(report(args + " --window " + w, dir), whole) << args << " --window " << w;
    // The default windows (16 384 events, the thread set read ahead): two windows here.
    EXPECT_EQ(report(args, dir), whole) << args;
  }
}

TEST(StreamCli, StandardInputInEveryEncoding) {
  ScratchDir dir("stream-stdin");
  const std::string gmt = (dir / "s.gmt").string();
  ASSERT_EQ(gomalloc("gen web --events 5000 --threads 2 --seed 2 -o " + gmt, dir).code, 0);
  const std::string whole = report(gmt + kWhole, dir);
  for (const char* suffix : {"json", "jsonl", "gmt.zst", "json.gz"}) {
    const std::string f = (dir / (std::string("s.") + suffix)).string();
    ASSERT_EQ(gomalloc("convert " + gmt + " " + f, dir).code, 0) << suffix;
  }
  for (const char* suffix : {"json", "jsonl", "gmt", "gmt.zst", "json.gz"}) {
    const std::string f = (dir / (std::string("s.") + suffix)).string();
    RunResult r = runShell("{ cat '" + f + "' | '" GOMALLOC_BINARY
                           "' replay - --quiet --deterministic --format json --no-timings --window 700; }",
                           dir);
    ASSERT_EQ(r.code, 0) << suffix << ": " << r.err;
    Json a = Json::parse(r.out), b = Json::parse(whole);
    EXPECT_EQ(a["trace"]["path"], "-") << suffix;
    a["trace"].erase("path"), b["trace"].erase("path");
    EXPECT_EQ(a.dump(1), b.dump(1)) << suffix;
  }
}

// A trace of 3000 good events on two threads, then a free of an id that was never allocated (event 3000, line
// 3002 of the JSON Lines file).
std::string badLater() {
  std::string t = "{\"format\":\"gomalloc-trace\",\"version\":1}\n";
  for (int i = 0; i < 1500; i++) {
    t += "{\"op\":\"alloc\",\"id\":" + std::to_string(i) + ",\"size\":32,\"thread\":" + std::to_string(i % 2) + "}\n";
    t += "{\"op\":\"free\",\"id\":" + std::to_string(i) + ",\"thread\":" + std::to_string(i % 2) + "}\n";
  }
  return t + "{\"op\":\"free\",\"id\":99999,\"thread\":0}\n";
}

TEST(StreamCli, BadInputInALaterWindowIsAnErrorWithNoReport) {
  ScratchDir dir("stream-bad");
  const auto f = dir / "bad.jsonl";
  spit(f, badLater());
  // (Braces: runShell's redirection of standard input then does not reach the pipe's reader.)
  for (const std::string& how : {std::string("{ '") + GOMALLOC_BINARY + "' replay '" + f.string() + "'",
                                 "{ cat '" + f.string() + "' | '" + GOMALLOC_BINARY + "' replay -"}) {
    for (const char* extra : {" --window 1000", " --window 1000 --format json", " --window 1000 --deterministic"}) {
      const std::string out = (dir / "r.json").string();
      RunResult r = runShell(how + extra + " --quiet; }", dir);
      EXPECT_EQ(r.code, 2) << how << extra << ": " << r.err;
      EXPECT_NE(r.err.find("event 3000 (line 3002, column "), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("free of id 99999 that is not live"), std::string::npos) << r.err;
      EXPECT_EQ(r.out, "") << how << extra;  // no report, not even a partial one
      RunResult o = runShell(how + extra + " --quiet -o '" + out + "'; }", dir);
      EXPECT_EQ(o.code, 2);
      EXPECT_FALSE(std::filesystem::exists(out)) << how << extra;
    }
  }
}

// Thread 7 first appears in event 2500, after the first window of 1000 events.
std::string lateThread() {
  std::string t = "{\"format\":\"gomalloc-trace\",\"version\":1}\n";
  for (int i = 0; i < 1500; i++) {
    const int th = i >= 1250 ? 7 : i % 3;
    t += "{\"op\":\"alloc\",\"id\":" + std::to_string(i) + ",\"size\":48,\"thread\":" + std::to_string(th) + "}\n";
    t += "{\"op\":\"free\",\"id\":" + std::to_string(i) + ",\"thread\":" + std::to_string(th) + "}\n";
  }
  return t;
}

TEST(StreamCli, AThreadThatStartsLateIsReadAheadOrFoundAgainInAFileAndRefusedFromAPipe) {
  ScratchDir dir("stream-late-thread");
  const auto f = dir / "late.jsonl";
  spit(f, lateThread());
  const std::string whole = report(f.string() + kWhole, dir);
  EXPECT_EQ(Json::parse(whole)["trace"]["threads"], 4);
  EXPECT_EQ(report(f.string() + " --window 1000", dir), whole);
  RunResult p = runShell("{ cat '" + f.string() + "' | '" GOMALLOC_BINARY "' replay - --quiet --window 1000; }", dir);
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("event 2500 (line 2502, column "), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("thread 7 first appears after the replay started"), std::string::npos) << p.err;
  EXPECT_EQ(p.out, "");
  // The default windows start small, but the thread set is read ahead from the first 1 048 576 events: from a
  // pipe too, thread 7 is known when the replay starts.
  RunResult d = runShell("{ cat '" + f.string() + "' | '" GOMALLOC_BINARY
                         "' replay - --quiet --deterministic --format json --no-timings; }",
                         dir);
  ASSERT_EQ(d.code, 0) << d.err;
  Json piped = Json::parse(d.out), file = Json::parse(whole);
  EXPECT_EQ(piped["trace"]["threads"], 4);
  piped["trace"].erase("path"), file["trace"].erase("path");
  EXPECT_EQ(piped.dump(1), file.dump(1));
}

}  // namespace
}  // namespace gomalloc::testing
