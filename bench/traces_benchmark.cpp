// Trace reading throughput on a generated in-memory trace (steady kind, 1M events): JSON document, JSON
// Lines and binary .gmt readers (bytes/s is of the encoded trace; BM_ReadBinaryPortable is the .gmt reader
// without its AVX-512 decoder, as on CPUs that lack it), the binary writer, loading a ReplayProgram, and the
// CRC-32C that .gmt version 3 checks every block with (SSE4.2 and portable), over the same .gmt bytes.
// Targets (issue 3): JSON >= 300 MB/s, binary >= 2 GB/s. BM_Simdjson*: the same JSON traces decoded with
// simdjson, when it is installed (issue 13's A/B; docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef GOMALLOC_HAVE_SIMDJSON
#include <simdjson.h>
#endif

#include "traces/binary_format.h"
#include "traces/generate.h"
#include "traces/loader.h"
#include "traces/reader.h"
#include "traces/writer.h"

namespace {

using namespace gomalloc::traces;

constexpr uint64_t kEvents = 1000000;

const std::string& trace(Encoding enc) {
  static std::string cache[3];
  std::string& s = cache[int(enc)];
  if (s.empty()) {
    GenOptions o;
    o.kind = "steady";
    o.events = kEvents;
    o.gcEvery = 50000;
    auto w = createWriter(stringSink(s), Format{enc, Compression::None}, genHeader(o));
    generate(o, *w);
    w->finish();
  }
  return s;
}

void readTrace(benchmark::State& state, Encoding enc, const char* name) {
  const std::string& t = trace(enc);
  std::vector<Event> buf(1024);
  uint64_t events = 0;
  for (auto _ : state) {
    auto r = openTraceMemory(name, t);
    uint64_t sum = 0;
    while (size_t n = r->read(buf.data(), buf.size())) {
      for (size_t i = 0; i < n; i++) sum += buf[i].size;
      events += n;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(int64_t(t.size()) * state.iterations());
  state.counters["events/s"] = benchmark::Counter(double(events), benchmark::Counter::kIsRate);
  state.counters["bytes/event"] = double(t.size()) / double(kEvents);
}

void BM_ReadJson(benchmark::State& s) { readTrace(s, Encoding::Json, "t.json"); }
void BM_ReadJsonLines(benchmark::State& s) { readTrace(s, Encoding::JsonLines, "t.jsonl"); }
// The same without the JSON reader's fast path for canonical events (the general tokenizer alone).
void readGeneral(benchmark::State& s, Encoding enc, const char* name) {
  setenv("GOMALLOC_JSON_GENERAL", "1", 1);  // read when a reader is opened
  readTrace(s, enc, name);
  unsetenv("GOMALLOC_JSON_GENERAL");
}
void BM_ReadJsonGeneral(benchmark::State& s) { readGeneral(s, Encoding::Json, "t.json"); }
void BM_ReadJsonLinesGeneral(benchmark::State& s) { readGeneral(s, Encoding::JsonLines, "t.jsonl"); }
void BM_ReadBinary(benchmark::State& s) { readTrace(s, Encoding::Binary, "t.gmt"); }
void BM_ReadBinaryPortable(benchmark::State& s) {
  setenv("GOMALLOC_GMT_PORTABLE", "1", 1);  // read when a reader is opened
  readTrace(s, Encoding::Binary, "t.gmt");
  unsetenv("GOMALLOC_GMT_PORTABLE");
}

#ifdef GOMALLOC_HAVE_SIMDJSON
// A/B against the reader (issue 13): simdjson's on-demand API (Debian's libsimdjson-dev) decoding the same
// in-memory traces into the same Events, with the checks of the fast path (types, op names, required fields,
// size range, unknown keys skipped; no duplicate-key check, no column). The trace is copied once into
// simdjson's padded buffer, outside the timing. Lines: JSON Lines by document index; the document's by a count
// of its newlines.
void simdEvent(simdjson::ondemand::object obj, Event& e) {
  unsigned seen = 0;
  e = Event{};
  for (auto field : obj) {
    std::string_view k = field.unescaped_key().value();
    auto v = field.value();
    if (k == "op") {
      std::string_view op = v.get_string().value();
      if (op == "alloc") e.op = Op::Alloc;
      else if (op == "free") e.op = Op::Free;
      else if (op == "gc") e.op = Op::Gc;
      else throw std::runtime_error("unknown op");
      seen |= 1;
    } else if (k == "thread") {
      uint64_t t = v.get_uint64().value();
      if (t >= kMaxThreads) throw std::runtime_error("thread");
      e.thread = uint16_t(t), e.hasThread = true, seen |= 2;
    } else if (k == "id") {
      e.id = v.get_uint64().value(), seen |= 4;
    } else if (k == "size") {
      e.size = v.get_uint64().value(), seen |= 8;
      if (e.size > kMaxSize) throw std::runtime_error("size");
    } else if (k == "scan") {
      e.scan = v.get_bool().value();
    } else if (k == "ts") {
      e.ts = v.get_uint64().value(), e.hasTs = true;
    }  // other keys: skipped by the iteration
  }
  if (!(seen & 1) || (e.op == Op::Alloc && seen != 15) || (e.op == Op::Free && (seen & 7) != 7))
    throw std::runtime_error("missing field");
}

void simdRead(benchmark::State& state, Encoding enc) {
  const std::string& t = trace(enc);
  simdjson::padded_string padded(t);
  simdjson::ondemand::parser parser;
  std::vector<Event> buf(1024);
  uint64_t events = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
    size_t k = 0;
    auto flush = [&] {
      for (size_t i = 0; i < k; i++) sum += buf[i].size;
      events += k;
      k = 0;
    };
    if (enc == Encoding::JsonLines) {
      simdjson::ondemand::document_stream docs = parser.iterate_many(padded, size_t{1} << 20).value();
      uint64_t line = 0;
      for (auto doc : docs) {
        ++line;
        if (line == 1) continue;  // the header
        simdEvent(doc.get_object().value(), buf[k]);
        buf[k++].line = line;
        if (k == buf.size()) flush();
      }
    } else {
      auto doc = parser.iterate(padded).value();
      uint64_t lines = uint64_t(std::count(t.begin(), t.end(), '\n'));
      for (auto ev : doc["events"].get_array()) {
        simdEvent(ev.get_object().value(), buf[k]);
        buf[k++].line = lines;
        if (k == buf.size()) flush();
      }
    }
    flush();
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(int64_t(t.size()) * state.iterations());
  state.counters["events/s"] = benchmark::Counter(double(events), benchmark::Counter::kIsRate);
}
void BM_SimdjsonJson(benchmark::State& s) { simdRead(s, Encoding::Json); }
void BM_SimdjsonJsonLines(benchmark::State& s) { simdRead(s, Encoding::JsonLines); }
BENCHMARK(BM_SimdjsonJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimdjsonJsonLines)->Unit(benchmark::kMillisecond);
#endif

void BM_WriteBinary(benchmark::State& state) {
  std::vector<Event> ev;
  auto r = openTraceMemory("t.gmt", trace(Encoding::Binary));
  ev = readAll(*r);
  for (auto _ : state) {
    std::string out;
    out.reserve(trace(Encoding::Binary).size() + 4096);
    auto w = createWriter(stringSink(out), Format{Encoding::Binary, Compression::None}, {});
    for (auto& e : ev) w->write(e);
    w->finish();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(ev.size()) * state.iterations());
}

void BM_LoadProgramBinary(benchmark::State& state) {
  const std::string& t = trace(Encoding::Binary);
  for (auto _ : state) {
    auto r = openTraceMemory("t.gmt", t);
    auto p = loadProgram(*r);
    benchmark::DoNotOptimize(p.slots);
  }
  state.SetItemsProcessed(int64_t(kEvents) * state.iterations());
}

void crc(benchmark::State& state, gomalloc::traces::detail::Crc32cFn f) {
  const std::string& t = trace(Encoding::Binary);
  for (auto _ : state) benchmark::DoNotOptimize(gomalloc::traces::detail::crc32c(t.data(), t.size(), 0, f));
  state.SetBytesProcessed(int64_t(t.size()) * state.iterations());
}
void BM_Crc32c(benchmark::State& s) { crc(s, gomalloc::traces::detail::crc32cImpl()); }
void BM_Crc32cPortable(benchmark::State& s) { crc(s, gomalloc::traces::detail::crc32cPortable); }

BENCHMARK(BM_ReadJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadJsonLines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadJsonGeneral)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadJsonLinesGeneral)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBinaryPortable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadProgramBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Crc32c)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Crc32cPortable)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
