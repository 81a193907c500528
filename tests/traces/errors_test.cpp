// One test per row of the spec's bad-input table (trace-format-v1.md, "What a reader must do with bad
// input"), strict and lenient, each checking that the message names the file, the event index and the line
// (and column) for JSON; plus the same for JSON Lines and the binary encoding where they differ.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/binary_format.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

const std::string kA1 = R"({"op": "alloc", "thread": 0, "id": 1, "size": 16})";
const std::string kF1 = R"({"op": "free", "thread": 0, "id": 1})";

// The first block's kinds in a version 3 file (gmtKinds gives a version 2 file's: the header's checksum comes
// before them now).
size_t kindsV3(const std::string& bin) { return gmtKinds(bin) + detail::kGmtChecksum; }

// bin with its checksums made to match its bytes, so that the checks behind them meet the change.
std::string sealed(std::string bin) {
  EXPECT_TRUE(detail::gmtSeal(bin.data(), bin.size()));
  return bin;
}

// Both modes must fail with a message that starts with prefix and contains text.
void expectErrorBothModes(const std::string& name, const std::string& trace, const std::string& prefix,
                          const std::string& text) {
  for (bool lenient : {false, true}) {
    SCOPED_TRACE(lenient ? "lenient" : "strict");
    std::string msg = errorOf(name, trace, lenient);
    EXPECT_TRUE(msg.rfind(prefix, 0) == 0) << "want prefix: " << prefix << "\n got: " << msg;
    EXPECT_NE(msg.find(text), std::string::npos) << msg;
  }
}

// ---- row 1: not JSON, truncated file, wrong format, version other than 1: error in both modes ----

TEST(TraceBadInputNotJson, InAnEvent) {
  expectErrorBothModes("t.json", doc({kA1, R"({"op": "free" "thread": 0, "id": 1})"}),
                       "t.json: event 1 (line 4, column 15): ", "expected ',' or '}' in an event object, got '\"'");
}

TEST(TraceBadInputNotJson, InTheHeader) {
  expectErrorBothModes("t.json", "{\"format\": gomalloc}", "t.json: header (line 1, column 12): ",
                       "wrong type for \"format\"");
  expectErrorBothModes("t.json", "hello", "t.json: header (line 1, column 1): ", "not JSON");
  expectErrorBothModes("t.json", "", "t.json: header (line 1, column 1): ", "empty file");
}

TEST(TraceBadInputNotJson, InJsonLines) {
  expectErrorBothModes("t.jsonl", lines({kA1, "{\"op\": \"free\", \"thread\": 0, \"id\": 1", kF1}),
                       "t.jsonl: event 1 (line 3, column 36): ", "expected ',' or '}' in an event object, got the end of the line");
  expectErrorBothModes("t.jsonl", lines({kA1, kF1 + " " + kA1}), "t.jsonl: event 1 (line 3, column 38): ",
                       "one event per line");
}

TEST(TraceBadInputNotJson, BadTokens) {
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 01, "size": 16})"}),
                       "t.json: event 0 (line 3, column 36): ", "leading zero");
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 16, "x": tru})"}),
                       "t.json: event 0 (line 3, column 56): ", "invalid literal");
  expectErrorBothModes("t.json", doc({"{\"op\": \"alloc\", \"thread\": 0, \"id\": 1, \"size\": 16, \"x\": \"a\tb\"}"}),
                       "t.json: event 0 (line 3, column 58): ", "control character");
}

TEST(TraceBadInputTruncated, InsideAnEvent) {
  std::string t = doc({kA1, kF1, kA1});
  t = t.substr(0, t.find("\"id\": 1", t.find(kF1)) + 4);  // cut inside event 1
  expectErrorBothModes("t.json", t, "t.json: event 1 (line 4, column 33): ", "unexpected end of file (truncated?)");
}

TEST(TraceBadInputTruncated, AfterAnEvent) {
  std::string t = doc({kA1, kF1});
  t = t.substr(0, t.find(kF1) + kF1.size());
  expectErrorBothModes("t.json", t, "t.json: event 2 (line 4, column 37): ",
                       "unexpected end of file (truncated?): expected ',' or ']'");
}

