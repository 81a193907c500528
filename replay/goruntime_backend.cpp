#include "replay/goruntime_backend.h"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <nlohmann/json.hpp>

#include "core/sizeclasses.h"
#include "replay/child.h"
#include "replay/replayer.h"
#include "traces/output.h"

namespace gomalloc::replay {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kTinySize = 16;  // Go 1.19's maxTinySize

// With one P, every thread's ops in the trace's global order as one stream (one gc op per barrier), so that
// one goroutine replays the trace in its own order; the allocator's caches are per P, so which goroutine runs
// an op does not matter to it.
std::vector<traces::ReplayOp> mergedStream(const traces::ReplayProgram& prog) {
  std::vector<traces::ReplayOp> merged;
  merged.reserve(prog.order.size());
  std::vector<size_t> next(prog.threads.size());
  uint32_t barriers = 0;
  for (const uint16_t t : prog.order) {
    const traces::ReplayOp& op = prog.threads[t][next[t]++];
    if (op.kind() == traces::ReplayOp::Gc) {
      if (op.seq < barriers) continue;  // the same barrier in the next thread's stream
      barriers = op.seq + 1;
    }
    merged.push_back(op);
  }
  return merged;
}

// Ops done per thread when the first n ops of mergedStream(prog) are done.
std::vector<uint64_t> mergedDone(const traces::ReplayProgram& prog, uint64_t n) {
  std::vector<uint64_t> next(prog.threads.size());
  uint32_t barriers = 0;
  for (size_t i = 0; i < prog.order.size() && n > 0; i++) {
    const uint16_t t = prog.order[i];
    const traces::ReplayOp& op = prog.threads[t][next[t]++];
    if (op.kind() == traces::ReplayOp::Gc) {
      if (op.seq < barriers) continue;
      barriers = op.seq + 1;
    }
    n--;
  }
  return next;
}

// The op stream file (per thread, or merged: one stream in trace order), removed when it goes out of scope.
class OpsFile {
 public:
  OpsFile(const traces::ReplayProgram& prog, const std::vector<traces::ReplayOp>* merged) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/gomalloc-goruntime-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw GoRuntimeError(fmt::format("cannot create {}: {}", tmpl, std::strerror(errno)));
    path_ = tmpl;
    handle_ = traces::registerTemporary(path_);  // a fatal signal removes it too
    FILE* f = ::fdopen(fd, "wb");
    if (!f) {
      ::close(fd);
      throw GoRuntimeError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
    }
    // Header: magic, threads, slots, gc events, reserved, ops; then (offset, count) per thread; then the ops.
    unsigned char hdr[32] = {'G', 'M', 'R', 'T', 'O', 'P', 'S', '1'};
    std::vector<const std::vector<traces::ReplayOp>*> streams;
    if (merged) streams.push_back(merged);
    else
      for (auto& t : prog.threads) streams.push_back(&t);
    const uint32_t threads = uint32_t(streams.size()), slots = prog.slots, gcs = prog.gcBarriers;
    uint64_t total = 0;
    for (auto* t : streams) total += t->size();
    std::memcpy(hdr + 8, &threads, 4);
    std::memcpy(hdr + 12, &slots, 4);
    std::memcpy(hdr + 16, &gcs, 4);
    std::memcpy(hdr + 24, &total, 8);
    bool ok = std::fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr;
    uint64_t offset = sizeof hdr + 16 * uint64_t(threads);
    for (auto* t : streams) {
      const uint64_t entry[2] = {offset, t->size()};
      ok = ok && std::fwrite(entry, 8, 2, f) == 2;
      offset += t->size() * sizeof(traces::ReplayOp);
    }
    for (auto* t : streams)  // traces::ReplayOp is the record (little-endian hosts: x86-64, arm64)
      ok = ok && (t->empty() || std::fwrite(t->data(), sizeof(traces::ReplayOp), t->size(), f) == t->size());
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw GoRuntimeError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  }
  ~OpsFile() {
    traces::unregisterTemporary(handle_);
    ::unlink(path_.c_str());
  }
  OpsFile(const OpsFile&) = delete;
  OpsFile& operator=(const OpsFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int handle_ = -1;
};

uint64_t u64(const Json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) throw GoRuntimeError(fmt::format("no count \"{}\"", key));
  return it->get<uint64_t>();
}

