// Replay programs built in memory, without a trace file: for tests, benchmarks and experiments.
//
// ProgramBuilder takes events in trace order (alloc/free of object ids on threads, gc) and produces the
// ReplayProgram the loader would: dense slots (a freed slot goes back to the freeing thread, so its next
// allocation there does not wait for anyone), per-slot sequence numbers, kCross on ops whose slot was last
// touched by another thread, gc copies in every thread's stream, and the global order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/program.h"

namespace gomalloc::replay::synth {

class ProgramBuilder {
 public:
  explicit ProgramBuilder(uint16_t threads, std::string path = "synthetic");
  // Returns the new object's id (0, 1, 2, ... in allocation order).
  uint64_t alloc(uint16_t thread, uint64_t size, bool scan = false);
  // Frees a live object; throws std::invalid_argument if it is not live.
  void free(uint16_t thread, uint64_t id);
  void gc();
  bool live(uint64_t id) const { return id < objSlot_.size() && objSlot_[id] != kDead; }
  uint64_t events() const { return prog_.events; }
  traces::ReplayProgram build();

 private:
  static constexpr uint32_t kDead = UINT32_MAX;
  void note(uint64_t a, uint64_t b);
  traces::ReplayProgram prog_;
  std::vector<uint32_t> objSlot_;     // object id -> slot (kDead once freed)
  std::vector<uint64_t> objSize_;     // object id -> size
  std::vector<uint32_t> slotSeq_;     // slot -> ops so far
  std::vector<uint16_t> slotThread_;  // slot -> thread of its last op
  std::vector<std::vector<uint32_t>> freeSlots_;  // per thread
  uint64_t hash_ = 0xcbf29ce484222325u;
};

// A size drawn from a mix of small, medium and a few large requests (deterministic for a given state).
uint64_t sampleSize(uint64_t& rngState);

// Threads that share nothing: each keeps about liveObjects objects alive, allocating and freeing at random
// (after a ramp-up), with trace gc events every gcEvery events (0 = none). events is approximate (+/- threads).
traces::ReplayProgram steady(uint64_t events, uint16_t threads, uint32_t liveObjects, uint64_t seed,
                             uint64_t gcEvery = 0);

// Every thread allocates; thread (t+1) mod threads frees what thread t allocated `lag` rounds earlier, so
// every free crosses threads. A gc event every gcEvery rounds (0 = none). Objects of the last `lag` rounds
// stay live.
traces::ReplayProgram producerConsumer(uint64_t rounds, uint16_t threads, uint32_t lag, uint64_t seed,
                                       uint64_t gcEvery = 0);

}  // namespace gomalloc::replay::synth