TEST(TraceBadInputTruncated, Binary) {
  std::string bin = encode({Event::alloc(0, 1, 16), Event::free(0, 1)}, {Encoding::Binary, Compression::None});
  for (size_t cut : {size_t{4}, size_t{20}, bin.size() - 24, bin.size() - 3}) {
    SCOPED_TRACE(cut);
    std::string msg = errorOf("t.gmt", bin.substr(0, cut));
    EXPECT_EQ(msg.rfind("t.gmt: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  }
  std::string msg = errorOf("t.gmt", bin.substr(0, bin.size() - 24));  // inside the block's checksum
  EXPECT_NE(msg.find("event 0 (byte "), std::string::npos) << msg;
}

TEST(TraceBadInputWrongFormat, BeforeAndAfterTheEvents) {
  expectErrorBothModes("t.json", R"({"format": "chrome-trace", "version": 1, "events": []})",
                       "t.json: header (line 1, column 12): ", "wrong format \"chrome-trace\"");
  expectErrorBothModes("t.json", "{\"version\": 1, \"events\": [\n" + kA1 + "\n], \"format\": \"other\"}",
                       "t.json: header, after the events (line 3, column 14): ", "wrong format \"other\"");
  expectErrorBothModes("t.json", "{\"version\": 1, \"events\": [\n" + kA1 + "\n]}",
                       "t.json: header, after the events (line 3, column 2): ", "missing \"format\"");
  expectErrorBothModes("t.jsonl", kA1 + "\n", "t.jsonl: header (line 1, column 49): ",
                       "the first line is an event, but JSON Lines starts with a header line");
}

TEST(TraceBadInputWrongVersion, TwoAndMissing) {
  expectErrorBothModes("t.json", R"({"format": "gomalloc-trace", "version": 2, "events": []})",
                       "t.json: header (line 1, column 41): ", "unsupported version 2");
  expectErrorBothModes("t.jsonl", "{\"format\": \"gomalloc-trace\", \"version\": 1.0}\n",
                       "t.jsonl: header (line 1, column 41): ", "unsupported version 1.0");
  expectErrorBothModes("t.json", R"({"format": "gomalloc-trace", "events": []})",
                       "t.json: header, after the events (line 1, column 42): ", "missing \"version\"");
  std::string bin = encode({}, {Encoding::Binary, Compression::None});
  bin[8] = 4;
  expectErrorBothModes("t.gmt", bin, "t.gmt: header (byte 8): ",
                       "unsupported .gmt version 4: this reader reads versions 2 and 3");
  bin[8] = 1;  // the row-oriented layout of earlier gomallocs
  expectErrorBothModes("t.gmt", bin, "t.gmt: header (byte 8): ", "unsupported .gmt version 1; convert it again");
}

// ---- row 2: unknown op, missing required field, wrong field type, negative or too-large size or thread ----

TEST(TraceBadInputUnknownOp, Document) {
  expectErrorBothModes("t.json", doc({kA1, R"({"op": "realloc", "thread": 0, "id": 1})"}),
                       "t.json: event 1 (line 4, column 8): ", "unknown op \"realloc\"");
}

TEST(TraceBadInputUnknownOp, Binary) {
  std::string bin = encode({Event::alloc(0, 1, 16), Event::gc()}, {Encoding::Binary, Compression::None});
  size_t kinds = kindsV3(bin);
  bin[kinds + 1] = 3;  // the gc's kind
  expectErrorBothModes("t.gmt", sealed(bin), fmt::format("t.gmt: event 1 (byte {}): ", kinds + 1), "invalid op 3");
  bin[kinds + 1] = 5;  // a free with the flag
  expectErrorBothModes("t.gmt", sealed(bin), "t.gmt: event 1 (byte ", "invalid free kind 0x05");
}

TEST(TraceBadInputMissingField, EachRequiredField) {
  expectErrorBothModes("t.json", doc({R"({"thread": 0, "id": 1, "size": 16})"}), "t.json: event 0 (line 3, column 1): ",
                       "missing required field \"op\"");
  expectErrorBothModes("t.json", doc({kA1, R"(  {"op": "alloc", "id": 2, "size": 16})"}),
                       "t.json: event 1 (line 4, column 3): ", "missing required field \"thread\"");
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "size": 16})"}),
                       "t.json: event 0 (line 3, column 1): ", "missing required field \"id\"");
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1})"}),
                       "t.json: event 0 (line 3, column 1): ", "missing required field \"size\"");
  expectErrorBothModes("t.jsonl", lines({kA1, R"({"op": "free", "thread": 0})"}), "t.jsonl: event 1 (line 3, column 1): ",
                       "missing required field \"id\"");
  expectErrorBothModes("t.json", doc({"{}"}), "t.json: event 0 (line 3, column 1): ", "missing required field \"op\"");
}