HeapFigures figures(const Json& j) {
  return HeapFigures{u64(j, "HeapAlloc"),    u64(j, "HeapInuse"), u64(j, "HeapIdle"),
                     u64(j, "HeapReleased"), u64(j, "HeapSys"),   u64(j, "HeapObjects")};
}

void notePeak(std::optional<HeapFigures>& peak, const HeapFigures& h) {
  if (!peak) {
    peak = h;
    return;
  }
  peak->heapAlloc = std::max(peak->heapAlloc, h.heapAlloc);
  peak->heapInuse = std::max(peak->heapInuse, h.heapInuse);
  peak->heapIdle = std::max(peak->heapIdle, h.heapIdle);
  peak->heapReleased = std::max(peak->heapReleased, h.heapReleased);
  peak->heapSys = std::max(peak->heapSys, h.heapSys);
  peak->heapObjects = std::max(peak->heapObjects, h.heapObjects);
}

// BySize of a point: [[size, mallocs, frees], ...] by class.
std::vector<ClassCount> bySize(const Json& j) {
  std::vector<ClassCount> out;
  const auto it = j.find("BySize");
  if (it == j.end() || !it->is_array()) throw GoRuntimeError("no \"BySize\"");
  for (const Json& c : *it) {
    if (!c.is_array() || c.size() != 3) throw GoRuntimeError("a \"BySize\" entry is not [size, mallocs, frees]");
    out.push_back(ClassCount{c[1].get<uint64_t>(), c[2].get<uint64_t>(), 0});
  }
  return out;
}

// The runtime's GODEBUG=gctrace=1,gcpacertrace=1 lines, cut out of the child's stderr. Go 1.19 prints, at the
// end of each cycle's mark (gcControllerState.endCycle, mgcpacer.go), "pacer: ... (∆goal D, cons/mark X)" with
// X the estimate the cycle's trigger used, then "gc N @..." (gcMarkTermination), "(forced)" at the end for
// runtime.GC(). endCycle prints nothing when the heap did not grow during the mark.
struct PacerTrace {
  std::string rest;                     // every other line, in order
  std::vector<GcCycleRecord> cycles;    // every gctrace line, in order (events and HeapInuse unknown)
  std::vector<uint64_t> paced;          // the numbers N of the cycles the pacer started (not forced)
  std::map<uint64_t, double> consMark;  // cycle N -> the cons/mark its trigger used, where it printed one
  std::map<uint64_t, uint64_t> heapScanWork;  // cycle N -> the heap scan work its mark did ("for H+S+G B work")
  std::vector<uint64_t> stackScan;            // every printed S, in order
  uint64_t globalsScan = 0;                   // G (the same every cycle)

  // The estimates of the cycles after the first `after`, in order; a cycle that printed none used the next
  // printed one (endCycle left the estimate as it was).
  std::vector<double> consMarksAfter(uint64_t after) const {
    std::vector<double> out;
    for (uint64_t n : paced) {
      if (n <= after) continue;
      auto it = consMark.lower_bound(n);
      if (it == consMark.end()) break;
      out.push_back(it->second);
    }
    return out;
  }
};

// A gctrace line's heap figures: "..., A->B->C MB, D MB goal, ..." (Go prints bytes >> 20).
bool gctraceHeap(const std::string& line, GcCycleRecord& c) {
  const size_t k = line.find(" ms cpu, ");
  unsigned long long a = 0, b = 0, m = 0, goal = 0;
  if (k == std::string::npos ||
      std::sscanf(line.c_str() + k, " ms cpu, %llu->%llu->%llu MB, %llu MB goal", &a, &b, &m, &goal) != 4)
    return false;
  c.heapStart = uint64_t(a) << 20;
  c.heapEnd = uint64_t(b) << 20;
  c.heapMarked = uint64_t(m) << 20;
  // GOGC=off: the goal is Go's maxInt64 (no goal).
  if (goal < (1ull << 40)) c.goal = uint64_t(goal) << 20;
  return true;
}

