// The JSON, JSON Lines and binary readers on hand-written traces: fields, header keys in any order, unknown
// keys, escapes, encodings chosen by content and suffix, compression, and tokens across window refills.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/generate.h"
#include "traces/io.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

const char* kSpecExample = R"({
  "format": "gomalloc-trace",
  "version": 1,
  "meta": {"source": "gofmt -l net/http", "clock": "ns"},
  "threads": 2,
  "events": [
    {"op": "alloc", "thread": 0, "id": 1, "size": 24, "scan": true, "ts": 100},
    {"op": "alloc", "thread": 1, "id": 2, "size": 40000, "ts": 150},
    {"op": "free",  "thread": 1, "id": 1, "ts": 180},
    {"op": "gc", "ts": 200},
    {"op": "free",  "thread": 0, "id": 2, "ts": 250}
  ]
}
)";

TEST(TraceJsonReader, ReadsTheSpecExample) {
  auto r = openTraceMemory("spec.json", kSpecExample);
  auto ev = readAll(*r);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].op, Op::Alloc);
  EXPECT_EQ(ev[0].thread, 0);
  EXPECT_EQ(ev[0].id, 1u);
  EXPECT_EQ(ev[0].size, 24u);
  EXPECT_TRUE(ev[0].scan);
  EXPECT_TRUE(ev[0].hasTs);
  EXPECT_EQ(ev[0].ts, 100u);
  EXPECT_EQ(ev[0].line, 7u);
  EXPECT_EQ(ev[0].column, 5u);
  EXPECT_FALSE(ev[1].scan);
  EXPECT_EQ(ev[1].size, 40000u);
  EXPECT_EQ(ev[2].op, Op::Free);
  EXPECT_EQ(ev[2].id, 1u);
  EXPECT_EQ(ev[3].op, Op::Gc);
  EXPECT_FALSE(ev[3].hasThread);
  EXPECT_EQ(ev[3].ts, 200u);
  EXPECT_EQ(r->header().threads, 2u);
  EXPECT_EQ(r->header().meta["source"], "gofmt -l net/http");
  EXPECT_TRUE(r->headerComplete());
  EXPECT_EQ(r->format().encoding, Encoding::Json);
  EXPECT_EQ(r->eventsRead(), 5u);
}

TEST(TraceJsonReader, HeaderKeysMayFollowTheEvents) {
  std::string t = R"({"events": [{"op": "alloc", "thread": 3, "id": 1, "size": 8}], "threads": 4,
    "meta": {"b": 1, "a": [1, {"x": null}]}, "version": 1, "format": "gomalloc-trace"})";
  auto r = openTraceMemory("late.json", t);
  auto ev = readAll(*r);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].thread, 3);
  EXPECT_EQ(r->header().threads, 4u);
  EXPECT_EQ(r->header().meta.dump(), R"({"b":1,"a":[1,{"x":null}]})");  // key order kept
}

TEST(TraceJsonReader, IgnoresUnknownKeysAnywhere) {
  std::string t = R"({"format": "gomalloc-trace", "x": {"deep": [[[{"y": "z\"}"}]]], "n": -1.5e-3}, "version": 1,
    "events": [{"note": [1, 2, {"op": "free"}], "op": "alloc", "thread": 0, "id": 7, "size": 16, "later": true,
                "stack": "main.main\n\tmain.go:3 \u00e9"}]})";
  auto ev = readText("unknown.json", t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, Op::Alloc);
  EXPECT_EQ(ev[0].id, 7u);
}

TEST(TraceJsonReader, DecodesEscapedKeysAndValues) {
  std::string t = doc({R"({"\u006fp": "\u0061lloc", "thread": 0, "i\u0064": 5, "size": 32})"});
  auto ev = readText("escapes.json", t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, Op::Alloc);
  EXPECT_EQ(ev[0].id, 5u);
}

