// Lossless conversion: generated traces of every kind go JSON -> binary -> JSON Lines -> JSON (in memory and
// through convertTrace on files, compressed too) and come back with every event and the header unchanged.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/convert.h"
#include "traces/generate.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

std::vector<Event> generated(const GenOptions& o) {
  std::vector<Event> ev;
  generate(o, [&](const Event& e) { ev.push_back(e); });
  return ev;
}

class TraceRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(TraceRoundTrip, JsonToBinaryToJsonLinesToJsonKeepsEveryEvent) {
  GenOptions o;
  o.kind = GetParam();
  o.events = 30000;
  o.seed = 7;
  o.gcEvery = 997;
  TraceHeader h = genHeader(o);
  std::vector<Event> ev = generated(o);
  ASSERT_EQ(ev.size(), 30000u);

  std::string json = encode(ev, {Encoding::Json, Compression::None}, h);
  auto r1 = openTraceMemory("a.json", json);
  std::vector<Event> e1 = readAll(*r1);
  std::string bin = encode(e1, {Encoding::Binary, Compression::None}, r1->header());
  auto r2 = openTraceMemory("b.gmt", bin);
  std::vector<Event> e2 = readAll(*r2);
  std::string jsonl = encode(e2, {Encoding::JsonLines, Compression::None}, r2->header());
  auto r3 = openTraceMemory("c.jsonl", jsonl);
  std::vector<Event> e3 = readAll(*r3);
  std::string json2 = encode(e3, {Encoding::Json, Compression::None}, r3->header());

  std::string why;
  EXPECT_TRUE(sameEvents(ev, e1, &why)) << why;
  EXPECT_TRUE(sameEvents(ev, e2, &why)) << why;
  EXPECT_TRUE(sameEvents(ev, e3, &why)) << why;
  EXPECT_EQ(json, json2);  // byte for byte
  EXPECT_EQ(r3->header().meta, h.meta);
  EXPECT_EQ(r3->header().threads, h.threads);
  EXPECT_LE(double(bin.size()) / double(ev.size()), 16.0);
  // The loaded programs agree too.
  EXPECT_EQ(loadProgram(*openTraceMemory("a.json", json)).digest, loadProgram(*openTraceMemory("b.gmt", bin)).digest);
}

TEST_P(TraceRoundTrip, ConvertThroughFilesAndCompression) {
  TempDir dir;
  GenOptions o;
  o.kind = GetParam();
  o.events = 5000;
  std::vector<Event> ev = generated(o);
  std::string src = dir.file("src.json");
  {
    auto w = createWriter(src, genHeader(o));
    for (auto& e : ev) w->write(e);
    w->finish();
  }
  std::string prev = src;
  for (const char* name : {"a.gmt.zst", "b.jsonl.gz", "c.gmt", "d.ndjson.zst", "e.json.gz", "f.json"}) {
    SCOPED_TRACE(name);
    std::string next = dir.file(name);
    auto res = convertTrace(prev, next);
    EXPECT_EQ(res.eventsIn, ev.size());
    EXPECT_EQ(res.eventsOut, ev.size());
    std::string why;
    auto r = openTrace(next);
    EXPECT_TRUE(sameEvents(readAll(*r), ev, &why)) << why;
    EXPECT_EQ(r->header().meta, genHeader(o).meta);
    prev = next;
  }
  EXPECT_EQ(slurp(src), slurp(prev));
}

INSTANTIATE_TEST_SUITE_P(TraceKinds, TraceRoundTrip,
                         ::testing::Values("steady", "web", "producer-consumer", "fragmentation", "large", "larson"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(TraceConvert, HeaderKeysAfterTheEventsReachEveryEncoding) {
  TempDir dir;
  std::string in = dir.write("late.json", R"({"events": [{"op": "gc", "thread": 1}], "meta": {"source": "late"},
    "threads": 2, "format": "gomalloc-trace", "version": 1})");
  for (const char* name : {"late.jsonl", "late.gmt"}) {
    std::string out = dir.file(name);
    convertTrace(in, out);
    auto r = openTrace(out);
    EXPECT_EQ(readAll(*r).size(), 1u);
    EXPECT_EQ(r->header().meta["source"], "late");
    EXPECT_EQ(r->header().threads, 2u);
  }
}

TEST(TraceConvert, StrictConversionOfABadTraceWritesNothing) {
  TempDir dir;
  std::string in = dir.write("bad.json", doc({R"({"op": "free", "thread": 0, "id": 3})"}));
  std::string out = dir.file("out.gmt");
  EXPECT_THROW(convertTrace(in, out), TraceError);
  EXPECT_FALSE(std::filesystem::exists(out));
  for (auto& f : std::filesystem::directory_iterator(std::filesystem::path(out).parent_path()))
    EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
}

TEST(TraceConvert, LenientConversionRepairsTheTrace) {
  TempDir dir;
  std::string in = dir.write("bad.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 8, "ts": 4})",
                                              R"({"op": "free", "thread": 0, "id": 3})",
                                              R"({"op": "alloc", "thread": 1, "id": 1, "size": 16, "ts": 9})"}));
  std::string out = dir.file("fixed.jsonl");
  auto res = convertTrace(in, out, {true});
  EXPECT_EQ(res.eventsIn, 3u);
  EXPECT_EQ(res.eventsOut, 3u);
  EXPECT_EQ(res.warnings.size(), 2u);
  auto ev = readAll(*openTrace(out));
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev[1].sameAs(Event::free(1, 1).at(9)));
  EXPECT_NO_THROW(loadProgram(out));  // valid now
}

TEST(TraceConvert, UnknownOutputSuffixIsAnError) {
  TempDir dir;
  std::string in = dir.write("t.json", doc({R"({"op": "gc"})"}));
  try {
    convertTrace(in, dir.file("t.xml"));
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown trace suffix"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gomalloc::traces