// A gcpacertrace end-of-mark line's exact bytes: "... in TRIGGERED B -> HEAPLIVE B (∆goal D, ...": the heapLive
// when the mark began and at its end, and the goal (HEAPLIVE - D).
struct PacerBytes {
  uint64_t triggered = 0, heapLive = 0, goal = 0;
};
std::optional<PacerBytes> pacerBytes(const std::string& line) {
  const size_t k = line.find(") in ");
  unsigned long long from = 0, to = 0;
  long long delta = 0;
  if (k == std::string::npos ||
      std::sscanf(line.c_str() + k, ") in %llu B -> %llu B (\xe2\x88\x86goal %lld,", &from, &to, &delta) != 3 ||
      (delta > 0 && uint64_t(delta) > to))
    return std::nullopt;
  return PacerBytes{uint64_t(from), uint64_t(to), uint64_t(int64_t(to) - delta)};
}

PacerTrace splitPacerTrace(const std::string& text) {
  PacerTrace t;
  bool havePending = false;
  double pending = 0;
  bool haveScan = false;
  uint64_t pendingScan = 0;
  std::optional<PacerBytes> bytes;  // of the pacer line just before a gc line
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string::npos ? text.size() : nl + 1;
    const std::string_view line(text.data() + pos, end - pos);
    pos = end;
    if (line.starts_with("pacer: ")) {
      const size_t k = line.rfind("cons/mark ");
      if (k != std::string_view::npos) {
        const std::string num(line.substr(k + 10));
        char* q = nullptr;
        const double x = std::strtod(num.c_str(), &q);
        if (q != num.c_str() && std::isfinite(x)) havePending = true, pending = x;
      }
      unsigned long long h = 0, st = 0, gl = 0;
      if (const size_t f = line.find(" for "); f != std::string_view::npos) {
        const int got = std::sscanf(std::string(line.substr(f)).c_str(), " for %llu+%llu+%llu B work", &h, &st, &gl);
        if (got >= 1) haveScan = true, pendingScan = h;
        if (got == 3) t.stackScan.push_back(st), t.globalsScan = gl;
      }
      if (auto b = pacerBytes(std::string(line))) bytes = b;
      continue;
    }
    unsigned long long n = 0;
    int used = 0;
    if (line.starts_with("gc ") && std::sscanf(std::string(line).c_str(), "gc %llu @%n", &n, &used) == 1 && used > 0) {
      const bool forced = line.find("(forced)") != std::string_view::npos;
      if (!forced) t.paced.push_back(n);
      if (havePending) t.consMark[n] = pending;
      if (haveScan) t.heapScanWork[n] = pendingScan;
      havePending = false;
      haveScan = false;
      GcCycleRecord c;
      c.cycle = n;
      c.forced = forced;
      c.concurrent = !forced;  // the pacer started it at its trigger
      if (gctraceHeap(std::string(line), c)) {
        if (bytes) {
          // Its "triggered" is the trigger the pacer computed (c.triggered), not gctrace's heap0.
          c.heapEnd = bytes->heapLive, c.trigger = bytes->triggered;
          if (c.goal) c.goal = bytes->goal;
        }
        t.cycles.push_back(c);
      }
      bytes.reset();
      continue;
    }
    t.rest.append(line);
  }
  return t;
}

}  // namespace

std::string findGoRuntimeProgram(const std::string& exe) {
  const std::filesystem::path p = std::filesystem::path(exe).parent_path() / kGoRuntimeProgram;
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  throw GoRuntimeError(fmt::format(
      "the go-runtime backend needs {}, which is not built (looked for {}): it is built with Go 1.19; install the "
      "Debian package {} (bash scripts/setup.sh does) and build again",
      kGoRuntimeProgram, p.string(), kGoRuntimePackage));
}

std::string gogcText(int gogc) { return gogc < 0 ? "off" : std::to_string(gogc); }

