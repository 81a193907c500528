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
#include <type_traits>
#include <vector>

#include "core/sizeclasses.h"
#include "replay/backend.h"
#include "replay/replayer.h"
#include "traces/program.h"

namespace gomalloc::replay::detail {

uint64_t nowNs();  // steady clock

// One object-table entry, 16 bytes so that a table of a few hundred thousand live objects stays in L2. seq
// counts the ops done on the slot; ptr is published by the release store of seq and read after an acquire
// load of it. The object's size is not kept: a free op carries it (traces/program.h).
struct Slot {
  std::atomic<uint32_t> seq{0};
  void* ptr = nullptr;
};
static_assert(sizeof(Slot) == 16);

// The object table: mapped with transparent huge pages where the kernel allows it (madvise), because slot
// accesses are random and the table is often far larger than the TLB's reach with 4 KiB pages.
class SlotTable {
 public:
  explicit SlotTable(size_t n);
  ~SlotTable();
  // Makes room for n slots (new ones zero: sequence 0, no object), keeping the others; may move the table, so
  // only while no worker runs (between windows).
  void reserve(size_t n);
  size_t size() const { return n_; }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;
  Slot& operator[](size_t i) { return slots_[i]; }
  const Slot& operator[](size_t i) const { return slots_[i]; }

 private:
  Slot* slots_ = nullptr;
  size_t bytes_ = 0, n_ = 0;
};

// Per-P state, written only by the thread running that P. What the trace determines (allocs, frees, bytes,
// the harness's class counts) is not counted here: run() counts it after the replay from the ops each thread
// got through (Run::done), which keeps the loop to what the allocator needs.
struct alignas(64) PState {
  uint64_t depWaits = 0, depWaitNs = 0, barrierNs = 0, lifeNs = 0;  // lifeNs: time in its windows' replays
  uint64_t progressBase = 0;        // ops done in earlier windows
  uint32_t nextGc = 0;              // the next trace gc barrier this P has not passed
  std::atomic<uint64_t> progress{0};  // ops done, published every 1024 ops for the sampler
  alignas(8) unsigned char scratch[64]{};  // what touch writes that no object should get (step)
  uint64_t touchOrder = 0;                  // what touch's stores write as far as the compiler knows
  uint32_t sampleLeft = ~0u;  // ops until the next one timed (Run::latency; never, in practice, without it)
};

// Writes into a fresh object as TouchMode says: its first byte and, when it has one, its first word; with
// Pages one byte in every further 4 KiB page. The first writes take no branch on the size (objects of 1-7
// bytes and larger ones come mixed): the word goes to the scratch line instead when the object is smaller.
// size 0 writes only to the scratch line. The stores are asm the compiler does not see into: a char store
// through a pointer may alias anything, and would make it reload every value of the replay loop after it.
// To the compiler each such store writes `order` instead (a uint64_t of the P's), which keeps them before the
// release store that publishes the object: once it is published, another P may free it.
namespace touchstore {
inline void byte(uintptr_t a, uint64_t& order) { asm volatile("movb $0xa5, (%1)" : "+m"(order) : "r"(a)); }
inline void word(uintptr_t a, uint64_t& order) {
  asm volatile("movq %2, (%1)" : "+m"(order) : "r"(a), "r"(uint64_t{0xA5A5A5A5A5A5A5A5u}));
}
}  // namespace touchstore

template <TouchMode m>
[[gnu::always_inline]] inline void touch(void* ptr, uint64_t size, void* scratch, uint64_t& order) {
  if constexpr (m == TouchMode::None) return;
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr), x = reinterpret_cast<uintptr_t>(scratch);
  const uintptr_t some = -uintptr_t(size != 0), word8 = -uintptr_t(size >= 8);  // (masks: no branches)
  const uintptr_t c = (p & some) | (x & ~some);
  if constexpr (m == TouchMode::Full) {
    std::memset(reinterpret_cast<void*>(c), 0xA5, size);
    asm volatile("" : : "r"(c) : "memory");
  } else {
    touchstore::byte(c, order);
    touchstore::word((c & word8) | (x & ~word8), order);
    if (m == TouchMode::Pages && size > 4096 - (c & 4095)) {
      const uintptr_t end = c + size;
      for (uintptr_t a = (c | 4095) + 1; a < end; a += 4096) touchstore::byte(a, order);
    }
  }
}

