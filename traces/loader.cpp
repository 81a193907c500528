#include "traces/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "traces/chunked.h"
#include "traces/idmap.h"

namespace gomalloc::traces {

using detail::ChunkList;
using detail::IdMap;

// A slot whose sequence reaches this is not reused (alloc and free add 2, an implicit free 1 more).
constexpr uint32_t kSeqRetire = ~uint32_t{0} - 4;

struct ProgramBuilder::Impl {
  std::string path;
  Options opts;
  IdMap live;
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
  std::deque<Freed> aged;                   // every free, in trace order
  uint64_t ops = 0;
  uint32_t slots = 0;
  std::vector<int32_t> streamOf;    // trace thread id -> stream (first-appearance order), -1 none; grows
  std::vector<uint16_t> rawIds;     // stream -> trace thread id
  std::vector<ChunkList<ReplayOp>> streams;
  ChunkList<uint16_t> order;        // per non-gc op: its stream
  std::vector<uint64_t> gcAt;       // per gc: order.size() when it happened
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
    s = int32_t(rawIds.size());
    streamOf[t] = s;
    rawIds.push_back(t);
    ownFree.emplace_back();
    if (opts.keepOps) {
      streams.emplace_back();
      for (uint32_t g = 0; g < gcAt.size(); g++) streams.back().push_back(ReplayOp::gc(g));
    }
    return uint32_t(s);
  }
  bool reusable(const Freed& f) const { return slot[f.slot].seq == f.seq && f.seq < kSeqRetire; }
  uint32_t newSlot(uint32_t s) {
    ops++;
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
    ++sl.seq;
    sl.lastThread = t;
    ownFree[s].push_back(Freed{i, sl.seq, ops});
    aged.push_back(Freed{i, sl.seq, ops++});
    return cross;
  }
};

ProgramBuilder::ProgramBuilder(std::string path) : ProgramBuilder(std::move(path), Options{}) {}

ProgramBuilder::ProgramBuilder(std::string path, const Options& opts) : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->opts = opts;
}

ProgramBuilder::~ProgramBuilder() = default;
ProgramBuilder::ProgramBuilder(ProgramBuilder&&) noexcept = default;

uint64_t ProgramBuilder::liveObjects() const { return impl_->live.size(); }
uint32_t ProgramBuilder::slots() const { return impl_->slots; }
uint64_t ProgramBuilder::events() const { return impl_->events; }

void ProgramBuilder::prefetch(const Event& e) const {
  if (e.op != Op::Gc) impl_->live.prefetch(e.id);
}

ProgramBuilder::Step ProgramBuilder::add(const Event& e, uint64_t index) {
  Impl& m = *impl_;
  next_ = index + 1;
  Step step;
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
      bool cross = sl.seq != 0 && sl.lastThread != e.thread;
      m.emit(s, ReplayOp::alloc(slot, sl.seq, e.size, e.scan, cross));
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
      uint32_t ordinal = uint32_t(m.gcAt.size());
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

ReplayProgram ProgramBuilder::finish() {
  Impl& m = *impl_;
  ReplayProgram p;
  p.path = m.path;
  p.digest = m.digest.hex();
  p.events = m.events;
  p.slots = m.slots;
  p.gcBarriers = uint32_t(m.gcAt.size());
  p.liveAtEnd = m.live.size();
  p.skippedFrees = m.skippedFrees;
  p.implicitFrees = m.implicitFrees;
  if (m.rawIds.empty() && !m.gcAt.empty()) m.stream(0);  // gc events only: one thread reaches the barriers

  // Dense thread numbering: streams sorted by trace thread id.
  size_t n = m.rawIds.size();
  std::vector<uint32_t> byId(n);
  for (uint32_t i = 0; i < n; i++) byId[i] = i;
  std::sort(byId.begin(), byId.end(), [&](uint32_t a, uint32_t b) { return m.rawIds[a] < m.rawIds[b]; });
  std::vector<uint16_t> dense(n);
  p.threadIds.resize(n);
  for (uint32_t d = 0; d < n; d++) {
    dense[byId[d]] = uint16_t(d);
    p.threadIds[d] = m.rawIds[byId[d]];
  }
  if (m.opts.keepOps) {
    p.threads.resize(n);
    for (uint32_t d = 0; d < n; d++) m.streams[byId[d]].moveInto(p.threads[d]);
    // The global order: each op's dense thread; each gc once per thread, in thread order.
    p.order.reserve(m.order.size() + m.gcAt.size() * n);
    size_t g = 0, at = 0;
    auto gcs = [&](size_t upTo) {
      for (; g < m.gcAt.size() && m.gcAt[g] == upTo; g++)
        for (uint32_t d = 0; d < n; d++) p.order.push_back(uint16_t(d));
    };
    m.order.drain([&](const uint16_t* d, size_t k) {
      for (size_t i = 0; i < k; i++, at++) {
        gcs(at);
        p.order.push_back(dense[d[i]]);
      }
    });
    gcs(at);
  }
  if (m.skippedFrees)
    p.warnings.push_back(fmt::format("{}: warning: skipped {} free{} of ids that were not live (first: {})", m.path,
                                     m.skippedFrees, m.skippedFrees == 1 ? "" : "s", m.firstSkipped));
  if (m.implicitFrees)
    p.warnings.push_back(fmt::format("{}: warning: {} alloc{} of ids that were still live: the old object was "
                                     "freed first (first: {})",
                                     m.path, m.implicitFrees, m.implicitFrees == 1 ? "" : "s", m.firstImplicit));
  impl_ = std::make_unique<Impl>();
  impl_->path = p.path;
  return p;
}

ReplayProgram loadProgram(TraceReader& reader, const LoadOptions& opts) {
  ProgramBuilder::Options o;
  o.lenient = opts.lenient;
  ProgramBuilder b(reader.path(), o);
  constexpr size_t kBatch = 1024;
  std::vector<Event> buf(kBatch);
  uint64_t index = 0;
  while (size_t n = reader.read(buf.data(), kBatch)) {
    if (opts.cancel && opts.cancel->load(std::memory_order_relaxed)) throw LoadCancelled();
    for (size_t i = 0; i < n; i++) b.add(buf.data(), n, i, index++);
  }
  ReplayProgram p = b.finish();
  p.tsBackwards = reader.tsBackwards();
  for (auto& w : reader.warnings()) p.warnings.push_back(w);
  return p;
}

ReplayProgram loadProgram(const std::string& path, const LoadOptions& opts) {
  auto r = openTrace(path, readOptionsFor(opts));
  return loadProgram(*r, opts);
}

}  // namespace gomalloc::traces
