// The JSON readers: the fast path for canonical events against the general tokenizer (the same events and
// positions), reading on after a bad event (ReadOptions::recover, what validate uses to list every error), and
// unknown keys (counted; a near-miss of one of the format's keys warned once, with its line).
#include <gtest/gtest.h>

#include <cstdlib>

#include "traces/generate.h"

#include "tests/traces/trace_test_util.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

const std::string kA1 = R"({"op": "alloc", "thread": 0, "id": 1, "size": 16})";
const std::string kA2 = R"({"op": "alloc", "thread": 0, "id": 2, "size": 32})";

// Every event, with its line and column, read with the fast path and without it (GOMALLOC_JSON_GENERAL).
void expectSamePaths(const std::string& name, const std::string& text) {
  SCOPED_TRACE(name);
  auto fast = readText(name, text);
  setenv("GOMALLOC_JSON_GENERAL", "1", 1);
  auto general = readText(name, text);
  unsetenv("GOMALLOC_JSON_GENERAL");
  std::string why;
  EXPECT_TRUE(sameEvents(fast, general, &why)) << why;
  ASSERT_EQ(fast.size(), general.size());
  for (size_t i = 0; i < fast.size(); i++) {
    EXPECT_EQ(fast[i].line, general[i].line) << i;
    EXPECT_EQ(fast[i].column, general[i].column) << i;
  }
}

TEST(TraceJsonFastPath, GivesTheGeneralTokenizersEvents) {
  for (const char* kind : {"steady", "web", "larson"}) {
    GenOptions o;
    o.kind = kind;
    o.events = 3000;
    o.gcEvery = 300;
    for (Encoding enc : {Encoding::Json, Encoding::JsonLines}) {
      std::string t;
      auto w = createWriter(stringSink(t), Format{enc, Compression::None}, genHeader(o));
      generate(o, *w);
      w->finish();
      expectSamePaths(enc == Encoding::Json ? "t.json" : "t.jsonl", t);
    }
  }
  // Near-canonical forms: spaces, another key order, a free with a size, scan false, a gc with a thread, huge
  // values (19 and 20 digits), escapes, unknown keys.
  expectSamePaths("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 16, "scan": true, "ts": 1})",
                                 R"({"op":"alloc","thread":1,"id":2,"size":0,"scan":false})",
                                 R"({"thread": 1, "op": "free", "id": 2, "ts": 9})",
                                 R"({"op": "free", "thread": 0, "id": 1, "size": 16})",
                                 R"({"op":"gc","thread":3,"ts":9999999999999999999})",
                                 R"({"op":"gc","ts":18446744073709551615})",
                                 R"({"op":"alloc","thread":65535,"id":18446744073709551615,"size":1099511627776})",
                                 R"({"op":"gc"})", R"({"op":"gc","x":[1,{"y":2}]})", R"({ "op":"gc" })"}));
}

struct Recovered {
  std::vector<std::pair<uint64_t, uint64_t>> events;  // (index, id) of the events returned
  std::vector<EventError> errors;
};

Recovered readRecovering(const std::string& name, const std::string& text, size_t batch = 1024) {
  ReadOptions o;
  o.recover = true;
  auto r = openTraceMemory(name, text, o);
  Recovered out;
  std::vector<Event> buf(batch);
  while (size_t n = r->read(buf.data(), buf.size())) {
    for (size_t i = 0; i < n; i++) out.events.emplace_back(r->batchFirst() + i, buf[i].id);
    for (auto& e : r->takeEventErrors()) out.errors.push_back(e);
  }
  for (auto& e : r->takeEventErrors()) out.errors.push_back(e);
  return out;
}

const std::vector<std::string> kBad = {
    kA1,
    R"({"op": "alloc", "thread": 0, "id": 5, "size": -16})",
    R"({"op": "realloc", "thread": 0, "id": 6})",
    R"({"op": "alloc", "thread": 0, "id": 7})",
    R"({"op": "alloc", "thread": 0, "id": 8, "size": 8, "scan": "yes", "size": 9})",
    kA2,
};

