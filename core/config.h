// The one configuration of a Go-model heap: passed at construction, printable, settable by key.
// See malloc.h for the overview and docs/config.md for every key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/sizeclasses.h"

namespace gomalloc::core {

enum class McentralDesign : uint8_t {
  SpanSet,  // Go 1.19: partial/full swept/unswept lock-free span sets, no mcentral lock.
  Locked,   // Go 1.13: nonempty/empty span lists under one lock per mcentral.
};
enum class Pacer : uint8_t {
  Go119,    // Go 1.19: trigger from the cons/mark runway, a concurrent mark measured in allocated bytes.
  Instant,  // the trigger at the clamps' top (runway 0) and an instantaneous mark at a stop-the-world point.
};
enum class FreeMode : uint8_t {
  Deferred,   // Go: a freed object is reclaimed when its span is swept after the next GC cycle.
  Immediate,  // malloc/free: the slot is reusable at once.
};

struct Config {
  std::string preset = "go1.19";
  int gogc = 100;                       // GOGC; negative = off
  int procs = 1;                        // number of Ps (GOMAXPROCS)
  size_t arenaBytes = size_t{64} << 20; // heapArenaBytes; a power of two, at least 4 MiB
  // The most arena memory the heap may map (HeapSys), and the address space it reserves for its arenas
  // (rounded up to arenaBytes, PROT_NONE until used). 0 = auto: autoMaxHeapBytes.
  size_t maxHeapBytes = 0;
  bool pageCache = true;                // per-P 64-page cache (Go 1.14+)
  bool scavenger = true;                // return free pages with madvise(MADV_DONTNEED)
  int scavengerPace = 64;               // per cycle, release at most 1/N of the bytes allocated in it (0: all)
  bool tinyAlloc = true;                // tiny allocator for pointer-free requests < 16 B
  bool zeroing = true;                  // zero reused memory as mallocgc(needzero=true) does; false: never
  FreeMode freeMode = FreeMode::Deferred;
  Pacer pacer = Pacer::Go119;
  // Go 1.19 pacer inputs the model cannot measure (docs/config.md): the cons/mark ratio (mutator bytes
  // allocated per byte of scan work at 25% GC CPU), and the stack and globals scan work of the program.
  double gcConsMark = 0.5;
  size_t gcStacksBytes = 1616;     // lastStackScan of a small Go 1.19 program (gcpacertrace)
  size_t gcGlobalsBytes = 223344;  // its .data + .bss (globalsScan)
  // Live heap outside the trace (the program's and the runtime's own objects, alive throughout): counted by
  // the pacer in heapLive and heapMarked, never in the MemStats figures. 0: the trace's objects only.
  size_t gcBaselineBytes = 0;
  // Of it, the bytes every mark scans (objects with pointers): in the runway and the mark's length.
  size_t gcBaselineScanBytes = 0;
  // The share of the CPU the concurrent mark gets (background worker and assists); Go plans for 25%.
  double gcMarkUtilization = 0.25;  // as Go plans it: the mark lasts the runway (docs/config.md)
  // The marks' lengths in trace events instead (empty: from gc_mark_utilization): the k-th concurrent mark lasts
  // gcMarkEvents[k mod size] events. A mark's length is CPU time, which a replay in bytes cannot know; fidelity
  // gives the real runtime's. Deterministic replays only.
  std::vector<uint64_t> gcMarkEvents;
  // The cons/mark estimates instead of gc_cons_mark (empty: gc_cons_mark): the trigger after the k-th paced cycle
  // uses gcConsMarks[k mod size]; a negative one gives Go's unsigned runway past the goal (the 45/64 clamp). Go
  // 1.19's estimate smooths a measurement of CPU time; fidelity gives the real runtime's, cycle by cycle.
  std::vector<double> gcConsMarks;
  // The events after which those marks began (empty: off). With them the lists are read by position in the
  // trace, not by count, so that one early difference does not shift every later cycle's inputs: a mark that
  // begins after event e is the given mark that began nearest e (the earlier of two as near); it takes that mark's
  // length, and the trigger set at its end takes the estimate set at that mark's end. Deterministic replays only.
  std::vector<uint64_t> gcMarkStarts;
  McentralDesign mcentral = McentralDesign::SpanSet;
  std::vector<uint32_t> sizeClasses;    // empty = the preset's table

  // Not keys (never printed; max_heap_bytes=auto prints "auto"): what auto stands for, set by whoever builds
  // the heap (replay: its memory limit, which follows the machine; replay/limits.h), and where that figure
  // came from, for the error when the heap would grow past it ("the machine's memory: cgroup limit").
  size_t autoMaxHeapBytes = size_t{64} << 30;
  std::string autoMaxHeapOrigin;

  // The presets: "go1.19" (the default) and "go1.13" (67 classes without 24 B, locked mcentral, no page cache).
  static Config preset_(const std::string& name);
  // Sets one key from text ("gogc", "100"). Throws std::invalid_argument with a clear message.
  void set(const std::string& key, const std::string& value);
  // Every effective setting as key/value text, in a fixed order (printed into every report).
  std::vector<std::pair<std::string, std::string>> entries() const;
  // The given mark (gc_mark_events, gc_cons_marks) that the k-th concurrent mark, begun after the
  // trace's event at, follows: k, or by position with gc_mark_starts.
  uint64_t givenMark(uint64_t k, uint64_t at) const;
  // The given mark j's length in events (0: none given), and the cons/mark estimate the trigger after it uses
  // (gc_cons_mark when none is given).
  uint64_t markEventsOf(uint64_t j) const { return gcMarkEvents.empty() ? 0 : gcMarkEvents[j % gcMarkEvents.size()]; }
  double consMarkAfter(uint64_t j) const {
    return gcConsMarks.empty() ? gcConsMark : gcConsMarks[(j + 1) % gcConsMarks.size()];
  }
  // Marks of given lengths or positions count the trace's events in order: they need a deterministic replay.
  bool marksGiven() const { return !gcMarkEvents.empty() || !gcMarkStarts.empty(); }
  // The effective max_heap_bytes (explicit, or what auto stands for), a multiple of 4 MiB, at least 4 MiB.
  size_t heapLimitBytes() const;
  // The address window the heap reserves: heapLimitBytes() rounded up to arenaBytes.
  size_t heapWindowBytes() const;
  // "max_heap_bytes (64 MiB, from --memory-limit)": the setting, its value and where it came from.
  std::string maxHeapText() const;
  // The effective size-class table (custom or the preset's).
  SizeClassTable sizeClassTable() const;
  // Throws std::invalid_argument if settings contradict each other.
  void validate() const;
  static const std::vector<std::string>& keys();

 private:
  void apply(const std::string& key, const std::string& value);
};

}  // namespace gomalloc::core