TEST(TraceBadInputWrongType, EachField) {
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": "0", "id": 1, "size": 16})"}),
                       "t.json: event 0 (line 3, column 27): ", "wrong type for \"thread\": expected an integer, got a string");
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 16.5})"}),
                       "t.json: event 0 (line 3, column 47): ", "wrong type for \"size\": expected an integer, got 16.5");
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 16, "scan": 1})"}),
                       "t.json: event 0 (line 3, column 59): ", "wrong type for \"scan\": expected true or false");
  expectErrorBothModes("t.json", doc({R"({"op": 1, "thread": 0, "id": 1})"}), "t.json: event 0 (line 3, column 8): ",
                       "wrong type for \"op\"");
  expectErrorBothModes("t.json", doc({R"({"op": "gc", "ts": null})"}), "t.json: event 0 (line 3, column 20): ",
                       "wrong type for \"ts\": expected an integer, got null");
  expectErrorBothModes("t.json", doc({R"({"op": "free", "thread": 0, "id": [1]})"}),
                       "t.json: event 0 (line 3, column 35): ", "wrong type for \"id\": expected an integer, got an array");
  expectErrorBothModes("t.json", R"({"format": "gomalloc-trace", "version": 1, "events": {}})",
                       "t.json: header (line 1, column 54): ", "wrong type for \"events\": expected an array");
  expectErrorBothModes("t.json", doc({"17"}), "t.json: event 0 (line 3, column 1): ",
                       "expected an event object '{', got a number");
}

TEST(TraceBadInputSize, NegativeAndTooLarge) {
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": -8})"}),
                       "t.json: event 0 (line 3, column 47): ", "\"size\" is negative: -8");
  expectErrorBothModes("t.json", doc({kA1, R"({"op": "alloc", "thread": 0, "id": 2, "size": 1099511627777})"}),
                       "t.json: event 1 (line 4, column 47): ", "\"size\" is too large: 1099511627777");
  expectErrorBothModes("t.jsonl", lines({R"({"op": "alloc", "thread": 0, "id": 2, "size": 99999999999999999999999})"}),
                       "t.jsonl: event 0 (line 2, column 47): ", "\"size\" is too large");
}

TEST(TraceBadInputThread, NegativeAndTooLarge) {
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": -1, "id": 1, "size": 8})"}),
                       "t.json: event 0 (line 3, column 27): ", "\"thread\" is negative: -1");
  expectErrorBothModes("t.json", doc({R"({"op": "free", "thread": 65536, "id": 1})"}),
                       "t.json: event 0 (line 3, column 26): ", "\"thread\" is too large: 65536 (at most 65535)");
  expectErrorBothModes("t.json", doc({R"({"op": "gc", "thread": 70000})"}), "t.json: event 0 (line 3, column 24): ",
                       "\"thread\" is too large: 70000");
}

TEST(TraceBadInputThread, BeyondTheDeclaredThreadCount) {
  expectErrorBothModes("t.json", doc({kA1, R"({"op": "alloc", "thread": 2, "id": 2, "size": 8})"}, ", \"threads\": 2"),
                       "t.json: event 1 (line 4, column 1): ", "\"thread\" is too large: 2 (the header declares \"threads\": 2");
  // "threads" after the events: checked at the end, naming the first offending event.
  std::string late = "{\"format\": \"gomalloc-trace\", \"version\": 1, \"events\": [\n" + kA1 +
                     ",\n{\"op\": \"gc\", \"thread\": 5},\n{\"op\": \"gc\", \"thread\": 3}\n], \"threads\": 3}";
  expectErrorBothModes("t.json", late, "t.json: event 1 (line 3, column 1): ", "\"thread\" is too large: 5");
  expectErrorBothModes("t.json", R"({"format": "gomalloc-trace", "version": 1, "threads": 65537, "events": []})",
                       "t.json: header (line 1, column 55): ", "\"threads\" is too large: 65537");
}

