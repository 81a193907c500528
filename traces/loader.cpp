#include "traces/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <utility>

#include "traces/chunked.h"
#include "traces/idmap.h"

namespace gomalloc::traces {

using detail::ChunkList;
using detail::IdMap;
using detail::SlotMap;

// A slot whose sequence reaches this is not reused (alloc and free add 2, an implicit free 1 more).
constexpr uint32_t kSeqRetire = ~uint32_t{0} - 4;

struct ProgramBuilder::Impl {
  std::string path;
  Options opts;
  SlotMap live;
  struct Slot {
    uint64_t size = 0;        // of its last object (frees carry it)
    uint32_t seq = 0;         // ops done on it
    uint16_t lastThread = 0;  // thread of its last op
  };
  std::vector<Slot> slot;  // per slot, one 16-byte record: one cache miss where three arrays took three
  // Freed slots, for reuse. A thread first takes a slot freed by another thread long enough ago (kReuseAge
  // ops) that replay will almost never wait for that free; then its own freed slots, last-in first-out (no
  // wait: the same thread freed it); then a new slot. A slot is in both lists; an entry whose recorded
  // sequence no longer matches the slot's was taken through the other list and is skipped.
  static constexpr uint64_t kReuseAge = 1 << 14;
  struct Freed {
    uint32_t slot, seq;
    uint64_t at;
  };
  std::vector<std::vector<Freed>> ownFree;  // per stream
  std::vector<size_t> ownCompactAt;         // per stream: the size at which its list drops stale entries
  std::deque<Freed> aged;                   // every free, in trace order
  uint64_t ops = 0;
  uint32_t slots = 0;
  std::vector<int32_t> streamOf;    // trace thread id -> stream (first-appearance order), -1 none; grows
  std::vector<uint16_t> rawIds;     // stream -> trace thread id
  std::vector<ChunkList<ReplayOp>> streams;
  ChunkList<uint16_t> order;        // per non-gc op: its stream
  std::vector<uint64_t> gcAt;       // per gc since the last window: order.size() when it happened
  uint32_t gcBase = 0;              // gc events in earlier windows (the ordinal of gcAt[0])
  bool frozen = false;              // the thread set is fixed (streams numbered by thread id)
  std::vector<uint32_t> byId;       // frozen: dense thread -> stream
  std::vector<uint16_t> dense;      // frozen: stream -> dense thread
  const Event* cur = nullptr;       // the event being added, and its index (for NewThreadError)
  uint64_t curIndex = 0;
  uint64_t liveBytes = 0, peakLive = 0;  // requested bytes live, in trace order
  // The ops' counts since the last window (WindowCounts), per stream where per thread.
  std::vector<uint64_t> cAllocs, cFrees;
  WindowCounts counts;                                   // (its per-thread and per-size parts unused)
  std::vector<std::pair<uint64_t, uint64_t>> bySize;     // size -> allocs, frees (sizes 1..kBySizeMax)
  std::vector<uint32_t> sizesSeen;                       // sizes with a non-zero bySize entry
  EventDigest digest;
  uint64_t events = 0, skippedFrees = 0, implicitFrees = 0;
  std::string firstSkipped, firstImplicit;

  std::string where(const Event& e, uint64_t index) const {
    Where w;
    w.event = index, w.line = e.line, w.column = e.column;
    return w.str();
  }
  void problem(const Event& e, uint64_t index, const std::string& msg) {
    std::string full = path + ": " + where(e, index) + ": " + msg;
    if (opts.onError) opts.onError(full);
    else throw TraceError(full);
  }

