#include "replay/replayer.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "core/mheap.h"
#include "replay/engine.h"
#include "replay/rss.h"
#include "traces/loader.h"

namespace gomalloc::replay {

using traces::ReplayOp;
using traces::ReplayProgram;

const char* touchModeName(TouchMode m) {
  switch (m) {
    case TouchMode::None: return "none";
    case TouchMode::First: return "first";
    case TouchMode::Pages: return "pages";
    case TouchMode::Full: return "full";
  }
  return "?";
}

std::optional<TouchMode> parseTouchMode(std::string_view s) {
  for (TouchMode m : {TouchMode::None, TouchMode::First, TouchMode::Pages, TouchMode::Full})
    if (s == touchModeName(m)) return m;
  return std::nullopt;
}

const char* timelineKindName(TimelinePoint::Kind k) {
  switch (k) {
    case TimelinePoint::Kind::Start: return "start";
    case TimelinePoint::Kind::Sample: return "sample";
    case TimelinePoint::Kind::PreGc: return "before_gc";
    case TimelinePoint::Kind::Gc: return "gc";
    case TimelinePoint::Kind::End: return "end";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------------------
// Program validation

namespace {

[[noreturn]] void invalid(const std::string& why) { throw std::invalid_argument("invalid replay program: " + why); }

const char* kindName(ReplayOp::Kind k) {
  return k == ReplayOp::Alloc ? "alloc" : k == ReplayOp::Free ? "free" : "gc";
}

}  // namespace

// How far ahead validateProgram and the counting after a replay fetch the slot of an op: slots are reached at
// random, and the table of a trace with many live objects is larger than the caches.
constexpr size_t kSlotLookahead = 64;

uint64_t validateProgram(const ReplayProgram& pr) {
  const size_t nthreads = pr.threads.size();
  if (nthreads > 65536) invalid(fmt::format("{} threads (at most 65536)", nthreads));
  size_t total = 0;
  for (auto& s : pr.threads) total += s.size();
  if (pr.order.size() != total)
    invalid(fmt::format("order has {} entries but the thread streams hold {} ops", pr.order.size(), total));

  struct SlotState {
    uint64_t size = 0;  // of the object in the slot
    uint32_t seq = 0;
  };
  std::vector<SlotState> slots(pr.slots);  // (one record: one cache miss per op where two arrays took two)
  std::vector<size_t> pos(nthreads, 0);
  std::vector<uint32_t> threadGcs(nthreads, 0);
  uint64_t liveBytes = 0, peak = 0;  // in trace order
  uint32_t gcNext = 0, gcCur = 0;  // next barrier ordinal; the current barrier
  size_t gcCopies = 0;             // copies of the current barrier seen so far
  std::vector<size_t> ahead = detail::aheadCursor(pr.order, nthreads, kSlotLookahead);
  for (size_t i = 0; i < pr.order.size(); i++) {
    if (i + kSlotLookahead < pr.order.size()) {
      // The slot of an op further on (checked when its turn comes; here only a hint, for ops in range).
      const uint16_t u = pr.order[i + kSlotLookahead];
      if (u < nthreads && ahead[u] < pr.threads[u].size()) {
        const ReplayOp& next = pr.threads[u][ahead[u]++];
        if (next.kind() != ReplayOp::Gc && next.slot < pr.slots) __builtin_prefetch(&slots[next.slot], 1, 3);
      }
    }
    const uint16_t t = pr.order[i];
    if (t >= nthreads) invalid(fmt::format("order[{}] names thread {} of {}", i, t, nthreads));
    if (pos[t] >= pr.threads[t].size())
      invalid(fmt::format("order lists thread {} more often than its stream has ops", t));
    const size_t at = pos[t]++;
    const ReplayOp& op = pr.threads[t][at];
    auto where = [&] { return fmt::format("thread {} op {} (order index {})", t, at, i); };
    const bool inBarrier = gcCopies != 0 && gcCopies < nthreads;
    switch (op.kind()) {
      case ReplayOp::Alloc:
      case ReplayOp::Free: {
        if (inBarrier)
          invalid(fmt::format("{}: {} between the per-thread copies of gc barrier {}", where(), kindName(op.kind()), gcCur));
        if (op.slot >= pr.slots) invalid(fmt::format("{}: slot {} of {}", where(), op.slot, pr.slots));
        SlotState& st = slots[op.slot];
        uint32_t& s = st.seq;
        if (op.seq != s)
          invalid(fmt::format("{}: {} of slot {} expects sequence {} but in trace order the slot is at {}", where(),
                              kindName(op.kind()), op.slot, op.seq, s));
        const bool isLive = s & 1;
        if (op.kind() == ReplayOp::Alloc && isLive)
          invalid(fmt::format("{}: alloc into slot {} which still holds a live object", where(), op.slot));
        if (op.kind() == ReplayOp::Free && !isLive)
          invalid(fmt::format("{}: free of slot {} which holds no live object", where(), op.slot));
        if (op.kind() == ReplayOp::Alloc) {
          st.size = op.size();
          liveBytes += st.size;
          peak = std::max(peak, liveBytes);
        } else if (op.size() != st.size) {
          invalid(fmt::format("{}: free of {} bytes from slot {} which holds {}", where(), op.size(), op.slot,
                              st.size));
        } else {
          liveBytes -= st.size;
        }
        if (s == UINT32_MAX) invalid(fmt::format("{}: slot {} sequence overflows", where(), op.slot));
        s++;
        break;
      }
      case ReplayOp::Gc: {
        if (!inBarrier) {
          if (op.seq != gcNext) invalid(fmt::format("{}: gc barrier {} where {} was expected", where(), op.seq, gcNext));
          gcCur = op.seq;
          gcCopies = 0;
          gcNext++;
        } else if (op.seq != gcCur) {
          invalid(fmt::format("{}: gc barrier {} interleaved with barrier {}", where(), op.seq, gcCur));
        }
        if (threadGcs[t] != op.seq)
          invalid(fmt::format("{}: thread {} reaches gc barrier {} twice or out of order", where(), t, op.seq));
        threadGcs[t]++;
        gcCopies++;
        break;
      }
      default:
        invalid(fmt::format("{}: unknown op kind {}", where(), int(op.kind())));
    }
  }
  if (gcCopies != 0 && gcCopies < nthreads)
    invalid(fmt::format("gc barrier {} is missing from {} thread(s)", gcCur, nthreads - gcCopies));
  if (gcNext != pr.gcBarriers)
    invalid(fmt::format("the program declares {} gc barriers but its streams hold {}", pr.gcBarriers, gcNext));
  return peak;
}

int effectiveProcs(const ReplayProgram& program, const Options& opt) {
  if (opt.procs < 0) throw std::invalid_argument("--procs must be at least 1");
  if (opt.procs > kMaxProcs)
    throw std::invalid_argument(fmt::format("{} Ps requested; at most {} are supported", opt.procs, kMaxProcs));
  // By default one P per trace thread, up to the maximum; further threads share Ps (thread t runs on P t mod N).
  return opt.procs > 0 ? opt.procs : int(std::clamp<size_t>(program.threads.size(), 1, kMaxProcs));
}

// ---------------------------------------------------------------------------------------------------------
// The engine's slow paths

namespace detail {

namespace {
const std::atomic<bool> kNeverCancelled{false};
}  // namespace


// Raises each figure of peak to v's where v's is higher.
static void notePeak(std::optional<HeapFigures>& peak, const std::optional<HeapFigures>& v) {
  if (!v) return;
  if (!peak) {
    peak = v;
    return;
  }
  HeapFigures& k = *peak;
  k.heapAlloc = std::max(k.heapAlloc, v->heapAlloc);
  k.heapInuse = std::max(k.heapInuse, v->heapInuse);
  k.heapIdle = std::max(k.heapIdle, v->heapIdle);
  k.heapReleased = std::max(k.heapReleased, v->heapReleased);
  k.heapSys = std::max(k.heapSys, v->heapSys);
  k.heapObjects = std::max(k.heapObjects, v->heapObjects);
}

uint64_t nowNs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

SlotTable::SlotTable(size_t n) { reserve(n); }

void SlotTable::reserve(size_t n) {
  if (n <= n_ && slots_) return;
  const size_t bytes = (std::max<size_t>(n, 1) * sizeof(Slot) + kHugePage - 1) & ~(kHugePage - 1);
  void* p = slots_ ? ::mremap(slots_, bytes_, bytes, MREMAP_MAYMOVE)
                   : ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: no error if the kernel does not do huge pages
  slots_ = static_cast<Slot*>(p);
  bytes_ = bytes;
  // (The new slots are fresh anonymous memory, all zero: sequence 0 and no object, as Slot{} is.)
  n_ = bytes / sizeof(Slot);
}

SlotTable::~SlotTable() {
  if (slots_) ::munmap(slots_, bytes_);
}

Run::Run(const ReplayProgram& first, Backend& b, const Options& o, int procs)
    : prog(&first),
      backend(b),
      opt(o),
      nprocs(procs),
      touchMode(o.touch),
      cancel(o.cancel ? o.cancel : &kNeverCancelled),
      slots(std::max<size_t>(1, first.slots)),  // at least one: prefetchSlot reads slot 0 for gc ops
      ps(new PState[size_t(procs)]),
      pThreads(size_t(procs)),
      schedules(size_t(procs)),
      classTable(core::SizeClassTable::go119()) {
  for (size_t t = 0; t < first.threads.size(); t++) pThreads[t % size_t(procs)].push_back(uint32_t(t));
  spinAtBarriers = !o.deterministic && unsigned(procs) <= std::max(1u, std::thread::hardware_concurrency());
}

void Run::startLatency() {
  if (opt.latencySampleEvery == 0) return;
  latency.reset(new LatencyRecorder[size_t(nprocs)]);
  for (int p = 0; p < nprocs; p++) {
    LatencyRecorder& rec = latency[size_t(p)];
    rec.meanGap = opt.latencySampleEvery;
    rec.rng = 0x9E3779B9u ^ (uint32_t(p) * 0x85EBCA6Bu + 1);  // never 0 (xorshift's fixed point)
    ps[size_t(p)].sampleLeft = rec.nextGap();
  }
  latencyOverheadTicks = timerOverheadTicks();
}

void Run::setWindow(const ReplayProgram& w) {
  prog = &w;
  slots.reserve(w.slots);
  done.assign(w.threads.size(), 0);
  if (opt.deterministic) return;
  for (int p = 0; p < nprocs; p++) {
    auto& sched = schedules[size_t(p)];
    sched.clear();
    if (pThreads[size_t(p)].size() < 2) continue;
    size_t n = 0;
    for (uint32_t t : pThreads[size_t(p)]) n += w.threads[t].size();
    sched.reserve(n);
  }
  bool anyShared = false;
  for (auto& s : schedules) anyShared |= s.capacity() > 0;
  if (anyShared)
    for (uint16_t t : w.order)
      if (pThreads[t % size_t(nprocs)].size() > 1) schedules[t % size_t(nprocs)].push_back(t);
}

uint64_t Run::eventsDone() const {
  uint64_t ops = 0;
  if (opt.deterministic) {
    ops = detIndex + (detBeforeOp ? 0 : 1);
  } else {
    for (int p = 0; p < nprocs; p++) ops += ps[size_t(p)].progress.load(std::memory_order_relaxed);
  }
  const uint64_t copies = gcCopiesPassed.load(std::memory_order_relaxed);
  return ops > copies ? ops - copies : 0;
}

void Run::runGc(bool forced) {
  gcPointAfterOp();  // a pending one first: the heap it reads is the one before this cycle
  TimelinePoint before;
  before.tMs = double(nowNs() - startNs) / 1e6;
  before.events = eventsDone();
  before.heap = backend.heapFigures();
  if (before.heap) before.rssBytes = currentRssBytes();
  backend.gc(forced);
  detMarkEnd = ~uint64_t{0};  // whatever ended the mark, it is over
  if (forced && !backend.allocatorStatsSource().empty())  // (the event index is the OpCounter's)
    allocatorAtGc.push_back(AllocatorStatsAtGc{0, gcEvents, backend.allocatorStats()});
  if (forced) {
    gcEvents++;
    // The other threads' copies of this gc event are not events of their own (eventsDone).
    gcCopiesPassed.fetch_add(prog->threads.empty() ? 0 : prog->threads.size() - 1, std::memory_order_relaxed);
  } else {
    pacerStops++;
  }
  gcEnds.emplace_back(before.events, forced);
  notePeak(heapPeak, before.heap);
  if (before.heap) {  // the heap just before the cycle: where it peaks
    before.kind = TimelinePoint::Kind::PreGc;
    gcPoints.push_back(before);
  }
  gcPointPending = true;
  if (!detBeforeOp) recordGcPoint(before.events);
}

// The heap after a cycle. A cycle that ended before op detIndex (gc_mark_events: inside that allocation, as the
// runtime's assist ends it) is read once that allocation is done, where the runtime's replay reads its own
// (that allocation's refill may sweep much of a small heap: Go's proportional sweep leaves it little room).
void Run::gcPointAfterOp() {
  if (gcPointPending) recordGcPoint(eventsDone());
}

void Run::recordGcPoint(uint64_t events) {
  gcPointPending = false;
  TimelinePoint pt;
  pt.tMs = double(nowNs() - startNs) / 1e6;
  pt.events = events;
  pt.rssBytes = currentRssBytes();
  pt.heap = backend.heapFigures();
  pt.kind = TimelinePoint::Kind::Gc;
  notePeak(heapPeak, pt.heap);
  gcPoints.push_back(pt);
}

// The pacer started a concurrent mark (recorded: events done, exact in deterministic mode, the Ps' published
// progress otherwise), or wants its stop-the-world cycle.
void Run::pacerAttention(bool concurrent) {
  if (backend.takeMarkStart()) {
    uint64_t at = detIndex + 1;
    if (concurrent) {
      at = 0;
      for (int p = 0; p < nprocs; p++) at += ps[size_t(p)].progress.load(std::memory_order_relaxed);
    }
    const uint64_t events = eventsDone();
    std::lock_guard lk(mu);
    markStarts.push_back(at);
    markStartEvents.push_back(events);
    if (const uint64_t n = concurrent ? 0 : backend.markBegan(at)) detMarkEnd = at + n;
  }
  if (!backend.gcRequested()) return;
  if (concurrent) requestStop();
  else runGc(false);
}

void Run::markSpent() {
  detMarkEnd = ~uint64_t{0};
  backend.markDone();
  detBeforeOp = true;  // the cycle ends before op detIndex
  pacerAttention(false);
  detBeforeOp = false;
}

void Run::sequenceError(const ReplayOp& op, uint32_t found) {
  fail(fmt::format("{} of slot {} expects sequence {} but the slot is at {} (corrupt program)",
                   kindName(op.kind()), op.slot, op.seq, found));
}

bool isLimitError(const std::exception& e) {
  return dynamic_cast<const core::HeapLimitError*>(&e) != nullptr || dynamic_cast<const MemoryLimitError*>(&e) != nullptr;
}

void Run::fail(const std::string& why, bool limit) {
  {
    std::lock_guard lk(mu);
    if (error.empty()) error = why, limitExceeded = limit;
    abort.store(true, std::memory_order_relaxed);
  }
  cv.notify_all();
}

bool Run::attend(int p) {
  if (aborting()) return false;
  if (stop.load(std::memory_order_relaxed)) parkForStop(p);
  return !aborting();
}

void Run::parkForStop(int p) {
  const uint64_t t0 = nowNs();
  {
    std::unique_lock lk(mu);
    if (stop.load(std::memory_order_relaxed)) {
      const uint64_t epoch = stopEpoch.load(std::memory_order_relaxed);
      parked++;
      stopParked++;
      tryComplete();
      awaitRelease(lk, [&] { return stopEpoch.load(std::memory_order_acquire) != epoch; });
    }
  }
  ps[size_t(p)].barrierNs += nowNs() - t0;
}

template <class Released>
void Run::awaitRelease(std::unique_lock<std::mutex>& lk, Released released) {
  if (released() || aborting()) return;
  if (spinAtBarriers) {
    lk.unlock();
    const uint64_t until = nowNs() + 200'000;  // 200 us
    for (uint32_t i = 1; !released() && !aborting(); i++) {
      _mm_pause();
      if (i % 64 == 0 && nowNs() > until) break;
    }
    lk.lock();
  }
  while (!released() && !aborting()) cv.wait_for(lk, std::chrono::milliseconds(5));
}

bool Run::barrier(int p, uint32_t ordinal) {
  const uint64_t t0 = nowNs();
  {
    std::unique_lock lk(mu);
    parked++;
    gcParked++;
    tryComplete();
    awaitRelease(lk, [&] { return gcDone.load(std::memory_order_acquire) > ordinal; });
  }
  ps[size_t(p)].barrierNs += nowNs() - t0;
  return !aborting();
}

void Run::finish(int) {
  std::lock_guard lk(mu);
  active--;
  tryComplete();
}

// The last worker to park (or to finish) runs the pending cycle and releases the parked workers. Released
// workers are taken off `parked` here, so that a worker arriving next never counts one that is running.
void Run::tryComplete() {
  if (aborting()) {
    cv.notify_all();
    return;
  }
  if (active == 0 || parked < active) return;
  try {
    if (stopParked > 0 || stop.load(std::memory_order_relaxed)) {
      if (backend.gcRequested()) runGc(false);
      stop.store(false, std::memory_order_relaxed);
      stopEpoch.fetch_add(1, std::memory_order_release);
      parked -= stopParked;
      stopParked = 0;
      cv.notify_all();
    }
    if (gcParked > 0 && gcParked == active) {
      runGc(true);
      gcDone.fetch_add(1, std::memory_order_release);
      parked -= gcParked;
      gcParked = 0;
      cv.notify_all();
    }
  } catch (const std::exception& e) {
    if (error.empty()) error = backend.name() + " backend, GC cycle: " + e.what(), limitExceeded = isLimitError(e);
    abort.store(true, std::memory_order_relaxed);
    cv.notify_all();
  }
}

bool Run::waitSeq(Slot& s, uint32_t want, int p) {
  PState& st = ps[size_t(p)];
  st.depWaits++;
  const uint64_t t0 = nowNs(), b0 = st.barrierNs;
  for (uint32_t spin = 0;; spin++) {
    if (s.seq.load(std::memory_order_acquire) == want) break;
    if (attention() && !attend(p)) return false;
    if (spin < 64) _mm_pause();
    else if (spin < 64 + 256) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  st.depWaitNs += (nowNs() - t0) - (st.barrierNs - b0);
  return true;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------------------
// run()

namespace {

// Samples RSS every rssIntervalMs and reports progress every progressIntervalMs, on a thread of its own.
class Sampler {
 public:
  Sampler(detail::Run& r, const Options& opt, uint64_t totalOps) : r_(r), opt_(opt), total_(totalOps) {
    if (opt.rssIntervalMs > 0 || opt.onProgress) thread_ = std::thread([this] { loop(); });
  }
  ~Sampler() { stop(); }
  void stop() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  std::vector<TimelinePoint>& points() { return points_; }
  uint64_t done() const {
    uint64_t n = 0;
    for (int p = 0; p < r_.nprocs; p++) n += r_.ps[size_t(p)].progress.load(std::memory_order_relaxed);
    return n;
  }
  void progress() {
    if (!opt_.onProgress) return;
    try {
      opt_.onProgress(Progress{done(), total_, double(detail::nowNs() - r_.startNs) / 1e9});
    } catch (...) {
    }
  }

 private:
  void loop() {
    using namespace std::chrono;
    auto start = steady_clock::now();
    auto nextRss = start + milliseconds(opt_.rssIntervalMs);
    auto nextProgress = start + milliseconds(std::max(1u, opt_.progressIntervalMs));
    std::unique_lock lk(mu_);
    while (!done_) {
      auto wake = nextProgress;
      if (opt_.rssIntervalMs > 0) wake = opt_.onProgress ? std::min(nextRss, nextProgress) : nextRss;
      cv_.wait_until(lk, wake, [this] { return done_; });
      if (done_) break;
      auto now = steady_clock::now();
      if (opt_.rssIntervalMs > 0 && now >= nextRss) {
        TimelinePoint pt;
        pt.tMs = double(detail::nowNs() - r_.startNs) / 1e6;
        pt.rssBytes = currentRssBytes();
        const uint64_t copies = r_.gcCopiesPassed.load(std::memory_order_relaxed), ops = done();
        pt.events = ops > copies ? ops - copies : 0;
        points_.push_back(pt);
        while (nextRss <= now) nextRss += milliseconds(opt_.rssIntervalMs);
      }
      if (opt_.onProgress && now >= nextProgress) {
        progress();
        while (nextProgress <= now) nextProgress += milliseconds(std::max(1u, opt_.progressIntervalMs));
      }
    }
  }

  detail::Run& r_;
  const Options& opt_;
  uint64_t total_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<TimelinePoint> points_;
  std::thread thread_;
};

}  // namespace

TraceInfo traceInfoOf(const ReplayProgram& prog) {
  TraceInfo t{prog.path,       prog.digest,     prog.events,       prog.slots,
              prog.gcBarriers, prog.liveAtEnd, prog.skippedFrees, prog.implicitFrees,
              uint32_t(prog.threads.size())};
  t.tsBackwards = prog.tsBackwards;
  t.warnings = prog.warnings;
  return t;
}

namespace {

// Refuses a program (or a streamed program up to a window's end) whose objects would pass the memory limit.
void checkPeakLive(const Options& opt, uint64_t peakLive) {
  if (opt.memoryLimit.bytes != 0 && peakLive > opt.memoryLimit.bytes)
    throw MemoryLimitError(opt.memoryLimit.exceeded(
        fmt::format("the trace holds up to {} live at once", bytesText(peakLive))));
}

// Hands out a streamed program's windows from a thread of its own, one window ahead of the replay, so that
// loading window k+1 overlaps replaying window k. Its errors are rethrown by take().
class WindowProducer {
 public:
  explicit WindowProducer(traces::ProgramStream& s) : stream_(s), thread_([this] { loop(); }) {}
  ~WindowProducer() { stop(); }
  // Stops loading; returns the windows loaded and not taken, in trace order (with a window cut short by
  // Ctrl-C: the ops loaded before it).
  std::vector<std::unique_ptr<ReplayProgram>> stop() {
    {
      std::lock_guard lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::vector<std::unique_ptr<ReplayProgram>> out;
    if (ready_) out.push_back(std::move(ready_));
    if (extra_) out.push_back(std::move(extra_));
    return out;
  }
  // The next window, or null at the end of the trace.
  std::unique_ptr<ReplayProgram> take() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [this] { return ready_ || ended_ || error_; });
    if (ready_) {
      auto w = std::move(ready_);
      cv_.notify_all();
      return w;
    }
    if (error_) std::rethrow_exception(error_);
    return nullptr;
  }

 private:
  void loop() {
    try {
      for (;;) {
        auto w = std::make_unique<ReplayProgram>();
        const bool more = stream_.next(*w);
        std::unique_lock lk(mu_);
        if (!more) {
          ended_ = true;
          break;
        }
        cv_.wait(lk, [this] { return !ready_ || quit_; });
        if (quit_) {
          extra_ = std::move(w);
          return;
        }
        ready_ = std::move(w);
        cv_.notify_all();
      }
    } catch (const traces::LoadCancelled&) {
      auto w = std::make_unique<ReplayProgram>();
      stream_.takeRest(*w);  // (cancelled between two reads: the ops loaded so far form a window)
      std::lock_guard lk(mu_);
      extra_ = std::move(w);
      error_ = std::current_exception();
    } catch (...) {
      std::lock_guard lk(mu_);
      error_ = std::current_exception();
    }
    cv_.notify_all();
  }

  traces::ProgramStream& stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<ReplayProgram> ready_, extra_;
  bool ended_ = false, quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// What the trace determines, counted after each window from the ops each thread got through; and, when no
// loader is at hand (a whole program), the size of each slot's last object allocated, for the live objects at
// the end (a slot holds one when its sequence is odd: alloc and free alternate on a slot, each adding one).
class OpCounter {
 public:
  // gcIndex: also note each gc event's index in the trace (allocator_stats), which only a pass over the ops has.
  OpCounter(Result& res, const detail::Run& r, bool harnessClasses, bool trackSizes, bool gcIndex)
      : res_(res), r_(r), classes_(harnessClasses), trackSizes_(trackSizes), gcIndex_(gcIndex) {
    if (classes_) res_.classCounts.assign(r.classTable.numClasses(), ClassCount{});
  }
  // The ops of a window that were done: from the loader's counts when every op was (and sizes are not
  // tracked), else by a pass over the ops.
  void window(const ReplayProgram& w) {
    bool all = w.counts.valid && !trackSizes_ && !gcIndex_ && w.counts.allocs.size() == w.threads.size();
    for (size_t t = 0; all && t < w.threads.size(); t++) all = r_.done[t] >= w.threads[t].size();
    if (all) return counted(w.counts);
    walk(w);
  }
  // The ops of w (and then of the windows after it) not done: with the loader's last size of each slot, the
  // size of each object the replay left live (what the first not-done free of its slot and sequence carries,
  // else the loader's size).
  void notDone(const ReplayProgram& w, bool partial) {
    for (size_t t = 0; t < w.threads.size(); t++) {
      for (size_t i = partial ? r_.done[t] : 0; i < w.threads[t].size(); i++) {
        const traces::ReplayOp& op = w.threads[t][i];
        if (op.kind() != traces::ReplayOp::Free || op.slot >= r_.slots.size()) continue;
        if (r_.slots[op.slot].seq.load(std::memory_order_relaxed) == op.seq) overrides_[op.slot] = op.size();
      }
    }
  }
  uint64_t bytesFreed() const { return bytesFreed_; }
  // The index in the trace of each gc event done, by ordinal (with gcIndex).
  const std::vector<uint64_t>& gcEventIndex() const { return gcIndexes_; }
  // The objects live at the end, by slot (sizes from the ops, or from slotSize and notDone()).
  LiveObjects live(const std::function<uint64_t(uint32_t)>& slotSize) const {
    LiveObjects out;
    for (size_t i = 0; i < r_.slots.size(); i++) {
      if (!(r_.slots[i].seq.load(std::memory_order_relaxed) & 1)) continue;
      uint64_t size;
      if (trackSizes_) size = i < sizes_.size() ? sizes_[i] : 0;
      else if (auto o = overrides_.find(uint32_t(i)); o != overrides_.end()) size = o->second;
      else size = slotSize(uint32_t(i));
      out.emplace_back(r_.slots[i].ptr, size);
    }
    return out;
  }

 private:
  void counted(const traces::WindowCounts& c) {
    for (size_t t = 0; t < c.allocs.size(); t++) {
      ProcStats& out = res_.procStats[t % size_t(r_.nprocs)];
      out.allocs += c.allocs[t];
      out.frees += c.frees[t];
    }
    res_.bytesRequested += c.bytesRequested;
    res_.zeroSizeAllocs += c.zeroSizeAllocs;
    bytesFreed_ += c.bytesFreed;
    if (!classes_) return;
    for (const auto& z : c.bySize) {
      ClassCount& k = res_.classCounts[r_.classOf(z.size)];
      k.allocs += z.allocs;
      k.bytesRequested += z.allocs * z.size;
      k.frees += z.frees;
    }
    ClassCount& large = res_.classCounts[r_.classOf(traces::WindowCounts::kBySizeMax + 1)];
    large.allocs += c.largeAllocs;
    large.bytesRequested += c.largeBytes;
    large.frees += c.largeFrees;
  }
  // In the window's trace order (a slot's ops are in it in their sequence's order), the ops that were done.
  void walk(const ReplayProgram& w) {
    if (trackSizes_ && sizes_.size() < w.slots) sizes_.resize(w.slots);
    std::vector<size_t> pos(w.threads.size(), 0);
    for (const uint16_t t : w.order) {
      const size_t i = pos[t]++;
      if (i >= r_.done[t]) continue;
      ProcStats& out = res_.procStats[t % size_t(r_.nprocs)];
      const traces::ReplayOp& op = w.threads[t][i];
      const uint64_t size = op.size();
      opsBefore_ += op.kind() != traces::ReplayOp::Gc;
      if (op.kind() == traces::ReplayOp::Alloc) {
        out.allocs++;
        res_.bytesRequested += size;
        res_.zeroSizeAllocs += size == 0;
        if (classes_ && size != 0) {
          ClassCount& c = res_.classCounts[r_.classOf(size)];
          c.allocs++;
          c.bytesRequested += size;
        }
        if (trackSizes_) sizes_[op.slot] = size;
      } else if (op.kind() == traces::ReplayOp::Gc) {
        if (gcIndex_ && op.seq == gcIndexes_.size()) gcIndexes_.push_back(opsBefore_ + op.seq);  // (its first copy)
      } else if (op.kind() == traces::ReplayOp::Free) {
        out.frees++;
        bytesFreed_ += size;
        if (classes_ && size != 0) res_.classCounts[r_.classOf(size)].frees++;
      }
    }
  }
  Result& res_;
  const detail::Run& r_;
  const bool classes_, trackSizes_, gcIndex_;
  std::vector<uint64_t> sizes_;
  uint64_t opsBefore_ = 0;            // allocs and frees done so far, in trace order (with gcIndex)
  std::vector<uint64_t> gcIndexes_;  // gcEventIndex()
  std::unordered_map<uint32_t, uint64_t> overrides_;
  uint64_t bytesFreed_ = 0;
};

// Gives the backend's GC cycles (describe) the events done when each ended and when its mark began. Each runGc
// completed one cycle, or two for a forced one during a mark (the mark's own cycle first); each concurrent mark
// the run noted is the next concurrent cycle's. A mark at the stop began where the cycle ended.
void attachCycleEvents(Result& res, const detail::Run& r) {
  std::vector<GcCycleRecord>& cycles = res.gcCycles;
  size_t j = 0, m = 0;
  for (const auto& [events, forced] : r.gcEnds) {
    if (forced && j + 1 < cycles.size() && !cycles[j].forced) cycles[j++].endEvent = events;
    if (j < cycles.size()) cycles[j++].endEvent = events;
  }
  for (GcCycleRecord& c : cycles) {
    if (!c.concurrent) c.markStartEvent = c.endEvent;
    else if (m < r.markStartEvents.size()) c.markStartEvent = r.markStartEvents[m++];
  }
}

static_assert(traces::WindowCounts::kBySizeMax == core::kMaxSmallSize, "the loader counts Go's small sizes one by one");

// Where a streamed replay's windows after the first come from.
struct WindowSource {
  virtual ~WindowSource() = default;
  // The next window, or null at the end of the trace.
  virtual std::unique_ptr<ReplayProgram> next() = 0;
  // Stops loading; the windows loaded but not handed out, in trace order.
  virtual std::vector<std::unique_ptr<ReplayProgram>> rest() = 0;
  // After rest(): the loader's size of the last object allocated in slot.
  virtual uint64_t slotSize(uint32_t slot) const = 0;
};

// Replays first and then, while src gives them, further windows of the same program (each replayed by every P
// before any starts the next: the world is in one state at a window's end, whatever the backend), and fills
// everything in Result but the trace's description.
Result replayWindows(const ReplayProgram& first, WindowSource* src, Backend& backend, const Options& opt,
                     uint64_t totalOps) {
  const int nprocs = effectiveProcs(first, opt);
  if (backend.needsDeterministic() && !opt.deterministic)
    throw std::invalid_argument(Backend::kNeedsDeterministic);
  detail::Run r(first, backend, opt, nprocs);

  Result res;
  res.backend = backend.name();
  res.settings = backend.settings();
  res.procs = nprocs;
  res.deterministic = opt.deterministic;
  res.touch = opt.touch;
  res.rssIntervalMs = opt.rssIntervalMs;
  res.classSizes.clear();
  for (auto& c : r.classTable.classes()) res.classSizes.push_back(c.size);
  res.procStats.resize(size_t(nprocs));
  OpCounter counter(res, r, backend.harnessClassCounts(), src == nullptr, !backend.allocatorStatsSource().empty());

  res.peakRssSinceStart = resetPeakRss();
  res.rssStartBytes = currentRssBytes();
  TimelinePoint startPoint;
  startPoint.rssBytes = res.rssStartBytes;
  startPoint.heap = backend.heapFigures();
  startPoint.kind = TimelinePoint::Kind::Start;
  detail::notePeak(r.heapPeak, startPoint.heap);

  r.startLatency();
  r.startNs = detail::nowNs();
  r.startTicks = detail::ticksNow();
  Sampler sampler(r, opt, totalOps);
  std::unique_ptr<ReplayProgram> later;  // the window being replayed, after the first
  const ReplayProgram* stoppedIn = nullptr;  // the window the replay stopped in, when it did
  for (const ReplayProgram* w = &first;;) {
    r.setWindow(*w);
    if (opt.deterministic) {
      backend.runDeterministic(r);
    } else {
      r.active = nprocs;
      std::vector<std::thread> workers;
      workers.reserve(size_t(nprocs));
      try {
        for (int p = 0; p < nprocs; p++)
          workers.emplace_back([&r, &backend, p] {
            const uint64_t t0 = detail::nowNs();
            backend.runWorker(r, p);
            r.ps[size_t(p)].lifeNs += detail::nowNs() - t0;
          });
      } catch (const std::system_error& e) {
        // Could not start every worker: let the started ones finish at once.
        r.fail(std::string("cannot start worker threads: ") + e.what());
        for (size_t p = workers.size(); p < size_t(nprocs); p++) r.finish(int(p));
      }
      for (auto& t : workers) t.join();
    }
    counter.window(*w);
    r.windowBase += w->order.size();
    if (r.aborting()) stoppedIn = w;
    if (r.aborting() || !src) break;
    later.reset();  // (the window's memory goes before the next one is taken)
    later = src->next();
    if (!later) break;
    checkPeakLive(opt, later->peakLiveBytes);
    w = later.get();
  }
  const uint64_t endNs = detail::nowNs();
  const uint64_t endTicks = detail::ticksNow();
  sampler.stop();
  sampler.progress();

  // The world is stopped from here on.
  res.wallSeconds = double(endNs - r.startNs) / 1e9;
  res.interrupted = r.cancelled();
  for (int p = 0; p < nprocs; p++) {
    const detail::PState& s = r.ps[size_t(p)];
    ProcStats& out = res.procStats[size_t(p)];
    out.threads = r.pThreads[size_t(p)];
    if (first.threadIds.size() == first.threads.size())  // the trace's own thread ids (the loader makes them dense)
      for (uint32_t& t : out.threads) t = first.threadIds[t];
    out.dependencyWaits = s.depWaits;
    if (!opt.deterministic) {
      out.timed = true;
      const uint64_t waits = std::min(s.lifeNs, s.barrierNs + s.depWaitNs);
      out.busySeconds = double(s.lifeNs - waits) / 1e9;
      out.barrierSeconds = double(s.barrierNs) / 1e9;
      out.dependencySeconds = double(s.depWaitNs) / 1e9;
    }
    res.allocs += out.allocs;
    res.frees += out.frees;
  }
  res.gcEvents = r.gcEvents;
  res.pacerStops = r.pacerStops;
  res.pacerGcStarts = r.markStarts;
  res.events = res.allocs + res.frees + res.gcEvents;
  res.liveObjects = res.allocs - res.frees;
  res.liveBytesRequested = res.bytesRequested - counter.bytesFreed();
  if (opt.deterministic) res.addressDigest = r.addrHash;

  TimelinePoint endPoint;
  endPoint.tMs = double(endNs - r.startNs) / 1e6;
  endPoint.rssBytes = res.rssEndBytes = currentRssBytes();
  endPoint.heap = res.heapFinal = backend.heapFigures();
  endPoint.kind = TimelinePoint::Kind::End;
  endPoint.events = res.events;
  res.peakRssBytes = std::max(peakRssBytes(), res.rssEndBytes);
  detail::notePeak(r.heapPeak, endPoint.heap);
  res.heapPeak = r.heapPeak;

  auto& tl = res.timeline;
  tl.push_back(startPoint);
  tl.insert(tl.end(), sampler.points().begin(), sampler.points().end());
  tl.insert(tl.end(), r.gcPoints.begin(), r.gcPoints.end());
  tl.push_back(endPoint);
  std::stable_sort(tl.begin() + 1, tl.end() - 1, [](auto& a, auto& b) { return a.tMs < b.tMs; });

  std::function<uint64_t(uint32_t)> slotSize;
  if (src) {
    if (stoppedIn) counter.notDone(*stoppedIn, true);
    for (const auto& w : src->rest()) counter.notDone(*w, false);
    slotSize = [src](uint32_t i) { return src->slotSize(i); };
  }
  const LiveObjects live = counter.live(slotSize);
  std::string error;
  bool limit = false;
  {
    std::lock_guard lk(r.mu);
    error = r.error;
    limit = r.limitExceeded;
  }
  if (error.empty()) backend.describe(res, live, opt.verify);
  attachCycleEvents(res, r);
  if (r.latency)
    res.latency = detail::summarizeLatency(r.latency.get(), nprocs, opt.latencySampleEvery, r.latencyOverheadTicks,
                                           endNs - r.startNs, endTicks - r.startTicks);
  if (const std::string source = backend.allocatorStatsSource(); !source.empty()) {
    AllocatorStats& a = res.allocatorStats.emplace();
    a.source = source;
    a.atEnd = backend.allocatorStats();
    a.atGc = std::move(r.allocatorAtGc);
    for (AllocatorStatsAtGc& g : a.atGc)
      if (g.gc < counter.gcEventIndex().size()) g.event = counter.gcEventIndex()[g.gc];
  }
  backend.releaseLive(live);
  if (!error.empty() && limit) throw MemoryLimitError(error);
  if (!error.empty()) throw std::runtime_error(error);
  return res;
}

}  // namespace

Result run(const ReplayProgram& prog, Backend& backend, const Options& opt) {
  checkPeakLive(opt, validateProgram(prog));
  Result res = replayWindows(prog, nullptr, backend, opt, prog.order.size());  // (sizes from the ops)
  res.trace = traceInfoOf(prog);
  return res;
}

Result runStream(traces::ProgramStream& stream, const ReplayProgram& first, Backend& backend, const Options& opt,
                 uint64_t totalEvents) {
  checkPeakLive(opt, first.peakLiveBytes);
  struct Source : WindowSource {
    explicit Source(traces::ProgramStream& s) : stream(s) {}
    std::unique_ptr<ReplayProgram> next() override {
      if (!producer) producer.emplace(stream);
      try {
        return producer->take();
      } catch (const traces::LoadCancelled&) {
        return nullptr;  // Ctrl-C: the replay stops there, marked interrupted
      }
    }
    std::vector<std::unique_ptr<ReplayProgram>> rest() override {
      return producer ? producer->stop() : std::vector<std::unique_ptr<ReplayProgram>>{};
    }
    uint64_t slotSize(uint32_t slot) const override { return stream.slotSize(slot); }
    traces::ProgramStream& stream;
    std::optional<WindowProducer> producer;
  } source(stream);
  Result res = replayWindows(first, &source, backend, opt, totalEvents);
  source.producer.reset();
  // (Interrupted: the events read so far, which may be more than the replay reached.)
  ReplayProgram summary = stream.summary();
  summary.threads.resize(first.threads.size());  // (the thread count: the windows held the ops)
  res.trace = traceInfoOf(summary);
  return res;
}

}  // namespace gomalloc::replay