TEST(TraceJsonReader, AcceptsTheFullRangesOfFields) {
  std::string t = doc({R"({"op": "alloc", "thread": 65535, "id": 18446744073709551615, "size": 1099511627776,
     "ts": 18446744073709551615})",
                       R"({"op": "alloc", "thread": 0, "id": 0, "size": 0, "scan": false, "ts": 0})"});
  auto ev = readText("ranges.json", t);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].thread, 65535);
  EXPECT_EQ(ev[0].id, ~uint64_t{0});
  EXPECT_EQ(ev[0].size, uint64_t{1} << 40);
  EXPECT_EQ(ev[0].ts, ~uint64_t{0});
  EXPECT_EQ(ev[1].size, 0u);
}

TEST(TraceJsonReader, AFreeMayCarryASizeThatIsIgnored) {
  auto ev = readText("free.json", doc({R"({"op":"alloc","thread":0,"id":1,"size":8})",
                                       R"({"op":"free","thread":0,"id":1,"size":8})"}));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].size, 0u);
}

TEST(TraceJsonReader, EmptyEventsArrayIsAnEmptyTrace) {
  auto r = openTraceMemory("empty.json", R"({"format":"gomalloc-trace","version":1,"events":[]})");
  EXPECT_TRUE(readAll(*r).empty());
}

TEST(TraceJsonLinesReader, ReadsHeaderLineAndEventLines) {
  std::string t = "{\"format\":\"gomalloc-trace\",\"version\":1,\"threads\":2}\r\n"
                  "{\"op\":\"alloc\",\"thread\":1,\"id\":1,\"size\":24}\r\n"
                  "\n   \n"
                  "{\"op\":\"gc\",\"thread\":1}\n"
                  "{\"op\":\"free\",\"thread\":0,\"id\":1}";  // no final newline
  auto r = openTraceMemory("t.jsonl", t);
  auto ev = readAll(*r);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(r->format().encoding, Encoding::JsonLines);
  EXPECT_EQ(ev[0].line, 2u);
  EXPECT_EQ(ev[1].line, 5u);
  EXPECT_TRUE(ev[1].hasThread);
  EXPECT_EQ(ev[2].line, 6u);
  EXPECT_EQ(r->header().threads, 2u);
}

TEST(TraceJsonLinesReader, HeaderOnlyIsAnEmptyTrace) {
  EXPECT_TRUE(readText("h.ndjson", "{\"format\":\"gomalloc-trace\",\"version\":1}\n").empty());
}

TEST(TraceReaderDetection, ChoosesDocumentOrLinesByContentWhenTheSuffixIsUnknown) {
  std::string d = doc({R"({"op":"gc"})"}), l = lines({R"({"op":"gc"})"});
  auto a = openTraceMemory("trace.txt", d);
  EXPECT_EQ(readAll(*a).size(), 1u);
  EXPECT_EQ(a->format().encoding, Encoding::Json);
  auto b = openTraceMemory("trace.txt", l);
  EXPECT_EQ(readAll(*b).size(), 1u);
  EXPECT_EQ(b->format().encoding, Encoding::JsonLines);
}

TEST(TraceReaderDetection, ContentWinsOverASuffixThatDisagrees) {
  std::vector<Event> ev = {Event::alloc(0, 1, 16), Event::free(0, 1)};
  std::string bin = encode(ev, {Encoding::Binary, Compression::None});
  auto r = openTraceMemory("misnamed.json", bin);
  EXPECT_EQ(r->format().encoding, Encoding::Binary);
  EXPECT_TRUE(sameEvents(readAll(*r), ev));
}

TEST(TraceCompressedReader, ReadsZstdAndGzipOfEveryEncoding) {
  TempDir dir;
  std::vector<Event> ev;
  for (uint64_t i = 1; i <= 5000; i++) {
    ev.push_back(Event::alloc(uint16_t(i % 3), i, 8 * (i % 50), i % 2).at(i * 10));
    if (i > 10) ev.push_back(Event::free(uint16_t(i % 5), i - 10).at(i * 10 + 1));
  }
  for (auto& e : ev) {
    if (e.op == Op::Free && e.ts % 7 == 0) e.hasTs = false;  // some events without ts
  }
  TraceHeader h;
  h.meta = {{"source", "test"}};
  for (const char* name : {"t.json.zst", "t.json.gz", "t.jsonl.zst", "t.ndjson.gz", "t.gmt.zst", "t.gmt.gz"}) {
    SCOPED_TRACE(name);
    std::string path = dir.file(name);
    auto w = createWriter(path, h);
    for (auto& e : ev) w->write(e);
    w->finish();
    std::string raw = slurp(path);
    EXPECT_NE(sniffCompression(raw), Compression::None);
    auto r = openTrace(path);
    std::string why;
    EXPECT_TRUE(sameEvents(readAll(*r), ev, &why)) << why;
    EXPECT_EQ(r->header().meta["source"], "test");
    EXPECT_EQ(r->format().compression, formatFromSuffix(name)->compression);
    EXPECT_LT(r->rawBytes(), r->bytes());
  }
}