  uint32_t stream(uint16_t t) {
    if (t >= streamOf.size()) [[unlikely]]
      streamOf.resize(size_t(t) + 1, -1);
    int32_t s = streamOf[t];
    if (s >= 0) return uint32_t(s);
    if (frozen) [[unlikely]] newThread(t);
    s = int32_t(rawIds.size());
    streamOf[t] = s;
    rawIds.push_back(t);
    ownFree.emplace_back();
    ownCompactAt.push_back(1024);
    cAllocs.push_back(0), cFrees.push_back(0);
    if (opts.keepOps) {
      streams.emplace_back();
      for (uint32_t g = 0; g < gcAt.size(); g++) streams.back().push_back(ReplayOp::gc(gcBase + g));
    }
    return uint32_t(s);
  }
  [[noreturn]] void newThread(uint16_t t) const {
    throw NewThreadError(fmt::format("{}: {}: thread {} first appears after the replay started with {} thread{} "
                                     "(the threads of the events read before it started)",
                                     path, where(*cur, curIndex), t, rawIds.size(), rawIds.size() == 1 ? "" : "s"));
  }
  // Fixes the thread set: the streams so far, numbered by thread id.
  void freeze() {
    if (frozen) return;
    if (rawIds.empty() && gcBase + gcAt.size() > 0) stream(0);  // gc events only: one thread reaches the barriers
    const size_t n = rawIds.size();
    byId.resize(n);
    for (uint32_t i = 0; i < n; i++) byId[i] = i;
    std::sort(byId.begin(), byId.end(), [&](uint32_t a, uint32_t b) { return rawIds[a] < rawIds[b]; });
    dense.resize(n);
    for (uint32_t d = 0; d < n; d++) dense[byId[d]] = uint16_t(d);
    frozen = true;
  }
  std::vector<uint16_t> sortedIds() const {
    std::vector<uint16_t> ids = rawIds;
    if (ids.empty() && gcBase + gcAt.size() > 0) ids.push_back(0);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  // Moves the ops since the last call into p: streams in dense order; the global order, each gc once per thread
  // in thread order.
  void takeOps(ReplayProgram& p) {
    const size_t n = rawIds.size();
    p.threads.clear();
    p.order.clear();
    if (opts.keepOps) {
      p.threads.resize(n);
      for (uint32_t d = 0; d < n; d++) streams[byId[d]].moveInto(p.threads[d]);
      p.order.reserve(order.size() + gcAt.size() * n);
      size_t g = 0, at = 0;
      auto gcs = [&](size_t upTo) {
        for (; g < gcAt.size() && gcAt[g] == upTo; g++)
          for (uint32_t d = 0; d < n; d++) p.order.push_back(uint16_t(d));
      };
      order.drain([&](const uint16_t* d, size_t k) {
        for (size_t i = 0; i < k; i++, at++) {
          gcs(at);
          p.order.push_back(dense[d[i]]);
        }
      });
      gcs(at);
      takeCounts(p.counts);
    }
    gcBase += uint32_t(gcAt.size());
    gcAt.clear();
  }
  // Counts an op (WindowCounts).
  std::pair<uint64_t, uint64_t>& sizeEntry(uint64_t size) {
    auto& e = bySize[size];
    if (e.first == 0 && e.second == 0) sizesSeen.push_back(uint32_t(size));
    return e;
  }
  void countAlloc(uint32_t s, uint64_t size) {
    cAllocs[s]++;
    counts.bytesRequested += size;
    if (size == 0) counts.zeroSizeAllocs++;
    else if (size <= WindowCounts::kBySizeMax) sizeEntry(size).first++;
    else counts.largeAllocs++, counts.largeBytes += size;
  }
  void countFree(uint32_t s, uint64_t size) {
    cFrees[s]++;
    counts.bytesFreed += size;
    if (size == 0) return;
    if (size <= WindowCounts::kBySizeMax) sizeEntry(size).second++;
    else counts.largeFrees++;
  }
  // Moves the counts since the last call into c (frozen: dense thread numbers).
  void takeCounts(WindowCounts& c) {
    const size_t n = rawIds.size();
    c = counts;
    c.valid = true;
    c.allocs.assign(n, 0);
    c.frees.assign(n, 0);
    for (uint32_t d = 0; d < n; d++) c.allocs[d] = cAllocs[byId[d]], c.frees[d] = cFrees[byId[d]];
    std::fill(cAllocs.begin(), cAllocs.end(), 0);
    std::fill(cFrees.begin(), cFrees.end(), 0);
    std::sort(sizesSeen.begin(), sizesSeen.end());
    c.bySize.reserve(sizesSeen.size());
    for (uint32_t z : sizesSeen) {
      c.bySize.push_back({z, bySize[z].first, bySize[z].second});
      bySize[z] = {0, 0};
    }
    sizesSeen.clear();
    counts = WindowCounts{};
  }
  bool reusable(const Freed& f) const { return slot[f.slot].seq == f.seq && f.seq < kSeqRetire; }
  uint32_t newSlot(uint32_t s) {
    ops++;
    if (aged.size() > 8) asm volatile("prefetcht0 %0" : : "m"(slot[aged[8].slot]));  // the checks to come
    while (!aged.empty() && (!reusable(aged.front()) || ops - aged.front().at >= kReuseAge)) {
      Freed f = aged.front();
      aged.pop_front();
      if (reusable(f)) return f.slot;
    }
    auto& own = ownFree[s];
    while (!own.empty()) {
      Freed f = own.back();
      own.pop_back();
      if (reusable(f)) return f.slot;  // (a slot whose sequence is near overflow is retired)
    }
    if (slots == IdMap::kNone - 1) throw TraceError(path + ": more than 4 billion objects live at once");
    slot.emplace_back();
    return slots++;
  }
  void emit(uint32_t s, const ReplayOp& op) {
    if (!opts.keepOps) return;
    streams[s].push_back(op);
    order.push_back(uint16_t(s));
  }
  // Frees the object in slot on trace thread t; returns whether the free waits for another thread.
  bool freeSlot(uint32_t i, uint16_t t, uint32_t s) {
    Slot& sl = slot[i];
    bool cross = sl.lastThread != t;
    emit(s, ReplayOp::free(i, sl.seq, sl.size, cross));
    if (opts.keepOps) countFree(s, sl.size);
    liveBytes -= sl.size;
    ++sl.seq;
    sl.lastThread = t;
    auto& own = ownFree[s];
    own.push_back(Freed{i, sl.seq, ops});
    aged.push_back(Freed{i, sl.seq, ops++});
    if (own.size() >= ownCompactAt[s]) [[unlikely]] compactOwn(s);
    return cross;
  }
  // Drops the entries of a stream's freed list whose slot was taken since (through the aged list): a thread that
  // frees much and allocates little would otherwise keep one entry per free it ever made. Such an entry never
  // becomes reusable again (a slot's sequence only grows), so the slots handed out do not change.
  void compactOwn(uint32_t s) {
    auto& own = ownFree[s];
    own.erase(std::remove_if(own.begin(), own.end(), [&](const Freed& f) { return !reusable(f); }), own.end());
    ownCompactAt[s] = std::max<size_t>(1024, own.size() * 2);
  }
};

ProgramBuilder::ProgramBuilder(std::string path) : ProgramBuilder(std::move(path), Options{}) {}

ProgramBuilder::ProgramBuilder(std::string path, const Options& opts) : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->opts = opts;
  if (opts.keepOps) impl_->bySize.assign(WindowCounts::kBySizeMax + 1, {0, 0});
  if (opts.threadIds) setThreads(*opts.threadIds);
}

void ProgramBuilder::setThreads(std::vector<uint16_t> ids) {
  std::sort(ids.begin(), ids.end());
  for (uint16_t t : ids) impl_->stream(t);
  impl_->freeze();
}

ProgramBuilder::~ProgramBuilder() = default;
ProgramBuilder::ProgramBuilder(ProgramBuilder&&) noexcept = default;

uint64_t ProgramBuilder::liveObjects() const { return impl_->live.size(); }
uint32_t ProgramBuilder::slots() const { return impl_->slots; }
uint64_t ProgramBuilder::events() const { return impl_->events; }

void ProgramBuilder::prefetch(const Event& e) const {
  if (e.op != Op::Gc) impl_->live.prefetch(e.id);
}

void ProgramBuilder::prefetchSlot(const Event& e) const {
  if (e.op != Op::Free) return;
  const uint32_t i = impl_->live.peek(e.id);
  if (i < impl_->slot.size()) asm volatile("prefetcht0 %0" : : "m"(impl_->slot[i]));
}

namespace {
// add()'s work, inlined into add() and addBatch() (whose callers want no Step: it is left to the compiler).
[[gnu::always_inline]] inline ProgramBuilder::Step addEvent(ProgramBuilder::Impl& m, const Event& e, uint64_t index) {
  using Impl = ProgramBuilder::Impl;
  m.cur = &e, m.curIndex = index;
  ProgramBuilder::Step step;
  switch (e.op) {
    case Op::Alloc: {
      uint32_t s = m.stream(e.thread);
      uint32_t old = m.live.find(e.id);
      if (old != IdMap::kNone) {
        if (!m.opts.lenient)
          m.problem(e, index, fmt::format("alloc of id {} that is still live (free it first)", e.id));
        if (m.implicitFrees++ == 0) m.firstImplicit = m.where(e, index);
        m.live.erase(e.id);
        m.freeSlot(old, e.thread, s);
        step.implicitFree = true;
        step.implicitSlot = old;
      }
      uint32_t slot = m.newSlot(s);
      m.live.insert(e.id, slot);
      Impl::Slot& sl = m.slot[slot];
      m.liveBytes += e.size;
      m.peakLive = std::max(m.peakLive, m.liveBytes);
      bool cross = sl.seq != 0 && sl.lastThread != e.thread;
      m.emit(s, ReplayOp::alloc(slot, sl.seq, e.size, e.scan, cross));
      if (m.opts.keepOps) m.countAlloc(s, e.size);
      sl.size = e.size;
      ++sl.seq;
      sl.lastThread = e.thread;
      step.slot = slot, step.cross = cross;
      break;
    }
    case Op::Free: {
      uint32_t slot = m.live.erase(e.id);
      if (slot == IdMap::kNone) {
        if (!m.opts.lenient)
          m.problem(e, index, fmt::format("free of id {} that is not live (never allocated, or already freed)", e.id));
        if (m.skippedFrees++ == 0) m.firstSkipped = m.where(e, index);
        step.skipped = true;
        return step;  // not part of the program
      }
      uint32_t s = m.stream(e.thread);
      step.slot = slot;
      step.cross = m.freeSlot(slot, e.thread, s);
      break;
    }
    case Op::Gc: {
      if (e.hasThread) m.stream(e.thread);
      uint32_t ordinal = m.gcBase + uint32_t(m.gcAt.size());
      m.gcAt.push_back(m.order.size());
      if (m.opts.keepOps)
        for (auto& st : m.streams) st.push_back(ReplayOp::gc(ordinal));
      break;
    }
  }
  m.digest.add(e);
  ++m.events;
  return step;
}
}  // namespace

ProgramBuilder::Step ProgramBuilder::add(const Event& e, uint64_t index) {
  next_ = index + 1;
  return addEvent(*impl_, e, index);
}

void ProgramBuilder::addBatch(const Event* batch, size_t n, uint64_t index) {
  Impl& m = *impl_;
  for (size_t i = 0; i < std::min(n, kPrefetchAhead); i++) prefetch(batch[i]);
  for (size_t i = 0; i < n; i++) {
    if (i + kPrefetchAhead < n && batch[i + kPrefetchAhead].op != Op::Gc) m.live.prefetch(batch[i + kPrefetchAhead].id);
    if (i + kPrefetchSlotAhead < n) prefetchSlot(batch[i + kPrefetchSlotAhead]);
    addEvent(m, batch[i], index + i);
  }
  next_ = index + n;
}

ReplayProgram ProgramBuilder::finish() {
  Impl& m = *impl_;
  m.freeze();
  ReplayProgram p;
  p.path = m.path;
  p.digest = m.digest.hex();
  p.events = m.events;
  p.slots = m.slots;
  p.gcBarriers = m.gcBase + uint32_t(m.gcAt.size());
  p.liveAtEnd = m.live.size();
  p.skippedFrees = m.skippedFrees;
  p.implicitFrees = m.implicitFrees;
  p.peakLiveBytes = m.peakLive;
  const std::vector<uint16_t> ids = m.sortedIds();
  p.threadIds.assign(ids.begin(), ids.end());
  m.takeOps(p);
  if (m.skippedFrees)
    p.warnings.push_back(fmt::format("{}: warning: skipped {} free{} of ids that were not live (first: {})", m.path,
                                     m.skippedFrees, m.skippedFrees == 1 ? "" : "s", m.firstSkipped));
  if (m.implicitFrees)
    p.warnings.push_back(fmt::format("{}: warning: {} alloc{} of ids that were still live: the old object was "
                                     "freed first (first: {})",
                                     m.path, m.implicitFrees, m.implicitFrees == 1 ? "" : "s", m.firstImplicit));
  impl_ = std::make_unique<Impl>();
  impl_->path = p.path;
  impl_->bySize.assign(WindowCounts::kBySizeMax + 1, {0, 0});
  return p;
}

void ProgramBuilder::takeWindow(ReplayProgram& w) {
  Impl& m = *impl_;
  m.freeze();
  w.path = m.path;
  w.events = m.events;
  w.slots = m.slots;
  w.gcBarriers = m.gcBase + uint32_t(m.gcAt.size());
  w.peakLiveBytes = m.peakLive;
  const std::vector<uint16_t> ids = m.sortedIds();
  w.threadIds.assign(ids.begin(), ids.end());
  m.takeOps(w);
}

std::vector<uint16_t> ProgramBuilder::threadIds() const { return impl_->sortedIds(); }

uint64_t ProgramBuilder::slotSize(uint32_t slot) const {
  return slot < impl_->slot.size() ? impl_->slot[slot].size : 0;
}

ProgramStream::ProgramStream(std::unique_ptr<TraceReader> reader, const Options& opts)
    : ProgramStream(*reader, opts) {
  owned_ = std::move(reader);
}

ProgramStream::ProgramStream(TraceReader& reader, const Options& opts)
    : reader_(&reader), opts_(opts), builder_(reader.path(), [&] {
        ProgramBuilder::Options o;
        o.lenient = opts.load.lenient;
        o.threadIds = opts.threadIds;
        return o;
      }()) {
  opts_.window = std::max<uint64_t>(1, opts_.window);
  buf_.resize(1024);
}

ProgramStream::~ProgramStream() = default;

namespace {
// The streams strict loading of some events makes, by thread id: each alloc's, free's and threaded gc's thread
// (gc events alone: thread 0).
struct ThreadSet {
  std::vector<bool> seen;
  std::vector<uint16_t> ids;
  bool gc = false;
  void add(const Event* e, size_t n) {
    for (size_t i = 0; i < n; i++) {
      if (e[i].op == Op::Gc && !e[i].hasThread) {
        gc = true;
        continue;
      }
      const uint16_t t = e[i].thread;
      if (t >= seen.size()) seen.resize(size_t(t) + 1);
      if (!seen[t]) seen[t] = true, ids.push_back(t);
    }
  }
  std::vector<uint16_t> take() {
    if (ids.empty() && gc) ids.push_back(0);
    return std::move(ids);
  }
};
}  // namespace

// Fixes the builder's thread set to that of the first threadHorizon events: from a second reader of the trace
// (reopen), else read ahead into buf_ (a pipe). A read error ends the read ahead: the set is that of the events
// before the read that failed (the loading stops at the same read: reads are of 1024 events from the start, and
// one that fails gives no event); a kept error is thrown when the loading gets there, so that an earlier event's
// problem is still the one reported.
void ProgramStream::readAhead() {
  ThreadSet set;
  const size_t horizon = size_t(opts_.threadHorizon);
  if (opts_.reopen) {
    try {
      auto r = opts_.reopen();
      for (size_t done = 0; done < horizon;) {
        if (opts_.load.cancel && opts_.load.cancel->load(std::memory_order_relaxed)) throw LoadCancelled();
        const size_t got = r->read(buf_.data(), std::min(buf_.size(), horizon - done));
        if (got == 0) break;
        set.add(buf_.data(), got);
        done += got;
      }
    } catch (const LoadCancelled&) {
      throw;
    } catch (const std::exception&) {
      // (the loading stops at the same read, with the events before it)
    }
    builder_.setThreads(set.take());
    return;
  }
  buf_.resize(horizon);
  try {
    while (n_ < buf_.size()) {
      if (opts_.load.cancel && opts_.load.cancel->load(std::memory_order_relaxed)) throw LoadCancelled();
      const size_t got = reader_->read(buf_.data() + n_, std::min<size_t>(buf_.size() - n_, 1024));
      if (got == 0) {
        ended_ = true;
        break;
      }
      set.add(buf_.data() + n_, got);
      n_ += got;
    }
  } catch (const LoadCancelled&) {
    throw;
  } catch (const std::exception&) {
    readError_ = std::current_exception();
  }
  buf_.resize(std::max<size_t>(n_, 1024));
  builder_.setThreads(set.take());
}

bool ProgramStream::next(ReplayProgram& w) {
  if (!started_ && opts_.threadHorizon > 0 && !opts_.threadIds && !opts_.load.lenient) readAhead();
  uint64_t window = std::min(opts_.window, lastWindow_ * 2);
  if (!started_) {
    window = opts_.firstWindow ? std::min(opts_.firstWindow, opts_.window) : opts_.window;
    // (Lenient loading cannot read ahead for the thread set: its first window reaches the horizon instead.)
    if (!opts_.threadIds && opts_.load.lenient) window = std::max(window, opts_.threadHorizon);
  }
  uint64_t taken = 0;
  while (taken < window) {
    if (pos_ == n_) {
      if (readError_) std::rethrow_exception(std::exchange(readError_, nullptr));
      if (buf_.size() > 1024) std::vector<Event>(1024).swap(buf_);  // (the read-ahead is used up)
      if (ended_) break;
      if (opts_.load.cancel && opts_.load.cancel->load(std::memory_order_relaxed)) throw LoadCancelled();
      n_ = reader_->read(buf_.data(), buf_.size());
      pos_ = 0;
      if (n_ == 0) {
        ended_ = true;
        break;
      }
    }
    const size_t end = pos_ + size_t(std::min<uint64_t>(n_ - pos_, window - taken));
    builder_.addBatch(buf_.data() + pos_, end - pos_, index_);
    index_ += end - pos_;
    taken += end - pos_;
    pos_ = end;
  }
  if (taken == 0 && started_) {
    w.threads.clear();
    w.order.clear();
    return false;
  }
  started_ = true;
  lastWindow_ = window;
  builder_.takeWindow(w);
  return true;
}

ReplayProgram ProgramStream::summary() {
  ReplayProgram p = builder_.finish();
  p.tsBackwards = reader_->tsBackwards();
  for (auto& w : reader_->warnings()) p.warnings.push_back(w);
  return p;
}

ReplayProgram loadProgram(TraceReader& reader, const LoadOptions& opts) {
  ProgramStream s(reader, ProgramStream::Options{opts, ~uint64_t{0}, std::nullopt});
  ReplayProgram ops;
  s.next(ops);
  ReplayProgram p = s.summary();
  p.threads = std::move(ops.threads);
  p.order = std::move(ops.order);
  return p;
}

std::vector<uint16_t> traceThreadIds(const std::string& path, const LoadOptions& opts) {
  auto r = openTrace(path, readOptionsFor(opts));
  ProgramBuilder::Options o;
  o.lenient = opts.lenient;
  o.keepOps = false;
  ProgramBuilder b(r->path(), o);
  std::vector<Event> buf(1024);
  uint64_t index = 0;
  while (size_t n = r->read(buf.data(), buf.size())) {
    if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) throw LoadCancelled();
    b.addBatch(buf.data(), n, index);
    index += n;
  }
  return b.threadIds();
}

ReplayProgram loadProgram(const std::string& path, const LoadOptions& opts) {
  auto r = openTrace(path, readOptionsFor(opts));
  return loadProgram(*r, opts);
}

}  // namespace gomalloc::traces