void expectRecovered(const Recovered& r, const std::string& prefix) {
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0], (std::pair<uint64_t, uint64_t>{0, 1}));
  EXPECT_EQ(r.events[1], (std::pair<uint64_t, uint64_t>{5, 2}));  // the index counts the skipped events
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.errors[0].index, 1u);
  EXPECT_EQ(r.errors[0].message, prefix + "event 1 (line 4, column 47): \"size\" is negative: -16");
  EXPECT_EQ(r.errors[1].index, 2u);
  EXPECT_NE(r.errors[1].message.find("event 2 (line 5, column 8): unknown op \"realloc\""), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("event 3 (line 6, column 1): missing required field \"size\""), std::string::npos);
  EXPECT_NE(r.errors[3].message.find("event 4 (line 7, column 58): wrong type for \"scan\""), std::string::npos)
      << r.errors[3].message;
}

TEST(TraceRecover, JsonDocumentSkipsEachBadEventAndReadsOn) {
  for (size_t batch : {size_t{1}, size_t{3}, size_t{1024}}) {
    SCOPED_TRACE(batch);
    expectRecovered(readRecovering("t.json", doc(kBad), batch), "t.json: ");
  }
}

TEST(TraceRecover, JsonLinesSkipsEachBadEventAndReadsOn) {
  // lines() puts the header on line 1 and the events from line 2: one line less than doc().
  auto r = readRecovering("t.jsonl", lines(kBad));
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1], (std::pair<uint64_t, uint64_t>{5, 2}));
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_EQ(r.errors[0].message, "t.jsonl: event 1 (line 3, column 47): \"size\" is negative: -16");
}

TEST(TraceRecover, StrictReadingStillStopsAtTheFirstBadEvent) {
  EXPECT_EQ(errorOf("t.json", doc(kBad), false, false), "t.json: event 1 (line 4, column 47): \"size\" is negative: -16");
}

TEST(TraceRecover, ASyntaxErrorInABadEventEndsTheReadingWithItsOwnMessage) {
  // The bad value is not JSON: skipping the event fails, so its own error ends the reading.
  ReadOptions o;
  o.recover = true;
  const std::string text = doc({kA1, R"({"op": "alloc", "thread": 0, "id": 2, "size": x})", kA2});
  auto r = openTraceMemory("t.json", text, o);
  try {
    readAll(*r);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()),
              "t.json: event 1 (line 4, column 47): wrong type for \"size\": expected an integer, got something that "
              "is not JSON");
  }
  // An event spanning lines in JSON Lines is not skipped either.
  const std::string split = lines({kA1, R"({"op": "alloc", "thread": 0, "id": 2, "size": -1,)", "\"ts\": 1}"});
  auto l = openTraceMemory("t.jsonl", split, o);
  try {
    readAll(*l);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), "t.jsonl: event 1 (line 3, column 47): \"size\" is negative: -1");
  }
}

TEST(TraceRecover, ThreadAndTsErrorsAreQueuedAndTheEventKept) {
  auto r = readRecovering("t.json", doc({R"({"op": "alloc", "thread": 3, "id": 1, "size": 16, "ts": 5})",
                                         R"({"op": "alloc", "thread": 1, "id": 2, "size": 16, "ts": 5})",
                                         R"({"op": "alloc", "thread": 1, "id": 3, "size": 16, "ts": 4})"},
                                        ", \"threads\": 2"));
  EXPECT_EQ(r.events.size(), 3u);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].message.find("event 0 (line 3, column 1): \"thread\" is too large: 3"), std::string::npos);
  EXPECT_NE(r.errors[1].message.find("event 2 (line 5, column 1): \"ts\" goes backwards"), std::string::npos);
}

