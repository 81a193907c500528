#include "replay/go_backend.h"

#include "replay/engine.h"

namespace gomalloc::replay {

template class BackendImpl<GoBackend>;

namespace {

core::Config withProcs(core::Config cfg, int procs) {
  cfg.procs = procs;
  cfg.validate();
  return cfg;
}

}  // namespace

GoBackend::GoBackend(core::Config cfg, int procs)
    : cfg_(withProcs(std::move(cfg), procs)), heap_(std::make_unique<core::Heap>(cfg_)) {
  core::nanotime();  // the lock clock calibrates itself (~2 ms) on first use: not during the replay
}

std::optional<HeapFigures> GoBackend::heapFigures() const {
  core::MemStats m = heap_->memStats();
  return HeapFigures{m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased, m.HeapSys, m.HeapObjects};
}

void GoBackend::describe(Result& r, const LiveObjects& live, bool verify) const {
  GoDetail d;
  d.mem = heap_->memStats();
  d.spanClasses = heap_->classStats();
  d.spans = heap_->spanCounts();
  d.locks = heap_->lockStats();
  d.classes = heap_->classes().classes();
  r.go = std::move(d);
  const auto pacer = [](uint64_t v) { return v == ~uint64_t{0} ? std::nullopt : std::optional<uint64_t>(v); };  // ~0: GOGC=off
  for (const core::GcCycle& c : heap_->gcCycles()) {
    GcCycleRecord g;
    g.cycle = c.cycle;
    g.forced = c.forced;
    g.concurrent = c.concurrent;
    g.heapStart = c.heapStart;
    g.heapEnd = c.heapEnd;
    g.heapMarked = c.heapMarked;
    g.goal = pacer(c.goal);
    g.trigger = pacer(c.trigger);
    g.nextGoal = pacer(c.nextGoal);
    g.nextTrigger = pacer(c.nextTrigger);
    g.heapInuseBefore = c.heapInuseBefore;
    g.heapInuseAfter = c.heapInuseAfter;
    r.gcCycles.push_back(g);
  }
  if (verify) {
    r.verifyErrors = heap_->verify(&live);
    r.verified = true;
  }
}

}  // namespace gomalloc::replay
