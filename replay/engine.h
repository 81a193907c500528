// The replay engine's internals: the state one replay shares between its worker threads, and the replay
// loops, templated on the backend so that the hot path calls it directly. Included by the backends' .cpp
// files (which instantiate BackendImpl<Backend>) and by tests that define backends of their own; everything
// else uses replay/replayer.h. The semantics are described there.
#pragma once

#include <immintrin.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/sizeclasses.h"
#include "replay/backend.h"
#include "replay/replayer.h"
#include "traces/program.h"

namespace gomalloc::replay::detail {

uint64_t nowNs();  // steady clock

// One object-table entry. seq counts the ops done on the slot; ptr/size are published by the release store
// of seq and read after an acquire load of it.
struct Slot {
  std::atomic<uint32_t> seq{0};
  uint32_t sizeClass = 0;  // harness class counts: the live object's Go 1.19 size class
  void* ptr = nullptr;
  uint64_t size = 0;
};

// The object table: mapped with transparent huge pages where the kernel allows it (madvise), because slot
// accesses are random and the table is often far larger than the TLB's reach with 4 KiB pages.
class SlotTable {
 public:
  explicit SlotTable(size_t n);
  ~SlotTable();
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;
  Slot& operator[](size_t i) { return slots_[i]; }
  const Slot& operator[](size_t i) const { return slots_[i]; }

 private:
  Slot* slots_ = nullptr;
  size_t bytes_ = 0;
};

// Per-P counters, written only by the thread running that P.
struct alignas(64) PState {
  uint64_t allocs = 0, frees = 0, bytesRequested = 0, bytesFreed = 0, zeroAllocs = 0;
  uint64_t depWaits = 0, depWaitNs = 0, barrierNs = 0, startNs = 0, endNs = 0;
  uint32_t nextGc = 0;              // the next trace gc barrier this P has not passed
  std::vector<ClassCount> classes;  // harness class counts (backends with kHarnessClasses)
  std::atomic<uint64_t> progress{0};  // ops done, published every 1024 ops for the sampler
};

// Writes into a fresh object as TouchMode says. The empty asm keeps the stores from being optimized away.
inline void touch(void* ptr, uint64_t size, TouchMode m) {
  if (size == 0 || ptr == nullptr || m == TouchMode::None) return;
  auto* c = static_cast<unsigned char*>(ptr);
  if (m == TouchMode::Full) {
    std::memset(c, 0xA5, size);
  } else {
    if (size >= 8) {
      const uint64_t word = 0xA5A5A5A5A5A5A5A5u;
      std::memcpy(c, &word, 8);
    } else {
      c[0] = 0xA5;
    }
    if (m == TouchMode::Pages) {
      const uintptr_t end = reinterpret_cast<uintptr_t>(c) + size;
      for (uintptr_t a = (reinterpret_cast<uintptr_t>(c) | 4095) + 1; a < end; a += 4096)
        *reinterpret_cast<unsigned char*>(a) = 0xA5;
    }
  }
  asm volatile("" : : "r"(c) : "memory");
}

struct Run {
  Run(const traces::ReplayProgram& program, Backend& backend, const Options& opt, int procs);

  const traces::ReplayProgram& prog;
  Backend& backend;
  const Options& opt;
  const int nprocs;
  const TouchMode touchMode;
  const std::atomic<bool>* const cancel;
  SlotTable slots;
  std::unique_ptr<PState[]> ps;
  std::vector<std::vector<uint32_t>> pThreads;   // trace threads of each P
  std::vector<std::vector<uint16_t>> schedules;  // Ps with several threads: which thread goes next, in order
  const core::SizeClassTable classTable;         // Go 1.19's, for harness class counts
  uint64_t startNs = 0;

  // Polled before every op.
  std::atomic<bool> stop{false};   // a stop-the-world is pending (pacer)
  std::atomic<bool> abort{false};  // a worker failed

  // Barrier coordination (under mu).
  std::mutex mu;
  std::condition_variable cv;
  int active = 0;      // workers still replaying
  int parked = 0;      // ... of which parked (at a stop or a gc barrier)
  int stopParked = 0;  // ... parked for a pacer stop
  int gcParked = 0;    // ... parked at trace gc barrier gcDone
  uint64_t stopEpoch = 0;
  uint32_t gcDone = 0;  // trace gc barriers completed
  std::string error;