TEST(TraceBadInputTs, BackwardsOnAThreadIsAnErrorUnlessLenient) {
  std::string t = doc({R"({"op": "gc", "thread": 0, "ts": 100})", R"({"op": "gc", "thread": 1, "ts": 50})",
                       R"({"op": "gc", "thread": 0, "ts": 90})"});
  std::string msg = errorOf("t.json", t);
  EXPECT_EQ(msg.rfind("t.json: event 2 (line 5, column 1): \"ts\" goes backwards on thread 0: 90 after 100", 0), 0u)
      << msg;
  EXPECT_EQ(errorOf("t.json", t, true), "");
  auto r = openTraceMemory("t.json", t, ReadOptions{true, {}});
  EXPECT_EQ(readAll(*r).size(), 3u);
  EXPECT_EQ(r->tsBackwards(), 1u);
  ASSERT_EQ(r->warnings().size(), 1u);
  EXPECT_NE(r->warnings()[0].find("event 2 (line 5, column 1)"), std::string::npos);
}

// The binary reader checks thread and ts while it decodes: the same errors, in the middle of a block (decoded
// with whole-word loads) and among its last events (decoded from a padded copy), strict and lenient.
TEST(TraceBadInputTs, BinaryBackwardsAndThreadLimit) {
  withBothGmtDecoders([] {
  for (size_t before : {size_t{0}, size_t{200}}) {
    SCOPED_TRACE(before);
    std::vector<Event> ev;
    for (size_t i = 0; i < before; i++) ev.push_back(Event::gc(uint16_t(i % 3)).at(i));
    uint64_t base = before;
    ev.push_back(Event::gc(0).at(base + 100));
    ev.push_back(Event::gc().at(base + 5));  // no thread: not checked
    ev.push_back(Event::gc(1).at(base + 50));
    ev.push_back(Event::gc(0).at(base + 90));
    ev.push_back(Event::gc(0));  // no ts
    ev.push_back(Event::gc(0).at(base + 95));
    for (size_t i = 0; i < 4; i++) ev.push_back(Event::gc(2).at(base + 200 + i));
    std::string bin = encode(ev, {Encoding::Binary, Compression::None});
    std::string msg = errorOf("t.gmt", bin);
    std::string want = fmt::format("t.gmt: event {}: \"ts\" goes backwards on thread 0: {} after {}", before + 3,
                                   base + 90, base + 100);
    EXPECT_EQ(msg.rfind(want, 0), 0u) << msg;
    auto r = openTraceMemory("t.gmt", bin, ReadOptions{true, {}});
    EXPECT_TRUE(sameEvents(readAll(*r), ev));
    EXPECT_EQ(r->tsBackwards(), 1u);
    ASSERT_EQ(r->warnings().size(), 1u);
    EXPECT_NE(r->warnings()[0].find(fmt::format("(first: event {})", before + 3)), std::string::npos)
        << r->warnings()[0];

    TraceHeader h;
    h.threads = 2;
    for (Event& e : ev) e.hasTs = false, e.ts = 0;
    bin = encode(ev, {Encoding::Binary, Compression::None}, h);
    expectErrorBothModes("t.gmt", bin, fmt::format("t.gmt: event {}: ", before ? 2 : before + 6),
                         "\"thread\" is too large: 2 (the header declares \"threads\": 2, at header (byte 16))");
    h.threads = 0;
    std::vector<Event> gcs = {Event::gc().at(1), Event::gc().at(2)};
    bin = encode(gcs, {Encoding::Binary, Compression::None}, h);
    EXPECT_EQ(errorOf("t.gmt", bin), "");
    r = openTraceMemory("t.gmt", bin);
    EXPECT_TRUE(sameEvents(readAll(*r), gcs));
  }
  });
}

