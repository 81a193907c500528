#include "traces/record.h"

#include <fmt/format.h>
#include <string.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "traces/error.h"
#include "traces/idmap.h"

namespace gomalloc::traces {
namespace {

using raw::Record;

constexpr const char* kEntryNames[raw::kEntries] = {
    "malloc", "calloc", "realloc", "aligned", "new", "new_aligned", nullptr, nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr, nullptr, nullptr, nullptr, "free", "realloc_free", "delete", "delete_aligned"};

std::string endName(const RawRecording& r) {
  if (!r.haveEnd) return "none";
  switch (r.end.reason) {
    case raw::kEndExit: return "exit";
    case raw::kEndUnderscoreExit: return "_exit";
    case raw::kEndExec: return "exec";
    case raw::kEndSignal: {
      const char* name = sigabbrev_np(int(r.end.signal));
      return fmt::format("signal {}{}", r.end.signal, name ? fmt::format(" (SIG{})", name) : "");
    }
    default: return fmt::format("unknown ({})", r.end.reason);
  }
}

// The threads' records in a valid global order: by ts, at equal ts a free before an alloc, each thread's in
// its own order. f(thread index, record) gets each.
class Merger {
 public:
  explicit Merger(const RawRecording& r) : rec_(r) {}

  template <class F>
  void run(F&& f) {
    struct Cursor {
      size_t seg = 0;
      uint32_t i = 0;
    };
    std::vector<Cursor> cur(rec_.threads.size());
    auto head = [&](size_t t) -> const Record* {
      const auto& segs = rec_.threads[t].segments;
      Cursor& c = cur[t];
      while (c.seg < segs.size() && c.i == segs[c.seg].count) c.seg++, c.i = 0;
      return c.seg < segs.size() ? &segs[c.seg].recs[c.i] : nullptr;
    };
    // Key: ts, then frees first, then the thread.
    using Key = std::tuple<uint64_t, int, size_t>;
    auto key = [](const Record* r, size_t t) { return Key{r->ts, raw::isFree(r->entry()) ? 0 : 1, t}; };
    std::priority_queue<Key, std::vector<Key>, std::greater<Key>> heap;
    for (size_t t = 0; t < rec_.threads.size(); t++)
      if (const Record* r = head(t)) heap.push(key(r, t));
    while (!heap.empty()) {
      auto [ts, kind, t] = heap.top();
      heap.pop();
      const Record* r = head(t);
      // A free of an address that another thread's alloc at the very same ts gives: that alloc first (the
      // handoff took no measurable time). Rare: only for a free the order would make unknown.
      if (kind == 0 && !f.live(r->ptr)) {
        std::vector<Key> same;
        while (!heap.empty() && std::get<0>(heap.top()) == ts) same.push_back(heap.top()), heap.pop();
        for (auto& k : same) {
          const Record* o = head(std::get<2>(k));
          if (std::get<1>(k) == 1 && o->ptr == r->ptr) {
            f(std::get<2>(k), *o);
            cur[std::get<2>(k)].i++;
            if (const Record* n = head(std::get<2>(k))) k = key(n, std::get<2>(k));
            else k = Key{~uint64_t{0}, 2, 0};
            break;
          }
        }
        for (auto& k : same)
          if (std::get<1>(k) != 2) heap.push(k);
      }
      f(t, *r);
      cur[t].i++;
      if (const Record* n = head(t)) heap.push(key(n, t));
    }
  }

 private:
  const RawRecording& rec_;
};

// Addresses to ids, threads to dense numbers, and the counts; emits the trace's events.
class Converter {
 public:
  Converter(const RawRecording& r, RecordStats& s, TraceWriter* w) : rec_(r), s_(s), w_(w), clock_(r.clock) {
    threadOf_.assign(r.threads.size(), kNoThread);
    lastTick_.assign(r.threads.size(), 0);
    base_ = r.haveProcess ? r.process.startTs : 0;
    s_.ticksPerNs = clock_.ticksPerNs();
  }
  bool live(uint64_t ptr) const { return ids_.find(ptr) != Map::kNone; }
  void operator()(size_t t, const Record& r) {
    if (threadOf_[t] == kNoThread) {
      if (s_.threads >= kMaxThreads) s_.threadsFolded++;
      threadOf_[t] = uint32_t(s_.threads++ % kMaxThreads);
    }
    const auto thread = uint16_t(threadOf_[t]);
    if (r.ts < lastTick_[t]) s_.clockBackwards++;
    lastTick_[t] = r.ts;
    const uint64_t ns = clock_.ns(r.ts);
    // The merge is by tick, so ts only goes back after a thread's tick did (counted): clamped.
    ts_ = std::max(ts_, ns > base_ ? ns - base_ : 0);
    const uint64_t ts = ts_;
    last_ = std::max(last_, ns);
    s_.entries[r.entry() < raw::kEntries ? r.entry() : 0]++;
    if (!raw::isFree(r.entry())) {
      uint64_t old = ids_.erase(r.ptr);
      if (old != Map::kNone) {
        s_.liveAddressReallocated++;
        emit(Event::free(thread, old).at(ts));
      }
      ids_.insert(r.ptr, nextId_);
      emit(Event::alloc(thread, nextId_++, std::min<uint64_t>(r.size(), kMaxSize), true).at(ts));
    } else {
      uint64_t id = ids_.erase(r.ptr);
      if (id == Map::kNone) s_.unknownFrees++;
      else emit(Event::free(thread, id).at(ts));
    }
  }
  void finish() {
    s_.liveAtEnd = ids_.size();
    const uint64_t endTs = rec_.haveEnd ? std::max(rec_.end.ts, last_) : last_;
    s_.durationNs = endTs > base_ ? endTs - base_ : 0;
  }