Result runGoRuntime(const traces::ReplayProgram& prog, const GoRuntimeOptions& opt) {
  const uint64_t peakLive = validateProgram(prog);
  Options ro;
  ro.procs = opt.procs;
  const int nprocs = effectiveProcs(prog, ro);
  if (opt.memoryLimit.bytes != 0 && peakLive > opt.memoryLimit.bytes)
    throw MemoryLimitError(
        opt.memoryLimit.exceeded(fmt::format("the trace holds up to {} live at once", bytesText(peakLive))));

  const auto interrupted = [&opt] { return opt.cancel && opt.cancel->load(); };
  const char* nothing = "interrupted before the replay started; nothing was replayed, no report written";
  // One P: one goroutine replays the trace in its order. More: a goroutine per trace thread.
  const bool inOrder = nprocs == 1 && prog.threads.size() > 1;
  std::optional<OpsFile> ops;
  {
    const std::vector<traces::ReplayOp> merged = inOrder ? mergedStream(prog) : std::vector<traces::ReplayOp>{};
    ops.emplace(prog, inOrder ? &merged : nullptr);
  }
  if (interrupted()) throw GoRuntimeInterrupted(nothing);
  // The runtime's own objects leave spans partly used; the child fills them (its baseline), so that the
  // trace's objects start on fresh spans as in the model's heap.
  std::string fill;
  for (uint32_t size : core::SizeClassTable::go119().sizes()) fill += (fill.empty() ? "" : ",") + std::to_string(size);
  const std::vector<std::string> args = {"-ops",          ops->path(), "-gogc",         opt.gogc,
                                         "-touch",        touchModeName(opt.touch), "-rss-interval",
                                         std::to_string(opt.rssIntervalMs), "-fill-classes", fill};
  // gctrace and gcpacertrace: each cycle's cons/mark estimate (below); their lines are not passed on.
  const std::vector<std::string> env = {"GOMAXPROCS=" + std::to_string(nprocs), "GOGC=" + opt.gogc,
                                        "GODEBUG=gctrace=1,gcpacertrace=1"};
  // The memory limit bounds the child's writable mappings (its heap, with room for the runtime's own).
  const uint64_t dataLimit = opt.memoryLimit.bytes ? opt.memoryLimit.bytes + (uint64_t{256} << 20) : 0;
  // The child's stderr goes to an unlinked file, passed on after it exits: all of it, but for the runtime's
  // goroutine dump when it ran out of memory under the limit (the error below says what happened).
  const char* tmpdir = std::getenv("TMPDIR");
  std::string errPath = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/gomalloc-goruntime-err-XXXXXX";
  const int errFd = ::mkstemp(errPath.data());
  if (errFd >= 0) ::unlink(errPath.c_str());
  const auto childStderr = [errFd] {
    std::string text;
    if (errFd < 0 || ::lseek(errFd, 0, SEEK_SET) != 0) return text;
    char buf[65536];
    for (ssize_t n; (n = ::read(errFd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    ::close(errFd);
    return text;
  };
  ChildOutput child;
  try {
    child = runChild(opt.program, args, env, opt.cancel, dataLimit, errFd);
  } catch (const std::runtime_error& e) {
    childStderr();
    throw GoRuntimeError(e.what());
  }
  const PacerTrace pacerTrace = splitPacerTrace(childStderr());
  const std::string& errText = pacerTrace.rest;
  const bool outOfMemory = child.exitCode == 2 && dataLimit != 0;
  if (!outOfMemory && !errText.empty()) std::fputs(errText.c_str(), stderr);
  if (child.exitCode == 128 + SIGINT && interrupted()) throw GoRuntimeInterrupted(nothing);
  // Exit status 2 is the Go runtime's fatal error (the program's own failures exit 3): under a data limit, the
  // heap could not grow ("fatal error: runtime: out of memory").
  if (outOfMemory)
    throw MemoryLimitError(opt.memoryLimit.exceeded(fmt::format(
        "the real Go runtime's heap grew past it (at GOGC={}, dead objects stay until a collection frees them)",
        opt.gogc)));
  if (child.exitCode != 0)
    throw GoRuntimeError(fmt::format("{} failed (exit status {})", kGoRuntimeProgram, child.exitCode));

  Result res;
  res.trace = traceInfoOf(prog);
  res.backend = kGoRuntimeBackend;
  res.procs = nprocs;
  res.touch = opt.touch;
  res.rssIntervalMs = opt.rssIntervalMs;
  RuntimeDetail rt;
  Json done;
  std::optional<Json> start, end;
  std::map<uint64_t, uint64_t> markBegan;                 // cycle N -> the event after which its mark was seen
  std::vector<std::pair<uint64_t, uint64_t>> cyclesDone;  // (NumGC, event) at each point after the start
  try {
    size_t pos = 0;
    for (size_t line = 1; pos < child.out.size(); line++) {
      size_t nl = child.out.find('\n', pos);
      if (nl == std::string::npos) nl = child.out.size();
      Json j = Json::parse(child.out.begin() + long(pos), child.out.begin() + long(nl));
      pos = nl + 1;
      const std::string kind = j.at("kind").get<std::string>();
      if (kind == "done") {
        done = std::move(j);
        continue;
      }
      TimelinePoint pt;
      pt.tMs = double(u64(j, "t_ns")) / 1e6;
      pt.rssBytes = u64(j, "rss");
      pt.events = u64(j, "event");
      if (kind == "mark") {  // a concurrent mark began: no figures, not a timeline point
        markBegan.emplace(u64(j, "cycle"), pt.events);  // (the first, should one be seen twice)
        continue;
      }
      if (kind == "sample") {
        pt.kind = TimelinePoint::Kind::Sample;
      } else {
        pt.heap = figures(j);
        pt.kind = kind == "start" ? TimelinePoint::Kind::Start
                  : kind == "end" ? TimelinePoint::Kind::End
                                  : TimelinePoint::Kind::Gc;
        if (kind != "start") cyclesDone.emplace_back(u64(j, "NumGC"), pt.events);
        if (kind == "start") start = j;
        if (kind == "end") end = j;
        if (kind != "start") notePeak(res.heapPeak, *pt.heap);
      }
      res.timeline.push_back(pt);
    }
    if (!start || !end || done.is_null()) throw GoRuntimeError("the output stops before the end of the replay");
    rt.goVersion = done.at("go_version").get<std::string>();
    rt.baseline = figures(*start);
    rt.baselineNumGC = u64(*start, "NumGC");
    rt.baselineScanBytes = u64(*start, "ScanBaseline");
    rt.baselineNumForcedGC = u64(*start, "NumForcedGC");
    rt.consMarks = pacerTrace.consMarksAfter(rt.baselineNumGC);
    // Each paced cycle's mark start and end, aligned: its end is the first point that counts it; its start the
    // mark point that names it, or its end when no alloc saw the mark (begun and ended within one alloc).
    for (uint64_t n : pacerTrace.paced) {
      if (n <= rt.baselineNumGC) continue;
      auto done = std::find_if(cyclesDone.begin(), cyclesDone.end(), [&](auto& c) { return c.first >= n; });
      if (done == cyclesDone.end()) break;  // not over when the replay ended
      auto began = markBegan.find(n);
      res.pacerGcStarts.push_back(began != markBegan.end() ? std::min(began->second, done->second) : done->second);
      rt.pacerGcEvents.push_back(done->second);
    }
    for (uint64_t n : pacerTrace.paced)
      if (n > rt.baselineNumGC) {
        if (auto it = pacerTrace.heapScanWork.find(n); it != pacerTrace.heapScanWork.end())
          rt.firstPacedScanWork = it->second;
        break;
      }
    if (!pacerTrace.stackScan.empty()) {
      std::vector<uint64_t> s = pacerTrace.stackScan;
      std::nth_element(s.begin(), s.begin() + long(s.size() / 2), s.end());
      rt.stackScanBytes = s[s.size() / 2];
      rt.globalsScanBytes = pacerTrace.globalsScan;
    }
    for (const GcCycleRecord& c : pacerTrace.cycles)
      if (c.cycle > rt.baselineNumGC) res.gcCycles.push_back(c);
    rt.totalAlloc = u64(*end, "TotalAlloc");
    rt.mallocs = u64(*end, "Mallocs");
    rt.frees = u64(*end, "Frees");
    rt.nextGC = u64(*end, "NextGC");
    rt.numGC = u64(*end, "NumGC");
    rt.numForcedGC = u64(*end, "NumForcedGC");
    const std::vector<ClassCount> before = bySize(*start), after = bySize(*end);
    for (size_t c = 0; c < after.size() && c < before.size(); c++)
      rt.bySize.push_back(ClassCount{after[c].allocs - before[c].allocs, after[c].frees - before[c].frees, 0});
    res.heapFinal = figures(*end);
    res.interrupted = done.at("interrupted").get<bool>();
    res.wallSeconds = double(u64(done, "wall_ns")) / 1e9;
    res.peakRssSinceStart = done.at("peak_rss_since_start").get<bool>();
    res.rssStartBytes = u64(*start, "rss");
    res.rssEndBytes = u64(*end, "rss");
    res.peakRssBytes = u64(done, "peak_rss");
    for (auto& pt : res.timeline) res.peakRssBytes = std::max(res.peakRssBytes, pt.rssBytes);
    const Json& perThread = done.at("per_thread");
    if (perThread.size() != (inOrder ? 1 : prog.threads.size()))
      throw GoRuntimeError("per_thread does not have one entry per stream");
    std::vector<uint64_t> doneOps;
    for (const Json& t : perThread) doneOps.push_back(t.at(2).get<uint64_t>());
    if (inOrder) doneOps = mergedDone(prog, doneOps[0]);
    uint64_t childAllocs = 0, childFrees = 0;
    for (const Json& t : perThread) childAllocs += t.at(0).get<uint64_t>(), childFrees += t.at(1).get<uint64_t>();

    // What the trace determines, counted from the ops each thread got through (all of them unless interrupted).
    const core::SizeClassTable table = core::SizeClassTable::go119();
    for (auto& c : table.classes()) res.classSizes.push_back(c.size);
    res.classCounts.assign(table.numClasses(), ClassCount{});
    res.procStats.resize(size_t(nprocs));
    uint64_t bytesFreed = 0;
    for (size_t t = 0; t < prog.threads.size(); t++) {
      ProcStats& ps = res.procStats[t % size_t(nprocs)];
      ps.threads.push_back(prog.threadIds.size() == prog.threads.size() ? prog.threadIds[t] : uint32_t(t));
      const uint64_t n = doneOps[t];
      if (n > prog.threads[t].size()) throw GoRuntimeError("a thread did more ops than it has");
      uint64_t allocs = 0, frees = 0;
      for (uint64_t i = 0; i < n; i++) {
        const traces::ReplayOp& op = prog.threads[t][i];
        const uint64_t size = op.size();
        // As mallocgc: pointer-free objects under 16 bytes go to the tiny allocator's 16-byte blocks (class 2).
        const uint8_t cls = size > core::kMaxSmallSize                   ? uint8_t{0}
                            : size < kTinySize && !op.scan() && size != 0 ? table.sizeToClass(kTinySize)
                                                                          : table.sizeToClass(size);
        if (op.kind() == traces::ReplayOp::Alloc) {
          allocs++;
          res.bytesRequested += size;
          res.zeroSizeAllocs += size == 0;
          if (size != 0) {
            res.classCounts[cls].allocs++;
            res.classCounts[cls].bytesRequested += size;
          }
        } else if (op.kind() == traces::ReplayOp::Free) {
          frees++;
          bytesFreed += size;
          if (size != 0) res.classCounts[cls].frees++;
        }
      }
      ps.allocs += allocs;
      ps.frees += frees;
      res.allocs += allocs;
      res.frees += frees;
    }
    if (res.allocs != childAllocs || res.frees != childFrees)
      throw GoRuntimeError("the child's alloc and free counts differ from the trace's");
    res.gcEvents = u64(done, "gc_events");
    res.events = res.allocs + res.frees + res.gcEvents;
    res.liveObjects = res.allocs - res.frees;
    res.liveBytesRequested = res.bytesRequested - bytesFreed;
    const uint64_t cycles = rt.numGC - rt.baselineNumGC, forced = rt.numForcedGC - rt.baselineNumForcedGC;
    res.pacerStops = cycles > forced ? cycles - forced : 0;
  } catch (const std::exception& e) {
    throw GoRuntimeError(fmt::format("{} wrote an unreadable report: {}", kGoRuntimeProgram, e.what()));
  }
  res.settings = {{"gogc", opt.gogc}, {"go_version", rt.goVersion}};
  std::stable_sort(res.timeline.begin(), res.timeline.end(), [](auto& a, auto& b) { return a.tMs < b.tMs; });
  res.runtime = std::move(rt);
  return res;
}

}  // namespace gomalloc::replay
