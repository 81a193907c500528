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

// What reading a trace gives: its events (with lines and columns), or its error.
struct Outcome {
  std::vector<Event> events;
  std::string error;
};
Outcome outcome(const std::string& name, const std::string& text) {
  Outcome o;
  try {
    auto r = openTraceMemory(name, text);
    o.events = readAll(*r);
  } catch (const TraceError& e) {
    o.error = e.what();
  }
  return o;
}

// The same events, lines and columns, or the same error, read with the fast path and without it
// (GOMALLOC_JSON_GENERAL).
void expectSameOutcome(const std::string& name, const std::string& text, bool mustRead) {
  SCOPED_TRACE(name + ": " + text.substr(0, 300));
  Outcome fast = outcome(name, text);
  setenv("GOMALLOC_JSON_GENERAL", "1", 1);
  Outcome general = outcome(name, text);
  unsetenv("GOMALLOC_JSON_GENERAL");
  EXPECT_EQ(fast.error, general.error);
  if (mustRead) {
    EXPECT_EQ(fast.error, "");
  }
  std::string why;
  EXPECT_TRUE(sameEvents(fast.events, general.events, &why)) << why;
  ASSERT_EQ(fast.events.size(), general.events.size());
  for (size_t i = 0; i < fast.events.size(); i++) {
    EXPECT_EQ(fast.events[i].line, general.events[i].line) << i;
    EXPECT_EQ(fast.events[i].column, general.events[i].column) << i;
  }
}
void expectSamePaths(const std::string& name, const std::string& text) { expectSameOutcome(name, text, true); }

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

// Each event between canonical ones, in a document and in JSON Lines: what the fast path now reads (numbers
// of every length, the largest values, spaces after ':' and ','), what it leaves to the general tokenizer
// (other key orders, other whitespace, escapes, 20 digits) and bad events (the same error either way).
TEST(TraceJsonFastPath, EdgesGiveTheGeneralTokenizersEventsAndErrors) {
  const std::vector<std::string> events = {
      // numbers of 1 to 20 digits, 0, the largest values
      R"({"op":"alloc","thread":0,"id":0,"size":0})",
      R"({"op":"alloc","thread":7,"id":1234567,"size":12345678,"ts":123456789})",
      R"({"op":"alloc","thread":65535,"id":1234567890123456,"size":1099511627776,"ts":12345678901234567})",
      R"({"op":"free","thread":1,"id":9999999999999999999,"ts":99999999999999999})",
      R"({"op":"alloc","thread":1,"id":18446744073709551615,"size":1})",
      R"({"op":"gc","ts":10000000000000000000})",
      R"({"op":"gc","thread":12,"ts":100000000})",
      R"({"op":"alloc","thread":2,"id":3,"size":4,"scan":true})",
      // spaces, another key order, other whitespace, escapes, unknown keys, scan false, a free's size
      R"({"op": "alloc", "thread": 3, "id": 4, "size": 5, "scan": true, "ts": 6})",
      R"({"op":"alloc", "thread":3,"id": 5,"size":5})",
      R"({"thread":0,"op":"alloc","size":16,"id":9})",
      R"({"op":"gc","ts":1,"thread":4})",
      R"({"op" :"gc"})", R"({"op":"gc" })", R"({ "op":"gc"})", R"({"op":  "gc"})", "{\"op\":\t\"gc\"}",
      R"({"op":"alloc","thread":0,"id":10,"size":16,"scan":false})",
      R"({"op":"free","thread":0,"id":10,"size":16})",
      R"({"op":"\u0061lloc","thread":0,"id":11,"size":16})", R"({"\u006fp":"gc"})", R"({"op":"gc","t\u0073":5})",
      R"({"op":"gc","tss":5})", R"({"op":"alloc","thread":0,"id":12,"size":16,"stack":[1,2]})",
  };
  const std::vector<std::string> bad = {
      R"({"op":"alloc","thread":0,"id":01,"size":16})",
      R"({"op":"alloc","thread":0,"id":1,"size":1.5})",
      R"({"op":"alloc","thread":0,"id":1,"size":1e3})",
      R"({"op":"alloc","thread":0,"id":1,"size":2E3})",
      R"({"op":"alloc","thread":0,"id":1,"size":-1})",
      R"({"op":"alloc","thread":0,"id":1,"size":1099511627777})",
      R"({"op":"alloc","thread":65536,"id":1,"size":1})",
      R"({"op":"free","thread":0,"id":18446744073709551616})",
      R"({"op":"gc","ts":123456789012345678901234})",
      R"({"op":"alloc","thread":0,"id":1,"size":})",
      R"({"op":"alloc","thread":0,"id":1})",
      R"({"op":"alloc","thread":0,"id":1,"size":1,"scan":"yes"})",
      R"({"op":"alloc","thread":0,"id":1,"size":1,"size":2})",
      R"({"op":"gc","ts":1,"ts":2})",
      R"({"op":"alloc","thread":0,"id":1,"size":1,})",
      R"({"op":"alloc","thread":0,"id":1,"size":1)",
      R"({"op":"allocate","thread":0,"id":1,"size":1})",
      R"({"op":"gc"}})",
      R"({"op":"gc"} {"op":"gc"})",
      "{\"op\":\"alloc\",\"thread\":0,\"id\":1,\n\"size\":1}",
  };
  const std::string a = R"({"op":"alloc","thread":0,"id":100,"size":16})";
  const std::string f = R"({"op":"free","thread":0,"id":100})";
  for (const auto& e : events) {
    expectSamePaths("t.json", doc({a, e, f, e, a, f}));
    expectSamePaths("t.jsonl", lines({a, e, f, e, a, f}));
  }
  for (const auto& e : bad) {
    expectSameOutcome("t.json", doc({a, f, e, a}), false);
    expectSameOutcome("t.jsonl", lines({a, f, e, a}), false);
  }
  // Separators: whitespace around ',' in a document; blank lines, CRLF, spaces at the ends of JSON Lines.
  const std::string head = "{\"format\":\"gomalloc-trace\",\"version\":1";
  for (const char* sep : {",", ", ", " ,", "\n,", " \n , ", ",\r\n\t", ",\n\n  ", " ", "\n", ",,", ",]"}) {
    std::string text = head + ",\"events\":[" + a;
    for (int i = 0; i < 4; i++) text += sep + (i % 2 ? f : a);
    expectSameOutcome("t.json", text + "]}\n", false);
  }
  for (const char* sep : {"\n", "\r\n", " \n", "\t\r\n", "\n\n", "\n \t", "\n  \n", "\r\n\r\n", " ", "\n,"}) {
    std::string text = head + "}\n" + a;
    for (int i = 0; i < 4; i++) text += sep + (i % 2 ? f : a);
    expectSameOutcome("t.jsonl", text + sep, false);
    expectSameOutcome("t.jsonl", text + " x\n", false);
  }
}