 private:
  using Map = detail::BasicIdMap<uint64_t>;
  static constexpr uint32_t kNoThread = ~uint32_t{0};
  void emit(const Event& e) {
    s_.events++;
    (e.op == Op::Alloc ? s_.allocs : s_.frees)++;
    if (w_) w_->write(e);
  }
  const RawRecording& rec_;
  RecordStats& s_;
  TraceWriter* w_;
  Map ids_;
  std::vector<uint32_t> threadOf_;
  std::vector<uint64_t> lastTick_;  // by thread
  TickClock clock_;
  uint64_t nextId_ = 1, base_ = 0, last_ = 0, ts_ = 0;
};

RecordStats convertPass(const RawRecording& rec, TraceWriter* w) {
  RecordStats s;
  Converter c(rec, s, w);
  struct Fn {
    Converter& c;
    bool live(uint64_t p) const { return c.live(p); }
    void operator()(size_t t, const Record& r) { c(t, r); }
  } fn{c};
  Merger(rec).run(fn);
  c.finish();
  s.command = rec.command;
  s.pid = rec.process.pid, s.ppid = rec.process.ppid, s.forked = rec.process.forked != 0;
  s.beforeReady = rec.end.beforeReady, s.bootstrap = rec.end.bootstrap;
  s.lostEvents = rec.sequenceGaps + rec.end.lostEvents;
  s.failedWrites = rec.end.failedWrites, s.failedAllocs = rec.end.failedAllocs;
  s.duplicates = rec.duplicates, s.unreadableBytes = rec.unreadableBytes;
  s.end = endName(rec);
  return s;
}

}  // namespace

TickClock::TickClock(std::vector<raw::RawClock> pairs) {
  std::erase_if(pairs, [](const raw::RawClock& c) { return c.tick == 0 || c.ns == 0; });
  if (pairs.empty()) return;
  auto [lo, hi] = std::minmax_element(pairs.begin(), pairs.end(),
                                      [](const raw::RawClock& a, const raw::RawClock& b) { return a.tick < b.tick; });
  tick0_ = lo->tick, ns0_ = lo->ns;
  if (hi->tick > lo->tick && hi->ns > lo->ns) nsPerTick_ = double(hi->ns - lo->ns) / double(hi->tick - lo->tick);
}

uint64_t TickClock::ns(uint64_t tick) const {
  if (tick >= tick0_) return ns0_ + uint64_t(double(tick - tick0_) * nsPerTick_);
  const auto back = uint64_t(double(tick0_ - tick) * nsPerTick_);
  return back < ns0_ ? ns0_ - back : 0;
}

RawRecording readRawRecording(const std::string& path) {
  RawRecording r;
  r.path = path;
  try {
    r.file = std::make_unique<MappedFile>(path);
  } catch (const std::runtime_error& e) {
    throw TraceError(e.what());
  }
  const char* data = r.file->data();
  const size_t size = r.file->size();
  if (size < sizeof(raw::ChunkHeader) || raw::ChunkHeader{}.magic != *reinterpret_cast<const uint32_t*>(data))
    throw TraceError(path + ": not a raw recording of gomalloc record (no GMRC chunk at the start)");
  std::unordered_map<uint32_t, size_t> index;  // recorder thread -> threads[]
  std::vector<uint64_t> nextSeq;
  size_t pos = 0;
  while (pos < size) {
    raw::ChunkHeader h;
    if (size - pos < sizeof h) break;
    std::memcpy(&h, data + pos, sizeof h);
    if (h.magic != raw::kMagic || h.kind < raw::kChunkEvents || h.kind > raw::kChunkClock) break;
    const uint64_t bytes = h.kind == raw::kChunkEvents ? uint64_t(h.count) * sizeof(Record) : h.count;
    if (bytes > size - pos - sizeof h) break;
    const char* p = data + pos + sizeof h;
    if (h.kind == raw::kChunkEvents) {
      auto [it, added] = index.emplace(h.thread, r.threads.size());
      if (added) r.threads.push_back({h.thread, {}}), nextSeq.push_back(0);
      const size_t t = it->second;
      uint64_t seq = h.seq, count = h.count;
      const auto* recs = reinterpret_cast<const Record*>(p);  // the recorder keeps chunks 8-byte aligned
      if (reinterpret_cast<uintptr_t>(p) % alignof(Record)) {   // a file that does not: an aligned copy
        r.copies.emplace_back(count);
        std::memcpy(r.copies.back().data(), p, count * sizeof(Record));
        recs = r.copies.back().data();
      }
      if (seq < nextSeq[t]) {  // written twice (cannot happen by design; dropped if it does)
        const uint64_t dup = std::min(count, nextSeq[t] - seq);
        r.duplicates += dup, recs += dup, seq += dup, count -= dup;
      }
      if (seq > nextSeq[t]) r.sequenceGaps += seq - nextSeq[t];
      if (count) r.threads[t].segments.push_back({recs, uint32_t(count), seq});
      nextSeq[t] = seq + count;
      r.records += count;
    } else if (h.kind == raw::kChunkProcess) {
      if (bytes < sizeof(raw::RawProcess)) break;
      std::memcpy(&r.process, p, sizeof r.process);
      r.haveProcess = true;
      std::string cmd(p + sizeof r.process, std::min<uint64_t>(r.process.cmdBytes, bytes - sizeof r.process));
      r.command.clear();
      for (size_t at = 0; at < cmd.size();) {
        size_t nul = cmd.find('\0', at);
        if (nul == std::string::npos) nul = cmd.size();
        r.command.push_back(cmd.substr(at, nul - at));
        at = nul + 1;
      }
    } else if (h.kind == raw::kChunkClock) {
      if (bytes < sizeof(raw::RawClock)) break;
      r.clock.emplace_back();
      std::memcpy(&r.clock.back(), p, sizeof(raw::RawClock));
    } else {
      if (bytes < sizeof(raw::RawEnd)) break;
      std::memcpy(&r.end, p, sizeof r.end);
      r.haveEnd = true;
    }
    pos += sizeof h + bytes;
  }
  r.unreadableBytes = size - pos;
  if (!r.haveProcess)
    throw TraceError(fmt::format("{}: raw recording without its process chunk (unreadable from byte {})", path, pos));
  return r;
}

RecordStats convertRecording(const RawRecording& rec, const std::string& out) {
  const RecordStats counted = convertPass(rec, nullptr);
  TraceHeader h;
  h.meta = {{"source", shellJoin(rec.command)}, {"clock", "ns"}, {"record", recordStatsJson(counted)}};
  h.threads = uint32_t(std::max<uint64_t>(1, std::min<uint64_t>(counted.threads, kMaxThreads)));
  auto w = createWriter(out, h);
  RecordStats s = convertPass(rec, w.get());
  w->finish();
  return s;
}

nlohmann::ordered_json recordStatsJson(const RecordStats& s) {
  nlohmann::ordered_json j;
  j["command"] = s.command;
  j["pid"] = s.pid;
  j["ppid"] = s.ppid;
  if (s.forked) j["forked"] = true;
  j["threads"] = s.threads;
  j["duration_ns"] = s.durationNs;
  j["allocs"] = s.allocs;
  j["frees"] = s.frees;
  nlohmann::ordered_json entries = nlohmann::ordered_json::object();
  for (size_t e = 0; e < raw::kEntries; e++)
    if (kEntryNames[e] && s.entries[e]) entries[kEntryNames[e]] = s.entries[e];
  j["entries"] = entries;
  j["before_ready"] = s.beforeReady;
  j["bootstrap"] = s.bootstrap;
  j["unknown_frees"] = s.unknownFrees;
  j["live_address_reallocated"] = s.liveAddressReallocated;
  j["lost_events"] = s.lostEvents;
  j["failed_writes"] = s.failedWrites;
  j["failed_allocs"] = s.failedAllocs;
  if (s.duplicates) j["duplicates"] = s.duplicates;
  if (s.unreadableBytes) j["unreadable_bytes"] = s.unreadableBytes;
  if (s.threadsFolded) j["threads_folded"] = s.threadsFolded;
  j["clock_backwards"] = s.clockBackwards;
  j["ticks_per_ns"] = s.ticksPerNs;
  j["live_at_end"] = s.liveAtEnd;
  j["end"] = s.end;
  return j;
}

std::string shellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-+=.,/:@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace gomalloc::traces
