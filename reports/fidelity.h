// gomalloc fidelity: the Go model (`go`, deterministic, one P) against the real Go 1.19 runtime (`go-runtime`,
// GOMAXPROCS=1, several runs because the runtime varies) on the same trace, figure by figure, with the bounds
// docs/fidelity.md states. This file compares reports and renders the result; the command runs the replays.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <functional>
#include <vector>

#include "reports/report.h"

namespace gomalloc::reports {

// One figure at one point of the replay.
struct FidelityRow {
  std::string point;   // "gc 3" (the third gc event), "end", "run" (whole-replay figures), "class 48 B"
  std::string metric;  // HeapObjects, HeapAlloc, HeapInuse, HeapInuse step, allocs, gc_cycles, peak HeapInuse
  double model = 0;
  double runtimeMin = 0, runtimeMedian = 0, runtimeMax = 0;  // over the runtime's runs, its baseline taken off
  double diff = 0;                                           // model - runtime median
  std::string bound;  // as docs/fidelity.md states it ("exact", "2 spans (16 KiB)", "runtime range +-1", "10%")
  bool checked = false;  // a bound applies (else the row is information)
  bool ok = true;
};

struct FidelityTrace {
  std::string trace;
  bool gcOff = false;       // GOGC=off: the gc events are the only collections
  size_t runtimeRuns = 0;
  replay::HeapFigures baseline;  // the runtime's own heap before the first event (median run), not in the rows
  std::vector<FidelityRow> rows;
  bool ok() const;
  size_t failed() const;
};

// Compares the model's report with the runtime's reports of the same trace. gcOff: GOGC=off (the bounds for
// forced collections apply); otherwise the pacer's bounds. Throws std::runtime_error when the reports do not
// belong together (different traces, backends other than go and go-runtime).
FidelityTrace compareFidelity(const Report& model, const std::vector<Report>& runtime, bool gcOff);

// The runtime's heap before the first event: the "start" timeline row's heap figures (zero when absent).
replay::HeapFigures runtimeBaseline(const Report& r);
// The runtime's live heap at the start (baseline HeapAlloc), the median over the runs: what the model's pacer
// is given as gc_baseline_bytes so that both pace the same live heap.
uint64_t runtimeBaselineLive(const std::vector<Report>& runtime);
// Its scan work each cycle, the median over the runs: gc_baseline_scan_bytes. The child counts only the objects
// it made (heap.baseline_scan_bytes); the runtime's own objects with pointers add to it. So where a run printed
// its first paced cycle's heap scan work (heap.first_paced_scan_work), the baseline's is that less what the
// trace's objects live at the mark's start add (traceScanAt(events), events = heap.pacer_gc_starts[0]).
uint64_t runtimeBaselineScan(const std::vector<Report>& runtime,
                             const std::function<uint64_t(uint64_t events)>& traceScanAt = {});
// The runtime's stacks' and globals' scan work (heap.stack_scan_bytes, heap.globals_scan_bytes), the medians
// over the runs: the model's gc_stacks_bytes and gc_globals_bytes (the replay program's own, not the defaults'
// small program's). Absent when no run printed them.
std::optional<uint64_t> runtimeStackScan(const std::vector<Report>& runtime);
std::optional<uint64_t> runtimeGlobalsScan(const std::vector<Report>& runtime);
// The lengths of the runtime's concurrent marks, in trace events (from the event at which each began to the one
// after which its end was seen), cycle by cycle, in the most typical run (the nearest to the runs' median cycle
// count and median peak HeapInuse); empty without any. A mark's length is CPU time, which the model's replay in bytes cannot know: fidelity gives the model
// these (gc_mark_events), so that its marks are as long, and vary as much, as the runtime's.
// With them, the cons/mark estimates the triggers of that run's cycles used (heap.pacer_cons_marks; Go 1.19's
// estimate smooths a measurement of CPU time too): the model's gc_cons_marks.
struct RuntimePacing {
  std::vector<uint64_t> markStarts, markEvents;  // the paced marks' first events and lengths
  std::vector<double> consMarks;
};
RuntimePacing runtimePacing(const std::vector<Report>& runtime);

std::string renderFidelityTable(const std::vector<FidelityTrace>& t);
std::string renderFidelityMarkdown(const std::vector<FidelityTrace>& t);
std::string renderFidelityHtml(const std::vector<FidelityTrace>& t);
nlohmann::ordered_json fidelityToJson(const std::vector<FidelityTrace>& t);

}  // namespace gomalloc::reports
