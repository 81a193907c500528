// ns per event of the replay engine with the null, system and go backends, on programs generated in-process
// (replay/synth.h): a 1M-event steady program on one P, and a shared-nothing program on one and two Ps.
// Counters: ns_per_event (wall time of the replay / events), events_per_second, and where the Ps' time went
// besides running ops: barrier_ns and dependency_ns (summed over Ps, per event), gc_per_run (pacer cycles).
//
//   build-replay/bench/replay_benchmark --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "replay/basic_backends.h"
#include "replay/go_backend.h"
#include "replay/replayer.h"
#include "replay/synth.h"

namespace gomalloc::replay {
namespace {

const traces::ReplayProgram& steadyProgram() {
  static const traces::ReplayProgram p = synth::steady(1'000'000, 1, 20'000, 42, 250'000);
  return p;
}

// Two threads that share nothing (each frees only what it allocated).
const traces::ReplayProgram& sharedNothing() {
  static const traces::ReplayProgram p = synth::steady(2'000'000, 2, 10'000, 43, 0);
  return p;
}

template <class MakeBackend>
void replayBench(benchmark::State& state, const traces::ReplayProgram& prog, int procs, TouchMode touch,
                 MakeBackend make) {
  Options opt;
  opt.procs = procs;
  opt.touch = touch;
  opt.rssIntervalMs = 0;
  double wall = 0, barrier = 0, dependency = 0;
  uint64_t events = 0, stops = 0, runs = 0;
  for (auto _ : state) {
    auto backend = make(procs);
    Result r = run(prog, *backend, opt);
    wall += r.wallSeconds;
    events += r.events;
    stops += r.pacerStops;
    runs++;
    for (const ProcStats& p : r.procStats) barrier += p.barrierSeconds, dependency += p.dependencySeconds;
    state.SetIterationTime(r.wallSeconds);
  }
  const double perEvent = events ? 1e9 / double(events) : 0;
  state.counters["ns_per_event"] = wall * perEvent;
  state.counters["events_per_second"] = wall > 0 ? double(events) / wall : 0;
  // Where a P's time went besides running ops (summed over Ps, per event), and the pacer's cycles per run.
  state.counters["barrier_ns"] = barrier * perEvent;
  state.counters["dependency_ns"] = dependency * perEvent;
  state.counters["gc_per_run"] = runs ? double(stops) / double(runs) : 0;
}

auto null = [](int procs) { return std::make_unique<NullBackend>(procs); };
auto system = [](int) { return std::make_unique<SystemBackend>(); };
auto go = [](int procs) { return std::make_unique<GoBackend>(core::Config{}, procs); };

void BM_SteadyNullTouchNone(benchmark::State& s) { replayBench(s, steadyProgram(), 1, TouchMode::None, null); }
void BM_SteadyNull(benchmark::State& s) { replayBench(s, steadyProgram(), 1, TouchMode::Pages, null); }
void BM_SteadySystem(benchmark::State& s) { replayBench(s, steadyProgram(), 1, TouchMode::Pages, system); }
void BM_SteadyGo(benchmark::State& s) { replayBench(s, steadyProgram(), 1, TouchMode::Pages, go); }
void BM_SharedNothingNull1P(benchmark::State& s) { replayBench(s, sharedNothing(), 1, TouchMode::Pages, null); }
void BM_SharedNothingNull2P(benchmark::State& s) { replayBench(s, sharedNothing(), 2, TouchMode::Pages, null); }
void BM_SharedNothingSystem1P(benchmark::State& s) { replayBench(s, sharedNothing(), 1, TouchMode::Pages, system); }
void BM_SharedNothingSystem2P(benchmark::State& s) { replayBench(s, sharedNothing(), 2, TouchMode::Pages, system); }
void BM_SharedNothingGo1P(benchmark::State& s) { replayBench(s, sharedNothing(), 1, TouchMode::Pages, go); }
void BM_SharedNothingGo2P(benchmark::State& s) { replayBench(s, sharedNothing(), 2, TouchMode::Pages, go); }

BENCHMARK(BM_SteadyNullTouchNone)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SteadyNull)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SteadySystem)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SteadyGo)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingNull1P)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingNull2P)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingSystem1P)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingSystem2P)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingGo1P)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SharedNothingGo2P)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gomalloc::replay

BENCHMARK_MAIN();