// A memory bound was reached (core::HeapLimitError, MemoryLimitError): run() rethrows it as MemoryLimitError,
// exit status 1, where any other failure is not a bound (replayer.cpp).
bool isLimitError(const std::exception& e);

struct Run {
  // first: the program, or a streamed program's first window (which has every thread).
  Run(const traces::ReplayProgram& first, Backend& backend, const Options& opt, int procs);
  // Makes w the window the Ps replay next (between windows: no worker runs).
  void setWindow(const traces::ReplayProgram& w);

  const traces::ReplayProgram* prog;  // the window being replayed (the whole program when not streamed)
  Backend& backend;
  const Options& opt;
  const int nprocs;
  const TouchMode touchMode;
  const std::atomic<bool>* const cancel;  // never null (Options::cancel, or a flag that stays false)
  SlotTable slots;
  std::unique_ptr<PState[]> ps;
  std::vector<std::vector<uint32_t>> pThreads;   // trace threads of each P
  std::vector<std::vector<uint16_t>> schedules;  // Ps with several threads: which thread goes next, in order
  std::vector<uint64_t> done;  // per trace thread: ops of the window completed (written by its P when it stops)
  uint64_t windowBase = 0;     // ops in earlier windows (deterministic mode's event index)
  const core::SizeClassTable classTable;         // Go 1.19's, for harness class counts
  uint64_t startNs = 0;
  // Sampled latency (replay/latency.h): one recorder per P, null when Options::latencySampleEvery is 0.
  std::unique_ptr<LatencyRecorder[]> latency;
  uint64_t latencyOverheadTicks = 0, startTicks = 0;
  // Sets up the recorders and the Ps' first gaps (before the first window).
  void startLatency();

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
  // Written under mu; parked workers spin on them without it for a while (awaitRelease).
  std::atomic<uint64_t> stopEpoch{0};
  std::atomic<uint32_t> gcDone{0};  // trace gc barriers completed
  bool spinAtBarriers = false;      // every P has a core of its own
  std::string error;
  bool limitExceeded = false;  // the error is a memory bound (isLimitError)

  // What barriers record (under mu in concurrent mode; the only thread in deterministic mode).
  uint64_t gcEvents = 0, pacerStops = 0;
  std::vector<TimelinePoint> gcPoints;
  std::optional<HeapFigures> heapPeak;
  uint32_t detNextGc = 0;  // deterministic mode: the next trace gc barrier
  uint64_t detIndex = 0;   // deterministic mode: the index of the op being replayed
  std::vector<uint64_t> markStarts;  // events done when each concurrent mark started (under mu)
  // Trace events done (eventsDone) when each concurrent mark started, and at each runGc with its forced flag:
  // describe's cycles get them (attachCycleEvents). Under mu, as markStarts.
  std::vector<uint64_t> markStartEvents;
  std::vector<std::pair<uint64_t, bool>> gcEnds;
  std::atomic<uint64_t> gcCopiesPassed{0};  // gc ops run or skipped as another thread's copy (eventsDone)
  bool detBeforeOp = false;  // deterministic mode: op detIndex is not done yet (markSpent runs before it)
  std::vector<AllocatorStatsAtGc> allocatorAtGc;  // the allocator's statistics at each trace gc event (runGc)
  // Deterministic mode, gc_mark_events: the events done when the runtime would see the mark's end (it ends before
  // op detMarkEnd - 1).
  uint64_t detMarkEnd = ~uint64_t{0};
  bool gcPointPending = false;  // runGc's after-cycle point, not yet read (gcPointAfterOp)