  // What barriers record (under mu in concurrent mode; the only thread in deterministic mode).
  uint64_t gcEvents = 0, pacerStops = 0;
  std::vector<TimelinePoint> gcPoints;
  std::optional<HeapFigures> heapPeak;
  uint32_t detNextGc = 0;  // deterministic mode: the next trace gc barrier

  // Deterministic mode: address digest.
  uint64_t addrHash = 0xcbf29ce484222325u;
  uintptr_t addrBase = 0;
  bool haveAddrBase = false;

  bool cancelled() const { return cancel && cancel->load(std::memory_order_relaxed); }
  bool aborting() const { return abort.load(std::memory_order_relaxed) || cancelled(); }
  bool attention() const { return stop.load(std::memory_order_relaxed) || aborting(); }
  uint8_t classOf(uint64_t size) const {
    return size <= core::kMaxSmallSize ? classTable.sizeToClass(size) : uint8_t{0};
  }
  void requestStop() {
    if (!stop.load(std::memory_order_relaxed)) stop.store(true, std::memory_order_relaxed);
  }
  void hashAddress(const void* p) {
    auto a = reinterpret_cast<uintptr_t>(p);
    if (!haveAddrBase) addrBase = a, haveAddrBase = true;
    addrHash = (addrHash ^ uint64_t(a - addrBase)) * 0x100000001b3u;
  }

  // Slow paths (replayer.cpp). Each returns false when the replay must stop (cancelled or failed).
  bool attend(int p);                                 // a stop or an abort is pending, between two ops
  bool waitSeq(Slot& s, uint32_t want, int p);        // spin/yield/sleep until s.seq == want
  bool barrier(int p, uint32_t ordinal);              // trace gc barrier
  void finish(int p);                                 // p's streams are done
  void fail(const std::string& why);                  // stop every worker; rethrown by run()
  void sequenceError(const traces::ReplayOp& op, uint32_t found);
  void runGc(bool forced);                            // the world is stopped

  template <bool kConcurrent>
  bool ready(Slot& s, const traces::ReplayOp& op, int p) {
    if constexpr (kConcurrent) {
      return s.seq.load(std::memory_order_acquire) == op.seq || waitSeq(s, op.seq, p);
    } else {
      uint32_t found = s.seq.load(std::memory_order_relaxed);
      if (found == op.seq) return true;
      sequenceError(op, found);
      return false;
    }
  }