// ts need only be in order per thread: a trace whose threads' clocks are far apart is valid, and a ts that goes
// back on its thread among them is still found (the group decoder then looks up each thread's last ts).
TEST(TraceBadInputTs, BinaryOrderPerThreadOnly) {
  std::vector<Event> ev;
  uint64_t x = 7;
  std::vector<uint64_t> clock = {5000000, 0, 9000000, 300};
  for (uint64_t i = 0; i < 3000; i++) {
    x = x * 6364136223846793005 + 1442695040888963407;
    uint16_t t = uint16_t(x >> 62);
    ev.push_back(Event::gc(t).at(clock[t] += (x >> 40) % 3));  // steps of 0 to 2
  }
  std::string bin = encode(ev, {Encoding::Binary, Compression::None});
  withBothGmtDecoders([&] {
    EXPECT_EQ(errorOf("t.gmt", bin), "");
    EXPECT_TRUE(sameEvents(readText("t.gmt", bin), ev));
    for (size_t at : {size_t{1000}, size_t{2997}}) {
      SCOPED_TRACE(at);
      std::vector<Event> bad = ev;
      size_t prev = at;
      while (bad[--prev].thread != bad[at].thread) {
      }
      bad[at].ts = bad[prev].ts - 1;
      std::string b = encode(bad, {Encoding::Binary, Compression::None});
      std::string msg = errorOf("t.gmt", b);
      std::string want = fmt::format("t.gmt: event {}: \"ts\" goes backwards on thread {}: {} after {}", at,
                                     bad[at].thread, bad[at].ts, bad[prev].ts);
      EXPECT_EQ(msg.rfind(want, 0), 0u) << msg;
      auto r = openTraceMemory("t.gmt", b, ReadOptions{true, {}});
      EXPECT_TRUE(sameEvents(readAll(*r), bad));
      EXPECT_GE(r->tsBackwards(), 1u);
    }
  });
}

// ---- row 3: free of an id that is not live: strict error; lenient: counted and skipped, with a warning ----

TEST(TraceBadInputFreeNotLive, NeverAllocated) {
  std::string t = doc({kA1, R"({"op": "free", "thread": 0, "id": 9})", kF1});
  EXPECT_EQ(errorOf("trace.json", t),
            "trace.json: event 1 (line 4, column 1): free of id 9 that is not live (never allocated, or already freed)");
  EXPECT_EQ(errorOf("trace.json", t, true), "");
  auto p = loadProgram(*openTraceMemory("trace.json", t, {true, {}}), {true});
  EXPECT_EQ(p.skippedFrees, 1u);
  EXPECT_EQ(p.events, 2u);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0],
            "trace.json: warning: skipped 1 free of ids that were not live (first: event 1 (line 4, column 1))");
}

TEST(TraceBadInputFreeNotLive, AlreadyFreed) {
  std::string t = lines({kA1, kF1, kF1});
  EXPECT_EQ(errorOf("t.jsonl", t),
            "t.jsonl: event 2 (line 4, column 1): free of id 1 that is not live (never allocated, or already freed)");
  auto p = loadProgram(*openTraceMemory("t.jsonl", t, {true, {}}), {true});
  EXPECT_EQ(p.skippedFrees, 1u);
  EXPECT_EQ(p.threads[0].size(), 2u);
}

TEST(TraceBadInputFreeNotLive, Binary) {
  std::string bin = encode({Event::alloc(0, 1, 16), Event::free(0, 2)}, {Encoding::Binary, Compression::None});
  EXPECT_EQ(errorOf("t.gmt", bin), "t.gmt: event 1: free of id 2 that is not live (never allocated, or already freed)");
  EXPECT_EQ(errorOf("t.gmt", bin, true), "");
}

// ---- row 4: alloc of an id that is still live: strict error; lenient: the old object is freed first ----

TEST(TraceBadInputAllocLive, StrictAndLenient) {
  std::string t = doc({kA1, R"({"op": "alloc", "thread": 1, "id": 1, "size": 32})", kF1});
  EXPECT_EQ(errorOf("t.json", t), "t.json: event 1 (line 4, column 1): alloc of id 1 that is still live (free it first)");
  auto p = loadProgram(*openTraceMemory("t.json", t, {true, {}}), {true});
  EXPECT_EQ(p.implicitFrees, 1u);
  EXPECT_EQ(p.events, 3u);
  EXPECT_EQ(p.liveAtEnd, 0u);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("1 alloc of ids that were still live"), std::string::npos) << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("event 1 (line 4, column 1)"), std::string::npos) << p.warnings[0];
}

// ---- row 5: objects still live at the end: fine in both modes ----

TEST(TraceBadInputLiveAtEnd, IsFineAndReported) {
  std::string t = doc({kA1, R"({"op": "alloc", "thread": 0, "id": 2, "size": 16})"});
  for (bool lenient : {false, true}) {
    EXPECT_EQ(errorOf("t.json", t, lenient), "");
    auto p = loadProgram(*openTraceMemory("t.json", t, {lenient, {}}), {lenient});
    EXPECT_EQ(p.liveAtEnd, 2u);
    EXPECT_TRUE(p.warnings.empty());
  }
}

// ---- other checks ----