  // Deterministic mode: address digest.
  uint64_t addrHash = 0xcbf29ce484222325u;
  uintptr_t addrBase = 0;
  bool haveAddrBase = false;

  bool cancelled() const { return cancel->load(std::memory_order_relaxed); }
  bool aborting() const { return abort.load(std::memory_order_relaxed) || cancelled(); }
  bool attention() const { return stop.load(std::memory_order_relaxed) || aborting(); }
  // Deterministic mode: the mark's gc_mark_events are done; the backend ends it and the cycle runs.
  void markSpent();
  void gcPointAfterOp();  // records runGc's after-cycle timeline point if it waits (see replayer.cpp)
  void recordGcPoint(uint64_t events);
  // Trace events done (a gc event once, though every thread's stream holds a copy): exact in deterministic
  // mode (between ops), the Ps' published progress otherwise.
  uint64_t eventsDone() const;
  // Harness class counts (counted after the replay): the Go 1.19 size class of a size, 0 for large objects.
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
  void fail(const std::string& why, bool limit = false);  // stop every worker; rethrown by run() (limit: as
                                                          // MemoryLimitError, a bound exceeded)
  void sequenceError(const traces::ReplayOp& op, uint32_t found);
  void runGc(bool forced);                            // the world is stopped
  void pacerAttention(bool concurrent);               // after an op: note a mark start, stop for a cycle

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
  // lk held and the worker registered as parked: waits until released(), spinning first when every P has a core
  // (a GC cycle is often shorter than a sleeping thread takes to wake up).
  template <class Released>
  void awaitRelease(std::unique_lock<std::mutex>& lk, Released released);
  void parkForStop(int p);
};

// One op timed (step, one op in Options::latencySampleEvery): applyFast between two reads of the time-stamp
// counter, into the P's histogram of the op's group. Out of line, so that the untimed path stays as it was.
template <class B>
[[gnu::noinline]] void* sampledApply(B& b, Run& r, PState& s, int p, bool isFree, uint64_t size, bool scan,
                                     void* old) {
  if (!r.latency) {
    s.sampleLeft = ~0u;
    return b.applyFast(p, isFree, size, scan, old);
  }
  LatencyRecorder& rec = r.latency[size_t(p)];
  s.sampleLeft = rec.nextGap();
  const uint64_t t0 = ticksNow();
  void* q = b.applyFast(p, isFree, size, scan, old);
  const uint64_t t1 = ticksNow();
  rec.groups[latencyGroup(isFree, size, scan)].add(t1 - t0);
  return q;
}

