#include "reports/report.h"

#include <fmt/format.h>

#include <map>
#include <stdexcept>

namespace gomalloc::reports {

namespace {

std::vector<ClassRow> goClasses(const replay::GoDetail& g) {
  std::vector<ClassRow> rows;
  const size_t nclasses = g.classes.size();
  for (size_t c = 0; c < nclasses; c++) {
    ClassRow row;
    row.cls = uint32_t(c);
    row.size = g.classes[c].size;
    GoClassFields f;
    for (size_t spc = c << 1; spc < (c << 1) + 2 && spc < g.spanClasses.size(); spc++) {
      const core::ClassStats& s = g.spanClasses[spc];
      row.allocs += s.mallocs;
      row.frees += s.frees;
      row.bytesRequested += s.bytesRequested;
      f.tinyHits += s.tinyHits;
      f.fastHits += s.fastHits;
      f.slowHits += s.slowHits;
      f.refills += s.refills;
      for (size_t k = 0; k < f.refillFrom.size(); k++) f.refillFrom[k] += s.refillFrom[k];
      f.sweptFrees += s.sweptFrees;
      f.bytesAllocated += s.bytesAllocated;
      f.largeSpans += s.largeSpansAllocated;
      if (spc < g.spans.inUse.size()) f.spansInUse += g.spans.inUse[spc];
      if (spc < g.spans.peak.size()) f.spansInUsePeak += g.spans.peak[spc];
    }
    f.tailWastePerSpan = g.classes[c].tailWaste;
    row.go = f;
    if (row.allocs || row.frees) rows.push_back(row);
  }
  return rows;
}

std::vector<ClassRow> harnessClasses(const replay::Result& r) {
  std::vector<ClassRow> rows;
  for (size_t c = 0; c < r.classCounts.size(); c++) {
    const replay::ClassCount& k = r.classCounts[c];
    if (!k.allocs && !k.frees) continue;
    ClassRow row;
    row.cls = uint32_t(c);
    row.size = c < r.classSizes.size() ? r.classSizes[c] : 0;
    row.allocs = k.allocs;
    row.frees = k.frees;
    row.bytesRequested = k.bytesRequested;
    rows.push_back(row);
  }
  return rows;
}

// Locks named "family[index]" are summed into one row per family, with the members kept.
std::vector<LockRow> lockRows(const std::vector<core::LockStats>& locks) {
  std::vector<LockRow> rows;
  std::map<std::string, size_t> family;
  for (const core::LockStats& l : locks) {
    LockRow m{l.name, l.acquisitions, l.contended, l.waitNs, l.maxWaitNs, l.holdNs, {}};
    const auto open = l.name.find('[');
    if (open == std::string::npos || l.name.back() != ']') {
      rows.push_back(std::move(m));
      continue;
    }
    const std::string fam = l.name.substr(0, open);
    auto [it, fresh] = family.emplace(fam, rows.size());
    if (fresh) rows.push_back(LockRow{fam, 0, 0, 0, 0, 0, {}});
    LockRow& row = rows[it->second];
    row.acquisitions += m.acquisitions;
    row.contended += m.contended;
    row.waitNs += m.waitNs;
    row.maxWaitNs = std::max(row.maxWaitNs, m.maxWaitNs);
    row.holdNs += m.holdNs;
    if (m.acquisitions) row.members.push_back(std::move(m));
  }
  return rows;
}

}  // namespace

Report build(const replay::Result& r, const ToolInfo& tool) {
  Report rep;
  rep.tool = tool;
  rep.interrupted = r.interrupted;
  rep.trace = TraceSection{r.trace.path,      r.trace.digest,   r.trace.events,       r.trace.threads,
                           r.trace.slots,     r.trace.gcEvents, r.trace.liveAtEnd,    r.trace.skippedFrees,
                           r.trace.implicitFrees, r.trace.tsBackwards, r.trace.warnings};
  rep.config = ConfigSection{r.backend, "", r.procs, r.deterministic, replay::touchModeName(r.touch),
                             r.rssIntervalMs, r.settings};

  Summary& s = rep.summary;
  s.events = r.events;
  s.allocs = r.allocs;
  s.frees = r.frees;
  s.gcEvents = r.gcEvents;
  s.pacerStops = r.pacerStops;
  if (r.go) {
    s.gcCycles = r.go->mem.NumGC;
    s.forcedGcCycles = r.go->mem.NumForcedGC;
  }
  if (r.runtime) {  // the cycles during the replay; the runtime's own before it are in heap.baseline's NumGC
    s.gcCycles = r.runtime->numGC - r.runtime->baselineNumGC;
    s.forcedGcCycles = r.runtime->numForcedGC - r.runtime->baselineNumForcedGC;
  }
  s.bytesRequested = r.bytesRequested;
  s.liveObjects = r.liveObjects;
  s.liveBytesRequested = r.liveBytesRequested;
  s.zeroSizeAllocs = r.zeroSizeAllocs;
  s.wallSeconds = r.wallSeconds;
  s.loadSeconds = r.loadSeconds;
  s.nsPerEvent = r.events ? r.wallSeconds * 1e9 / double(r.events) : 0;
  s.eventsPerSecond = r.wallSeconds > 0 ? double(r.events) / r.wallSeconds : 0;
  s.peakRssBytes = r.peakRssBytes;
  s.rssStartBytes = r.rssStartBytes;
  s.rssEndBytes = r.rssEndBytes;
  s.peakRssScope = r.peakRssSinceStart ? "replay" : "process";
  if (r.addressDigest) s.addressDigest = fmt::format("{:016x}", *r.addressDigest);

  for (size_t p = 0; p < r.procStats.size(); p++) {
    const replay::ProcStats& ps = r.procStats[p];
    ProcRow row{int(p), ps.threads, ps.allocs, ps.frees, ps.dependencyWaits, {}, {}, {}};
    if (ps.timed) {
      row.busySeconds = ps.busySeconds;
      row.barrierSeconds = ps.barrierSeconds;
      row.dependencySeconds = ps.dependencySeconds;
    }
    rep.procs.push_back(row);
  }

  if (r.heapFinal && (r.go || r.runtime)) {
    HeapSection h;
    h.final = *r.heapFinal;
    h.peak = r.heapPeak.value_or(*r.heapFinal);
    if (r.go) {
      const core::MemStats& m = r.go->mem;
      h.totalAlloc = m.TotalAlloc, h.mallocs = m.Mallocs, h.frees = m.Frees, h.nextGC = m.NextGC;
      h.numGC = m.NumGC, h.numForcedGC = m.NumForcedGC;
      h.heapLive = m.HeapLive, h.heapMarked = m.HeapMarked;
      h.arenaReserved = m.ArenaReserved, h.scavengedBytes = m.ScavengedBytes;
    } else {
      const replay::RuntimeDetail& m = *r.runtime;
      h.totalAlloc = m.totalAlloc, h.mallocs = m.mallocs, h.frees = m.frees, h.nextGC = m.nextGC;
      h.numGC = m.numGC, h.numForcedGC = m.numForcedGC;
      h.baseline = m.baseline;
      h.baselineScanBytes = m.baselineScanBytes;
      h.pacerGcEvents = m.pacerGcEvents;
      if (!m.consMarks.empty()) h.pacerConsMarks = m.consMarks;
      h.firstPacedScanWork = m.firstPacedScanWork;
      h.stackScanBytes = m.stackScanBytes;
      h.globalsScanBytes = m.globalsScanBytes;
    }
    if (!r.pacerGcStarts.empty() || r.runtime) h.pacerGcStarts = r.pacerGcStarts;
    rep.heap = h;
  }

  std::vector<ClassRow> rows = r.go ? goClasses(*r.go) : harnessClasses(r);
  if (r.runtime)
    for (auto& row : rows)
      if (row.cls != 0 && row.cls < r.runtime->bySize.size()) {
        row.runtimeMallocs = r.runtime->bySize[row.cls].allocs;
        row.runtimeFrees = r.runtime->bySize[row.cls].frees;
      }
  for (auto& row : rows)
    if (row.cls != 0) rep.sizeClasses.push_back(row);
  for (auto& row : rows)
    if (row.cls == 0) rep.sizeClasses.push_back(row);

  if (r.go) rep.locks = lockRows(r.go->locks);

  if (rep.heap) rep.gcCycles = r.gcCycles;
  for (const replay::TimelinePoint& pt : r.timeline)
    rep.timeline.push_back(TimelineRow{pt.tMs, pt.rssBytes, pt.heap, replay::timelineKindName(pt.kind), pt.events});

  if (r.verified) rep.verify = VerifySection{r.verifyErrors.empty(), r.verifyErrors};
  rep.allocatorStats = r.allocatorStats;
  rep.latency = r.latency;
  return rep;
}

Report relabel(Report r, const std::string& backend, const std::string& library) {
  std::string used;
  for (auto& [k, v] : r.config.settings)
    if (k == "malloc") used = v;
  if (used.find(backend) == std::string::npos)
    throw std::runtime_error(fmt::format("{} backend: LD_PRELOAD={} did not take effect (the replay ran with {})",
                                         backend, library, used.empty() ? "an unknown malloc" : used));
  r.config.backend = backend;
  r.config.library = library;
  return r;
}

}  // namespace gomalloc::reports