TEST(TraceBadInput, DuplicateKeysAndTrailingContent) {
  expectErrorBothModes("t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "id": 2, "size": 16})"}),
                       "t.json: event 0 (line 3, column 39): ", "duplicate key \"id\"");
  expectErrorBothModes("t.json", doc({kA1}) + "{}", "t.json: header, after the events (line 5, column 1): ",
                       "unexpected content after the JSON document");
  expectErrorBothModes("t.jsonl", R"({"format": "gomalloc-trace", "version": 1, "events": []})" "\n",
                       "t.jsonl: header (line 1, column 44): ", "must not contain \"events\"");
}

TEST(TraceBadInput, CorruptBinaryNeverCrashes) {
  std::vector<Event> ev;
  for (uint64_t i = 1; i < 200; i++) ev.push_back(Event::alloc(uint16_t(i % 3), i * 7, i).at(i));
  std::string bin = encode(ev, {Encoding::Binary, Compression::None});
  size_t errors = 0;
  for (size_t i = 8; i < bin.size(); i++) {
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      std::string bad = bin;
      bad[i] = char(uint8_t(bad[i]) ^ flip);
      std::string msg = errorOf("c.gmt", bad);
      if (!msg.empty()) {
        ++errors;
        EXPECT_EQ(msg.rfind("c.gmt: ", 0), 0u) << msg;
      }
    }
  }
  EXPECT_GT(errors, 0u);
}

// Errors inside a block name the event and its kind byte, whichever decoder runs (groups of 8 events, or one
// at a time) and wherever in a group the event is.
TEST(TraceBadInput, BinaryBlockContents) {
  std::vector<Event> ev;
  for (uint64_t i = 1; i <= 100; i++) ev.push_back(Event::alloc(uint16_t(i % 3), i, 16).at(i));
  for (uint64_t i = 1; i <= 100; i++) ev.push_back(Event::free(uint16_t(i % 3), i).at(100 + i));
  std::string bin = encode(ev, {Encoding::Binary, Compression::None});
  size_t kinds = kindsV3(bin), header = kinds - 32;
  withBothGmtDecoders([&] {
    for (size_t at : {size_t{0}, size_t{37}, size_t{99}, size_t{150}, size_t{199}}) {
      SCOPED_TRACE(at);
      std::string bad = bin;
      bad[kinds + at] = 0x13;
      expectErrorBothModes("t.gmt", sealed(bad), fmt::format("t.gmt: event {} (byte {}): ", at, kinds + at),
                           "invalid op 3");
    }
    std::string bad = bin;
    bad[kinds + 150] = 0x08;  // an alloc among the frees: the allocs' columns run out there
    EXPECT_EQ(errorOf("t.gmt", sealed(bad), false, false),
              fmt::format("t.gmt: event 150 (byte {}): corrupt .gmt file: an event runs past the end of its block "
                          "(more allocs than announced)",
                          kinds + 150));
    bad = bin;
    bad[kinds + 37] = 0x09;  // a free among the allocs: the frees' column runs out at the last event
    EXPECT_EQ(errorOf("t.gmt", sealed(bad), false, false),
              fmt::format("t.gmt: event 199 (byte {}): corrupt .gmt file: an event runs past the end of its block "
                          "(more frees than announced)",
                          kinds + 199));
    bad = bin;
    bad[kinds + 150] = 0x0a;  // a gc instead of a free: a free announced in the header is left over
    EXPECT_EQ(errorOf("t.gmt", sealed(bad), false, false),
              fmt::format("t.gmt: event 200 (byte {}): corrupt .gmt file: the block header counts 100 allocs and 100 "
                          "frees, its events 100 and 99",
                          header));
  });
  std::string bad = bin;
  bad[header] = 3;  // thread width
  expectErrorBothModes("t.gmt", sealed(bad), fmt::format("t.gmt: event 0 (byte {}): ", header),
                       "a field width of 3 bytes in a block header (at most 2)");
  bad = bin;
  bad[header + 8]++;  // one more alloc than the payload holds
  expectErrorBothModes("t.gmt", sealed(bad), fmt::format("t.gmt: event 0 (byte {}): ", header - 8),
                       "block of 200 events (101 allocs, 100 frees) in ");
  bad = bin;
  bad[header + 6] = 1;
  expectErrorBothModes("t.gmt", sealed(bad), "t.gmt: event 0 (byte ", "nonzero reserved bytes in a block header");
}

}  // namespace
}  // namespace gomalloc::traces