TEST(TraceCompressedReader, ReadsConcatenatedGzipMembers) {
  std::string a, b;
  {
    auto s = compress(stringSink(a), Compression::Gzip);
    std::string part = "{\"format\":\"gomalloc-trace\",\"version\":1}\n{\"op\":\"gc\"}\n";
    s->write(part.data(), part.size());
    s->finish();
    auto t = compress(stringSink(b), Compression::Gzip);
    std::string more = "{\"op\":\"gc\",\"ts\":5}\n";
    t->write(more.data(), more.size());
    t->finish();
  }
  EXPECT_EQ(readText("cat.jsonl.gz", a + b).size(), 2u);
}

TEST(TraceCompressedReader, TruncatedCompressedStreamIsAnError) {
  std::string z;
  auto s = compress(stringSink(z), Compression::Zstd);
  std::string t = lines({R"({"op":"gc"})", R"({"op":"gc"})"});
  s->write(t.data(), t.size());
  s->finish();
  std::string msg = errorOf("cut.jsonl.zst", z.substr(0, z.size() - 6));
  EXPECT_NE(msg.find("cut.jsonl.zst:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(TraceJsonReader, TokensLargerThanTheReadWindowAreRead) {
  TempDir dir;
  std::string big(3 << 20, 'x');  // a 3 MiB string value: crosses several refills
  std::string t = "{\"format\":\"gomalloc-trace\",\"version\":1,\"meta\":{\"blob\":\"" + big +
                  "\"},\n\"events\":[\n{\"op\":\"alloc\",\"thread\":0,\"id\":1,\"size\":8,\"pad\":\"" + big +
                  "\"},\n{\"op\":\"free\",\"thread\":0,\"id\":1}]}";
  auto r = openTrace(dir.write("big.json", t));
  auto ev = readAll(*r);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].line, 4u);
  EXPECT_EQ(r->header().meta["blob"].get<std::string>().size(), big.size());
}

TEST(TraceJsonReader, ManySmallEventsAcrossRefillsKeepLineNumbers) {
  TempDir dir;
  std::vector<std::string> evs;
  for (int i = 0; i < 200000; i++) evs.push_back("  {\"op\": \"gc\", \"thread\": 0, \"ts\": " + std::to_string(i) + "}");
  auto ev = readAll(*openTrace(dir.write("many.json", doc(evs))));
  ASSERT_EQ(ev.size(), 200000u);
  for (size_t i = 0; i < ev.size(); i += 997) {
    EXPECT_EQ(ev[i].line, 3 + i);
    EXPECT_EQ(ev[i].column, 3u);
    EXPECT_EQ(ev[i].ts, i);
  }
}

TEST(TraceBinaryReader, ReadsWhatTheWriterWrote) {
  TempDir dir;
  std::vector<Event> ev = {Event::alloc(0, 1, 24, true).at(100), Event::alloc(1, 2, 40000).at(150),
                           Event::free(1, 1).at(180),           Event::gc().at(200),
                           Event::gc(7),                        Event::free(0, 2).at(250),
                           Event::alloc(65535, ~uint64_t{0}, uint64_t{1} << 40), Event::free(3, ~uint64_t{0}).at(5)};
  TraceHeader h;
  h.meta = {{"clock", "ns"}};
  h.threads = 65536;
  std::string path = dir.file("t.gmt");
  auto w = createWriter(path, h);
  for (auto& e : ev) w->write(e);
  w->finish();
  auto r = openTrace(path);
  std::string why;
  EXPECT_TRUE(sameEvents(readAll(*r), ev, &why)) << why;
  EXPECT_EQ(r->header().threads, 65536u);
  EXPECT_EQ(r->header().meta["clock"], "ns");
  EXPECT_EQ(r->format().encoding, Encoding::Binary);
}