// One op on P p. Returns false when the replay must stop.
//
// Allocs and frees come in no order a branch predictor can learn, so the harness's part of both is one path
// without branches on the kind: the backend's applyFast does the alloc or the free (the null backend without
// a branch either), and touch writes to a scratch line instead of an object on a free.
template <class B, bool kConcurrent, TouchMode kTouch>
[[gnu::always_inline]] inline bool step(B& b, Run& r, PState& s, int p, const traces::ReplayOp& op) {
  using traces::ReplayOp;
  const uint64_t bits = op.bits;
  if ((bits >> ReplayOp::kOpShift) == ReplayOp::Gc) [[unlikely]] {
    // gc: every thread's stream holds a copy; a P acts on the first copy it meets
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
  const bool isFree = (bits >> ReplayOp::kOpShift) & 1;
  const uint64_t size = bits & ReplayOp::kSizeMask;
  Slot& sl = r.slots[op.slot];
  if (!r.ready<kConcurrent>(sl, op, p)) [[unlikely]] return false;
  void* ptr;
  if (--s.sampleLeft == 0) [[unlikely]] ptr = sampledApply(b, r, s, p, isFree, size, bits & ReplayOp::kScan, sl.ptr);
  else ptr = b.applyFast(p, isFree, size, bits & ReplayOp::kScan, sl.ptr);
  // Touched before the slot is published: once it is, another P may free the object.
  touch<kTouch>(ptr, size & (uint64_t(isFree) - 1), s.scratch, s.touchOrder);
  sl.ptr = ptr;  // (after a free, whatever applyFast returned: nothing reads it)
  sl.seq.store(op.seq + 1, std::memory_order_release);  // publishes ptr
  if constexpr (!kConcurrent) {
    if (!isFree) r.hashAddress(ptr);
  }
  if constexpr (B::kHasGc) {
    if (b.gcRequestedFast()) [[unlikely]] r.pacerAttention(kConcurrent);
  }
  return true;
}

// The slot of an op coming up soon: most slots are cold (objects live long), and the table is too big for the
// caches, so fetching it ahead hides most of that miss.
inline constexpr size_t kPrefetchAhead = 32;
// A worker looks for a pending stop (a pacer cycle, Ctrl-C, a failure) before every 8th op: a stop then waits
// for at most 7 more ops of each worker, well under a microsecond.
inline constexpr size_t kAttentionEvery = 8;
static_assert(1024 % kAttentionEvery == 0, "progress is published every 1024 ops, at a stop check");
// The op stream is read in order, but the hardware prefetcher alone falls behind it.
inline constexpr size_t kPrefetchOpsAhead = 256;
// For writing (prefetchw: the line comes exclusive, so the store that follows needs no second trip; CPUs
// without the instruction run it as a no-op).
inline void prefetchSlot(const Run& r, const traces::ReplayOp& op) {
  asm volatile("prefetchw (%0)" : : "r"(&r.slots[op.slot]));
}

// A lookahead cursor over a schedule (sched[k]: the thread of the k-th op): ahead[u] counts thread u's ops
// among the first `distance` entries, so that the op `distance` entries on from k is always
// threads[sched[k + distance]][ahead[...]++]. (Threads out of range are left to the caller's checks.)
inline std::vector<size_t> aheadCursor(const std::vector<uint16_t>& sched, size_t nthreads, size_t distance) {
  std::vector<size_t> ahead(nthreads, 0);
  for (size_t k = 0; k < distance && k < sched.size(); k++)
    if (sched[k] < nthreads) ahead[sched[k]]++;
  return ahead;
}

// A worker thread running P p.
template <class B, TouchMode kTouch>
void workerLoop(B& b, Run& r, int p) {
  PState& s = r.ps[p];
  const auto& threads = r.pThreads[p];
  uint64_t n = 0;
  const uint64_t base = s.progressBase;
  std::vector<size_t> pos(r.prog->threads.size());  // per thread: ops done
  size_t i = 0;                                     // one stream: ops done (also when an op throws)
  try {
    if (threads.size() == 1) {
      // The common case, kept tight: one stream, ops in order.
      const std::vector<traces::ReplayOp>& stream = r.prog->threads[threads[0]];
      const traces::ReplayOp* ops = stream.data();
      const size_t count = stream.size();
      for (; i < count; i++) {
        if (i + kPrefetchAhead < count) prefetchSlot(r, ops[i + kPrefetchAhead]);
        __builtin_prefetch(&ops[i + kPrefetchOpsAhead], 0, 3);  // (past the end is harmless: a hint)
        if ((i & (kAttentionEvery - 1)) == 0) {
          if (r.attention() && !r.attend(p)) [[unlikely]] break;
          if ((i & 1023) == 0) s.progress.store(base + i, std::memory_order_relaxed);
        }
        if (!step<B, true, kTouch>(b, r, s, p, ops[i])) [[unlikely]] break;
      }
    } else if (threads.size() > 1) {
      const std::vector<uint16_t>& sched = r.schedules[p];
      std::vector<size_t> ahead = aheadCursor(sched, r.prog->threads.size(), kPrefetchAhead);
      for (size_t k = 0; k < sched.size(); k++) {
        if (k + kPrefetchAhead < sched.size()) {
          const uint16_t u = sched[k + kPrefetchAhead];
          prefetchSlot(r, r.prog->threads[u][ahead[u]++]);
        }
        if ((k & (kAttentionEvery - 1)) == 0 && r.attention() && !r.attend(p)) [[unlikely]] break;
        const uint16_t t = sched[k];
        if (!step<B, true, kTouch>(b, r, s, p, r.prog->threads[t][pos[t]])) [[unlikely]] break;
        pos[t]++;
        if ((++n & 1023) == 0) s.progress.store(base + n, std::memory_order_relaxed);
      }
    }
  } catch (const std::exception& e) {
    r.fail(std::string(b.name()) + " backend on P" + std::to_string(p) + ": " + e.what(), isLimitError(e));
  }
  if (threads.size() == 1) pos[threads[0]] = n = i;
  for (uint32_t t : threads) r.done[t] = pos[t];
  s.progressBase = base + n;
  s.progress.store(base + n, std::memory_order_relaxed);
  r.finish(p);
}

// Every P on the calling thread, in trace order.
template <class B, TouchMode kTouch>
void deterministicLoop(B& b, Run& r) {
  const std::vector<uint16_t>& order = r.prog->order;
  std::vector<size_t> pos(r.prog->threads.size()), ahead = aheadCursor(order, r.prog->threads.size(), kPrefetchAhead);
  uint64_t n = 0;
  try {
    for (size_t k = 0; k < order.size(); k++) {
      if (r.aborting()) break;
      if (k + kPrefetchAhead < order.size()) {
        const uint16_t u = order[k + kPrefetchAhead];
        prefetchSlot(r, r.prog->threads[u][ahead[u]++]);
      }
      const uint16_t t = order[k];
      const int p = int(t % unsigned(r.nprocs));
      r.detIndex = r.windowBase + k;
      // gc_mark_events: the runtime saw its mark end after the alloc whose assist finished it, before that
      // alloc got its object (mallocgc assists first): the mark ends before the op, which is not black.
      const bool spent = r.detIndex + 1 >= r.detMarkEnd;
      if (spent) [[unlikely]] r.markSpent();
      if (!step<B, false, kTouch>(b, r, r.ps[p], p, r.prog->threads[t][pos[t]])) break;
      if (spent) [[unlikely]] r.gcPointAfterOp();
      pos[t]++;
      if ((++n & 1023) == 0) r.ps[0].progress.store(r.windowBase + n, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    r.fail(std::string(b.name()) + " backend: " + e.what(), isLimitError(e));
  }
  r.gcPointAfterOp();
  for (size_t t = 0; t < pos.size(); t++) r.done[t] = pos[t];
  r.ps[0].progress.store(r.windowBase + n, std::memory_order_relaxed);
}

}  // namespace gomalloc::replay::detail

namespace gomalloc::replay {

// The touch mode is a template parameter so that the loop has no test of it: f(mode) with mode a constant.
template <class F>
void withTouchMode(TouchMode m, F&& f) {
  switch (m) {
    case TouchMode::None: return f(std::integral_constant<TouchMode, TouchMode::None>{});
    case TouchMode::First: return f(std::integral_constant<TouchMode, TouchMode::First>{});
    case TouchMode::Pages: return f(std::integral_constant<TouchMode, TouchMode::Pages>{});
    case TouchMode::Full: return f(std::integral_constant<TouchMode, TouchMode::Full>{});
  }
}

template <class D>
void BackendImpl<D>::runWorker(detail::Run& run, int p) {
  withTouchMode(run.touchMode, [&](auto m) { detail::workerLoop<D, m.value>(self(), run, p); });
}

template <class D>
void BackendImpl<D>::runDeterministic(detail::Run& run) {
  withTouchMode(run.touchMode, [&](auto m) { detail::deterministicLoop<D, m.value>(self(), run); });
}

}  // namespace gomalloc::replay
