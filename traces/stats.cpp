#include "traces/stats.h"

#include <bit>
#include <unordered_map>
#include <chrono>

namespace gomalloc::traces {

TraceStats computeStats(TraceReader& reader, const LoadOptions& opts) {
  auto start = std::chrono::steady_clock::now();
  TraceStats s;
  s.path = reader.path();
  s.format = reader.format();
  s.smallSizes.assign(kMaxSmallSize + 1, 0);
  ProgramBuilder::Options bo;
  bo.lenient = opts.lenient;
  bo.keepOps = false;
  ProgramBuilder b(reader.path(), bo);
  struct Obj {
    uint64_t allocIndex = 0, size = 0;
    uint16_t thread = 0;
  };
  std::vector<Obj> objs;  // by slot
  std::vector<bool> seen(kMaxThreads);
  uint64_t liveBytes = 0, live = 0;
  auto died = [&](uint32_t slot, uint64_t index, uint16_t thread) {
    Obj& o = objs[slot];
    uint64_t life = index - o.allocIndex;
    s.lifetimeLog2[life ? 63 - std::countl_zero(life) : 0]++;
    if (o.thread != thread) s.crossThreadFrees++;
    liveBytes -= o.size;
    live--;
  };
  std::vector<Event> buf(4096);
  uint64_t index = 0;
  auto timedRead = [&] {
    auto t0 = std::chrono::steady_clock::now();
    size_t n = reader.read(buf.data(), buf.size());
    s.readSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return n;
  };
  while (size_t n = timedRead()) {
    for (size_t i = 0; i < n; i++, index++) {
      const Event& e = buf[i];
      auto step = b.add(buf.data(), n, i, index);
      if (e.hasThread && !seen[e.thread]) seen[e.thread] = true, s.threads++;
      switch (e.op) {
        case Op::Alloc: {
          if (step.implicitFree) died(step.implicitSlot, index, e.thread);
          if (step.slot >= objs.size()) objs.resize(size_t(step.slot) + 1);
          objs[step.slot] = {index, e.size, e.thread};
          s.allocs++;
          s.bytesAllocated += e.size;
          if (e.scan) s.scanAllocs++;
          if (e.size <= kMaxSmallSize) s.smallSizes[e.size]++;
          else s.largeAllocs++, s.largeBytes += e.size;
          liveBytes += e.size;
          live++;
          if (liveBytes > s.peakLiveBytes) s.peakLiveBytes = liveBytes;
          if (live > s.peakLiveObjects) s.peakLiveObjects = live;
          break;
        }
        case Op::Free:
          if (step.skipped) continue;
          s.frees++;
          died(step.slot, index, e.thread);
          break;
        case Op::Gc: s.gcs++; break;
      }
    }
  }
  ReplayProgram p = b.finish();
  s.events = p.events;
  s.digest = p.digest;
  s.skippedFrees = p.skippedFrees;
  s.implicitFrees = p.implicitFrees;
  s.warnings = p.warnings;
  for (auto& w : reader.warnings()) s.warnings.push_back(w);
  s.unknownKeys = reader.unknownKeys();
  s.liveAtEnd = live;
  s.liveBytesAtEnd = liveBytes;
  s.header = reader.header();
  s.rawBytes = reader.rawBytes();
  s.bytes = reader.bytes();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

TraceStats computeStats(const std::string& path, const LoadOptions& opts) {
  auto r = openTrace(path, readOptionsFor(opts));
  return computeStats(*r, opts);
}

ReadTiming timeRead(const std::string& path, const ReadOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  auto reader = openTrace(path, opts);
  std::vector<Event> buf(1024);
  ReadTiming t;
  while (size_t n = reader->read(buf.data(), buf.size())) t.events += n;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.rawBytes = reader->rawBytes();
  t.bytes = reader->bytes();
  return t;
}

uint64_t liveScanBytesAfter(const std::string& path, uint64_t events) {
  std::unique_ptr<TraceReader> r = openTrace(path);
  std::unordered_map<uint64_t, uint64_t> scanLive;  // id -> bytes scanned
  uint64_t live = 0;
  std::vector<Event> buf(1024);
  for (uint64_t done = 0; done < events;) {
    const size_t n = r->read(buf.data(), size_t(std::min<uint64_t>(buf.size(), events - done)));
    if (n == 0) break;
    for (size_t i = 0; i < n; i++) {
      const Event& e = buf[i];
      if (e.op == Op::Alloc && e.scan) {
        const uint64_t b = (e.size + 7) & ~uint64_t{7};
        scanLive[e.id] = b;
        live += b;
      } else if (e.op == Op::Free) {
        if (auto it = scanLive.find(e.id); it != scanLive.end()) {
          live -= it->second;
          scanLive.erase(it);
        }
      }
    }
    done += n;
  }
  return live;
}

}  // namespace gomalloc::traces