 private:
  void tryComplete();  // mu held: completes a barrier if every active worker is parked
  void parkForStop(int p);
};

// One op on P p. Returns false when the replay must stop.
template <class B, bool kConcurrent>
[[gnu::always_inline]] inline bool step(B& b, Run& r, PState& s, int p, const traces::ReplayOp& op) {
  using traces::ReplayOp;
  switch (op.kind()) {
    case ReplayOp::Alloc: {
      Slot& sl = r.slots[op.slot];
      if (!r.ready<kConcurrent>(sl, op, p)) return false;
      const uint64_t size = op.size();
      void* ptr = b.mallocFast(p, size, op.scan());
      touch(ptr, size, r.touchMode);
      sl.ptr = ptr;
      sl.size = size;
      s.allocs++;
      s.bytesRequested += size;
      if (size == 0) {
        s.zeroAllocs++;
      } else if constexpr (B::kHarnessClasses) {
        sl.sizeClass = r.classOf(size);
        ClassCount& c = s.classes[sl.sizeClass];
        c.allocs++;
        c.bytesRequested += size;
      }
      sl.seq.store(op.seq + 1, std::memory_order_release);  // publishes ptr, size, sizeClass
      if constexpr (!kConcurrent) r.hashAddress(ptr);
      if constexpr (B::kHasGc) {
        if (b.gcRequestedFast()) {
          if constexpr (kConcurrent) r.requestStop();
          else r.runGc(false);
        }
      }
      return true;
    }
    case ReplayOp::Free: {
      Slot& sl = r.slots[op.slot];
      if (!r.ready<kConcurrent>(sl, op, p)) return false;
      void* ptr = sl.ptr;
      const uint64_t size = sl.size;
      b.freeFast(p, ptr, size);
      sl.ptr = nullptr;
      sl.seq.store(op.seq + 1, std::memory_order_release);
      s.frees++;
      s.bytesFreed += size;
      if constexpr (B::kHarnessClasses) {
        if (size != 0) s.classes[sl.sizeClass].frees++;
      }
      return true;
    }
    default: {  // gc: every thread's stream holds a copy; a P acts on the first copy it meets
      uint32_t& next = kConcurrent ? s.nextGc : r.detNextGc;
      if (op.seq < next) return true;
      next = op.seq + 1;
      if constexpr (kConcurrent) {
        return r.barrier(p, op.seq);
      } else {
        r.runGc(true);
        return true;
      }
    }
  }
}

// The slot of an op coming up soon: most slots are cold (objects live long), and the table is too big for the
// caches, so fetching it ahead hides most of that miss.
inline constexpr size_t kPrefetchAhead = 16;
inline void prefetchSlot(const Run& r, const traces::ReplayOp& op) { __builtin_prefetch(&r.slots[op.slot], 1, 3); }

// A worker thread running P p.
template <class B>
void workerLoop(B& b, Run& r, int p) {
  PState& s = r.ps[p];
  const auto& threads = r.pThreads[p];
  uint64_t n = 0;
  auto one = [&](const traces::ReplayOp& op) {
    if (r.attention() && !r.attend(p)) return false;
    if (!step<B, true>(b, r, s, p, op)) return false;
    if ((++n & 1023) == 0) s.progress.store(n, std::memory_order_relaxed);
    return true;
  };
  try {
    if (threads.size() == 1) {
      const std::vector<traces::ReplayOp>& ops = r.prog.threads[threads[0]];
      const size_t n = ops.size();
      for (size_t i = 0; i < n; i++) {
        if (i + kPrefetchAhead < n) prefetchSlot(r, ops[i + kPrefetchAhead]);
        if (!one(ops[i])) break;
      }
    } else if (threads.size() > 1) {
      const std::vector<uint16_t>& sched = r.schedules[p];
      std::vector<size_t> pos(r.prog.threads.size()), ahead(r.prog.threads.size());
      for (size_t k = 0; k < sched.size(); k++) {
        if (k + kPrefetchAhead < sched.size()) {
          const uint16_t u = sched[k + kPrefetchAhead];
          prefetchSlot(r, r.prog.threads[u][ahead[u]++]);
        }
        const uint16_t t = sched[k];
        if (!one(r.prog.threads[t][pos[t]++])) break;
      }
    }
  } catch (const std::exception& e) {
    r.fail(std::string(b.name()) + " backend on P" + std::to_string(p) + ": " + e.what());
  }
  s.progress.store(n, std::memory_order_relaxed);
  r.finish(p);
}

// Every P on the calling thread, in trace order.
template <class B>
void deterministicLoop(B& b, Run& r) {
  std::vector<size_t> pos(r.prog.threads.size()), ahead(r.prog.threads.size());
  const std::vector<uint16_t>& order = r.prog.order;
  uint64_t n = 0;
  try {
    for (size_t k = 0; k < order.size(); k++) {
      if (r.aborting()) break;
      if (k + kPrefetchAhead < order.size()) {
        const uint16_t u = order[k + kPrefetchAhead];
        prefetchSlot(r, r.prog.threads[u][ahead[u]++]);
      }
      const uint16_t t = order[k];
      const int p = int(t % unsigned(r.nprocs));
      if (!step<B, false>(b, r, r.ps[p], p, r.prog.threads[t][pos[t]++])) break;
      if ((++n & 1023) == 0) r.ps[0].progress.store(n, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    r.fail(std::string(b.name()) + " backend: " + e.what());
  }
  r.ps[0].progress.store(n, std::memory_order_relaxed);
}

}  // namespace gomalloc::replay::detail

namespace gomalloc::replay {

template <class D>
void BackendImpl<D>::runWorker(detail::Run& run, int p) {
  detail::workerLoop(self(), run, p);
}

template <class D>
void BackendImpl<D>::runDeterministic(detail::Run& run) {
  detail::deterministicLoop(self(), run);
}

}  // namespace gomalloc::replay