TEST(TraceBinaryReader, ManyBlocksAndCompactEncoding) {
  std::vector<Event> ev;
  for (uint64_t i = 1; i <= 300000; i++) {
    ev.push_back(Event::alloc(uint16_t(i % 4), i, 16 + 16 * (i % 4)).at(i * 3));
    if (i > 64) ev.push_back(Event::free(uint16_t(i % 4), i - 64).at(i * 3 + 1));
  }
  std::string bin = encode(ev, {Encoding::Binary, Compression::None});
  EXPECT_LT(double(bin.size()) / double(ev.size()), 6.0);
  std::string why;
  EXPECT_TRUE(sameEvents(readText("m.gmt", bin), ev, &why)) << why;
}

// The group decoder (AVX-512, 8 events at a time) and the portable one give the same events, ts warnings and
// byte counts, for every generator and for a random mix of everything the format holds: ops, threads (one and
// two bytes), ids far apart, sizes up to 2^40, ts that go backwards (lenient), events without a ts or a thread;
// read 1, 7 and 1024 events at a time.
TEST(TraceBinaryReader, GroupAndPortableDecodersAgree) {
  std::vector<std::vector<Event>> traces;
  for (const char* kind : {"steady", "web", "producer-consumer", "fragmentation", "large", "larson"}) {
    GenOptions o;
    o.kind = kind;
    o.events = 20000;
    o.gcEvery = 777;
    std::string out;
    auto w = createWriter(stringSink(out), Format{Encoding::Binary, Compression::None}, genHeader(o));
    generate(o, *w);
    w->finish();
    traces.push_back(readText("g.gmt", out));
  }
  uint64_t x = 12345;
  auto rnd = [&] { return x ^= x << 13, x ^= x >> 7, x ^= x << 17; };
  std::vector<Event> mix;
  uint64_t id = 1, ts = 1000;
  for (int i = 0; i < 150000; i++) {
    uint64_t r = rnd();
    uint16_t thread = uint16_t(r % 16 == 0 ? rnd() % 65536 : r % 5);
    Event e;
    switch (r >> 60) {
      case 0: e = Event::gc(); break;
      case 1: e = Event::gc(thread); break;
      case 2: case 3: case 4: case 5: case 6: e = Event::free(thread, r % 7 ? id - rnd() % 5000 : rnd()); break;
      default:
        id = r % 9 ? id + 1 : rnd();
        e = Event::alloc(thread, id, r % 11 ? rnd() % 300 : rnd() % (uint64_t{1} << 40), r & 1);
    }
    if ((r >> 8) % 17) e.at(ts += (r >> 12) % 40 - ((r >> 20) % 97 == 0 ? 500 : 0));
    mix.push_back(e);
  }
  traces.push_back(mix);
  for (auto& ev : traces) {
    SCOPED_TRACE(ev.size());
    std::string bin = encode(ev, {Encoding::Binary, Compression::None});
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{1024}}) {
      std::vector<Event> got[2];
      uint64_t backwards[2], bytes[2];
      int mode = 0;
      withBothGmtDecoders([&] {
        auto r = openTraceMemory("m.gmt", bin, ReadOptions{true, {}});
        std::vector<Event> buf(chunk);
        while (size_t n = r->read(buf.data(), chunk)) got[mode].insert(got[mode].end(), buf.begin(), buf.begin() + n);
        backwards[mode] = r->tsBackwards();
        bytes[mode++] = r->bytes();
      });
      std::string why;
      EXPECT_TRUE(sameEvents(got[0], ev, &why)) << why;
      ASSERT_EQ(got[0].size(), got[1].size());
      EXPECT_EQ(std::memcmp(got[0].data(), got[1].data(), got[0].size() * sizeof(Event)), 0);
      EXPECT_EQ(backwards[0], backwards[1]);
      EXPECT_EQ(bytes[0], bin.size());
      EXPECT_EQ(bytes[1], bin.size());
    }
  }
}

}  // namespace
}  // namespace gomalloc::traces