// Events across the end of the reader's 1 MiB window, at every byte of the events there (the stream shifted
// by 0 to 63 bytes): the fast path stops at the window's end and the general tokenizer refills it.
TEST(TraceJsonFastPath, EventsAcrossTheEndOfTheWindow) {
  std::vector<Event> ev;
  std::string body[2];  // the events as a document's array and as JSON Lines
  for (uint64_t i = 0; body[0].size() < (size_t{1} << 20) + 4096; i++) {
    uint16_t t = uint16_t(i % 4);
    uint64_t ts = i * 1000003;
    switch (i % 6) {
      case 0: ev.push_back(Event::alloc(t, i + 1, (i * 37) % 100000).at(ts)); break;
      case 1: ev.push_back(Event::alloc(t, 1000000000000000 + i, 8, true).at(ts)); break;
      case 2: ev.push_back(Event::free(t, i)); break;
      case 3: ev.push_back(Event::gc()); break;
      case 4: ev.push_back(Event::gc(t).at(ts)); break;
      case 5: ev.push_back(Event::alloc(t, 18446744073709551615u - i, 1099511627776)); break;  // 20 digits
    }
    std::string e;
    appendEventJson(e, ev.back());
    body[0] += (i ? ",\n" : "") + e;
    body[1] += e + "\n";
  }
  for (size_t shift = 0; shift < 64; shift++) {
    SCOPED_TRACE(shift);
    const std::string head = "{\"format\":\"gomalloc-trace\",\"version\":1" + std::string(shift, ' ');
    for (bool jsonLines : {false, true}) {
      auto got = readText(jsonLines ? "t.jsonl" : "t.json",
                          jsonLines ? head + "}\n" + body[1] : head + ",\"events\":[\n" + body[0] + "\n]}\n");
      std::string why;
      ASSERT_TRUE(sameEvents(got, ev, &why)) << why;
      for (size_t i = 0; i < got.size(); i++) {
        ASSERT_EQ(got[i].line, i + 2) << i;
        ASSERT_EQ(got[i].column, 1u) << i;
      }
    }
  }
}

// The fuzzer's seeds (fuzz/corpus/json_reader/) as a document, as JSON Lines and by content: the same outcome
// with the fast path and without it.
TEST(TraceJsonFastPath, FuzzSeedsGiveTheSameOutcome) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(GOMALLOC_SOURCE_DIR) + "/fuzz/corpus/json_reader")) {
    const std::string text = slurp(entry.path().string());
    SCOPED_TRACE(entry.path().filename().string());
    for (const char* name : {"fuzz.json", "fuzz.jsonl", "fuzz.trace"}) expectSameOutcome(name, text, false);
    ++n;
  }
  EXPECT_GT(n, 0u);
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