TEST(TraceRecover, BinaryQueuesThreadAndTsErrorsToo) {
  TraceHeader h;
  h.threads = 2;
  std::vector<Event> ev;
  for (uint64_t i = 0; i < 40; i++) ev.push_back(Event::alloc(uint16_t(i % 2), i + 1, 16).at(100 + i));
  ev[10].thread = 5;        // beyond "threads": 2
  ev[20].ts = 3;            // backwards on thread 0
  const std::string bin = encode(ev, Format{Encoding::Binary, Compression::None}, h);
  withBothGmtDecoders([&] {
    auto r = readRecovering("t.gmt", bin);
    EXPECT_EQ(r.events.size(), 40u);  // the events are kept
    ASSERT_EQ(r.errors.size(), 2u);
    EXPECT_EQ(r.errors[0].index, 10u);
    EXPECT_NE(r.errors[0].message.find("t.gmt: event 10: \"thread\" is too large: 5"), std::string::npos)
        << r.errors[0].message;
    EXPECT_EQ(r.errors[1].index, 20u);
    EXPECT_NE(r.errors[1].message.find("\"ts\" goes backwards on thread 0: 3 after 118"), std::string::npos)
        << r.errors[1].message;
  });
}

TEST(TraceUnknownKeys, NearMissesOfTheFormatsKeys) {
  EXPECT_EQ(nearMissKey("scna", false), "scan");   // a transposition
  EXPECT_EQ(nearMissKey("Size", false), "size");   // case
  EXPECT_EQ(nearMissKey("SIZE", false), "size");
  EXPECT_EQ(nearMissKey("thred", false), "thread");
  EXPECT_EQ(nearMissKey("tread", false), "thread");
  EXPECT_EQ(nearMissKey("threads", false), "thread");
  EXPECT_EQ(nearMissKey("Id", false), "id");
  EXPECT_EQ(nearMissKey("ops", false), "op");
  EXPECT_EQ(nearMissKey("stack", false), "");      // a key of its own
  EXPECT_EQ(nearMissKey("addr", false), "");
  EXPECT_EQ(nearMissKey("x", false), "");          // short keys: distance 1 at most
  EXPECT_EQ(nearMissKey("versoin", true), "version");
  EXPECT_EQ(nearMissKey("thread", true), "threads");
  EXPECT_EQ(nearMissKey("source", true), "");
}

TEST(TraceUnknownKeys, CountedAndEachNearMissWarnedOnce) {
  std::string text = doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 16, "scna": true})",
                          R"({"op": "alloc", "thread": 0, "id": 2, "size": 16, "scna": true, "stack": [1, 2]})",
                          R"({"op": "free", "thread": 0, "id": 1, "Size": 16})"},
                         ", \"thread\": 2");
  auto r = openTraceMemory("t.json", text);
  auto ev = readAll(*r);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_FALSE(ev[0].scan);  // skipped, as before: a warning, not an error
  const UnknownKeys& u = r->unknownKeys();
  EXPECT_EQ(u.total, 5u);
  ASSERT_EQ(u.keys.size(), 4u);
  EXPECT_EQ(u.keys[0], (std::pair<std::string, uint64_t>{"thread", 1}));
  EXPECT_EQ(u.keys[1], (std::pair<std::string, uint64_t>{"scna", 2}));
  EXPECT_EQ(u.keys[2], (std::pair<std::string, uint64_t>{"stack", 1}));
  EXPECT_EQ(u.keys[3], (std::pair<std::string, uint64_t>{"Size", 1}));
  auto w = r->warnings();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "t.json: line 1: unknown key \"thread\" (did you mean \"threads\"?)");
  EXPECT_EQ(w[1], "t.json: line 3: unknown key \"scna\" (did you mean \"scan\"?)");
  EXPECT_EQ(w[2], "t.json: line 5: unknown key \"Size\" (did you mean \"size\"?)");
}

TEST(TraceUnknownKeys, JsonLinesToo) {
  const std::string text = lines({kA1, R"({"op": "gc", "tS": 4})"});
  auto r = openTraceMemory("t.jsonl", text);
  readAll(*r);
  EXPECT_EQ(r->unknownKeys().total, 1u);
  auto w = r->warnings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], "t.jsonl: line 3: unknown key \"tS\" (did you mean \"ts\"?)");
}

}  // namespace
}  // namespace gomalloc::traces
