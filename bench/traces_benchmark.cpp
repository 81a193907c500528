// Trace reading throughput on a generated in-memory trace (steady kind, 1M events): JSON document, JSON
// Lines and binary .gmt readers (bytes/s is of the encoded trace; BM_ReadBinaryPortable is the .gmt reader
// without its AVX-512 decoder, as on CPUs that lack it), the binary writer, loading a ReplayProgram, and the
// CRC-32C that .gmt version 3 checks every block with (SSE4.2 and portable), over the same .gmt bytes.
// Targets (issue 3): JSON >= 300 MB/s, binary >= 2 GB/s.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

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
void BM_ReadBinary(benchmark::State& s) { readTrace(s, Encoding::Binary, "t.gmt"); }
void BM_ReadBinaryPortable(benchmark::State& s) {
  setenv("GOMALLOC_GMT_PORTABLE", "1", 1);  // read when a reader is opened
  readTrace(s, Encoding::Binary, "t.gmt");
  unsetenv("GOMALLOC_GMT_PORTABLE");
}

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
BENCHMARK(BM_ReadBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBinaryPortable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadProgramBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Crc32c)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Crc32cPortable)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
