#include "replay/synth.h"

#include <fmt/format.h>

#include <deque>
#include <stdexcept>

namespace gomalloc::replay::synth {

using traces::ReplayOp;

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

}  // namespace

ProgramBuilder::ProgramBuilder(uint16_t threads, std::string path) : freeSlots_(threads) {
  prog_.path = std::move(path);
  prog_.threads.resize(threads);
}

void ProgramBuilder::note(uint64_t a, uint64_t b) {
  hash_ = (hash_ ^ a) * 0x100000001b3u;
  hash_ = (hash_ ^ b) * 0x100000001b3u;
}

uint64_t ProgramBuilder::alloc(uint16_t thread, uint64_t size, bool scan) {
  if (thread >= prog_.threads.size()) throw std::invalid_argument("alloc on an unknown thread");
  if (size > ReplayOp::kSizeMask) throw std::invalid_argument("allocation too large");
  uint32_t slot;
  if (!freeSlots_[thread].empty()) {
    slot = freeSlots_[thread].back();
    freeSlots_[thread].pop_back();
  } else {
    slot = uint32_t(slotSeq_.size());
    slotSeq_.push_back(0);
    slotThread_.push_back(thread);
  }
  const bool cross = slotThread_[slot] != thread;
  prog_.threads[thread].push_back(ReplayOp::alloc(slot, slotSeq_[slot]++, size, scan, cross));
  slotThread_[slot] = thread;
  prog_.order.push_back(thread);
  prog_.events++;
  const uint64_t id = objSlot_.size();
  objSlot_.push_back(slot);
  objSize_.push_back(size);
  note(uint64_t(thread) << 2 | ReplayOp::Alloc, size << 1 | (scan ? 1 : 0));
  return id;
}

void ProgramBuilder::free(uint16_t thread, uint64_t id) {
  if (thread >= prog_.threads.size()) throw std::invalid_argument("free on an unknown thread");
  if (!live(id)) throw std::invalid_argument(fmt::format("free of object {} which is not live", id));
  const uint32_t slot = objSlot_[id];
  const bool cross = slotThread_[slot] != thread;
  prog_.threads[thread].push_back(ReplayOp::free(slot, slotSeq_[slot]++, objSize_[id], cross));
  slotThread_[slot] = thread;
  freeSlots_[thread].push_back(slot);
  objSlot_[id] = kDead;
  prog_.order.push_back(thread);
  prog_.events++;
  note(uint64_t(thread) << 2 | ReplayOp::Free, id);
}

void ProgramBuilder::gc() {
  for (uint16_t t = 0; t < prog_.threads.size(); t++) {
    prog_.threads[t].push_back(ReplayOp::gc(prog_.gcBarriers));
    prog_.order.push_back(t);
  }
  prog_.gcBarriers++;
  prog_.events++;
  note(ReplayOp::Gc, prog_.gcBarriers);
}

traces::ReplayProgram ProgramBuilder::build() {
  prog_.slots = uint32_t(slotSeq_.size());
  prog_.liveAtEnd = 0;
  for (uint32_t s : objSlot_) prog_.liveAtEnd += s != kDead;
  prog_.digest = fmt::format("{:016x}", hash_);
  return std::move(prog_);
}

uint64_t sampleSize(uint64_t& rng) {
  const uint64_t r = splitmix(rng);
  const uint64_t pick = r % 1000, v = r >> 32;
  if (pick < 600) return 8 + v % 57;          // 8..64
  if (pick < 850) return 65 + v % 448;        // 65..512
  if (pick < 950) return 513 + v % 7680;      // 513..8192
  if (pick < 999) return 8193 + v % 24576;    // 8193..32768
  return 32769 + v % (256 * 1024);            // large
}

traces::ReplayProgram steady(uint64_t events, uint16_t threads, uint32_t liveObjects, uint64_t seed,
                             uint64_t gcEvery) {
  if (threads == 0) throw std::invalid_argument("steady: needs at least one thread");
  ProgramBuilder b(threads, fmt::format("synthetic:steady(events={},threads={},live={},seed={})", events, threads,
                                        liveObjects, seed));
  uint64_t rng = seed;
  std::vector<std::vector<uint64_t>> live(threads);
  uint64_t sinceGc = 0;
  while (b.events() < events) {
    const auto t = uint16_t(splitmix(rng) % threads);
    auto& mine = live[t];
    const uint64_t r = splitmix(rng);
    if (mine.size() < liveObjects / 2 || (mine.size() < liveObjects * 2 && (r & 1))) {
      const uint64_t size = sampleSize(rng);
      mine.push_back(b.alloc(t, size, (r >> 1) & 1));
    } else {
      size_t i = size_t((r >> 8) % mine.size());
      b.free(t, mine[i]);
      mine[i] = mine.back();
      mine.pop_back();
    }
    if (gcEvery && ++sinceGc >= gcEvery) {
      b.gc();
      sinceGc = 0;
    }
  }
  return b.build();
}

traces::ReplayProgram producerConsumer(uint64_t rounds, uint16_t threads, uint32_t lag, uint64_t seed,
                                       uint64_t gcEvery) {
  if (threads == 0) throw std::invalid_argument("producerConsumer: needs at least one thread");
  ProgramBuilder b(threads, fmt::format("synthetic:producer-consumer(rounds={},threads={},lag={},seed={})", rounds,
                                        threads, lag, seed));
  uint64_t rng = seed;
  std::vector<std::deque<uint64_t>> made(threads);
  for (uint64_t round = 0; round < rounds; round++) {
    for (uint16_t t = 0; t < threads; t++) {
      made[t].push_back(b.alloc(t, sampleSize(rng), splitmix(rng) & 1));
      auto& q = made[(t + threads - 1) % threads];
      if (q.size() > lag) {
        b.free(t, q.front());
        q.pop_front();
      }
    }
    if (gcEvery && (round + 1) % gcEvery == 0) b.gc();
  }
  return b.build();
}

}  // namespace gomalloc::replay::synth
