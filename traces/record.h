// Turning what `gomalloc record`'s preload library wrote (traces/recorder/raw_format.h: one raw file per
// process image, a chunk of records per thread buffer) into a trace (docs/record.md):
//   * the threads' records are merged by ts, a free before an alloc at the same ts (the recorder takes an
//     alloc's ts after the real call returned and a free's before the real call, so this order is valid even
//     when one thread frees an address and another gets it back);
//   * addresses become dense ids (1, 2, 3, ... in allocation order); a realloc is a free and an alloc under a
//     new id; threads are numbered 0..n-1 in the order of their first event;
//   * the records' ts are ticks of the recorder's clock (the time-stamp counter on x86): the file's calibration
//     pairs (tick, CLOCK_MONOTONIC ns) map them to ns; a thread whose ticks step backwards is counted;
//   * what cannot be known is counted, never guessed: frees of addresses never seen allocated (allocations
//     before the recorder was ready, or by an allocator the recorder does not see), allocations at an address
//     still live, events lost (gaps in a thread's sequence numbers, failed writes, a missing end record).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/io.h"
#include "traces/recorder/raw_format.h"
#include "traces/writer.h"

namespace gomalloc::traces {

// One raw file, parsed (the records stay in the mapped file).
struct RawRecording {
  struct Segment {
    const raw::Record* recs;
    uint32_t count;
    uint64_t seq;
  };
  struct Thread {
    uint32_t id = 0;  // the recorder's number
    std::vector<Segment> segments;
  };
  std::string path;
  std::unique_ptr<MappedFile> file;
  std::vector<std::vector<raw::Record>> copies;  // records of chunks that were not 8-byte aligned
  bool haveProcess = false, haveEnd = false;
  raw::RawProcess process;
  std::vector<std::string> command;  // argv from /proc/self/cmdline
  raw::RawEnd end;                   // the last end chunk
  std::vector<raw::RawClock> clock;  // the calibration pairs, in file order
  std::vector<Thread> threads;       // in the order of their first chunk
  uint64_t records = 0;
  uint64_t sequenceGaps = 0;     // records missing from a thread's sequence (lost)
  uint64_t duplicates = 0;       // records written twice (dropped)
  uint64_t unreadableBytes = 0;  // a truncated or damaged tail (from the first bad chunk on)
};

// Ticks (the records' ts) to CLOCK_MONOTONIC ns from calibration pairs: the line through the pairs with the
// smallest and the largest tick (the counter is assumed constant-rate: docs/record.md). Without two distinct
// pairs a tick is a ns (a file written by a recorder that reads CLOCK_MONOTONIC itself). Monotonic: a later
// tick never maps to an earlier ns.
class TickClock {
 public:
  explicit TickClock(std::vector<raw::RawClock> pairs);
  uint64_t ns(uint64_t tick) const;
  double ticksPerNs() const { return 1 / nsPerTick_; }

 private:
  uint64_t tick0_ = 0, ns0_ = 0;
  double nsPerTick_ = 1;
};

// Reads path. Throws TraceError naming the file when it is not a raw recording at all.
RawRecording readRawRecording(const std::string& path);

// What the conversion did, counted (stored in the trace's meta.record, which info shows).
struct RecordStats {
  std::vector<std::string> command;
  uint64_t pid = 0, ppid = 0;
  bool forked = false;
  uint64_t threads = 0, events = 0, allocs = 0, frees = 0;
  uint64_t durationNs = 0;
  uint64_t entries[raw::kEntries] = {};  // records by entry point (raw::Entry)
  uint64_t beforeReady = 0, bootstrap = 0;  // allocations the recorder could not record (counted by it)
  uint64_t unknownFrees = 0;                // frees of addresses never seen allocated: dropped
  uint64_t liveAddressReallocated = 0;      // an alloc at a live address: the old object freed first
  uint64_t lostEvents = 0;                  // sequence gaps + the recorder's own count of unwritten events
  uint64_t failedWrites = 0, failedAllocs = 0, duplicates = 0, unreadableBytes = 0;
  uint64_t threadsFolded = 0;  // threads beyond 65536, folded onto thread % 65536
  uint64_t clockBackwards = 0;  // records whose tick is below their thread's previous record's (ts clamped)
  double ticksPerNs = 1;        // the calibration (1: ticks are ns)
  uint64_t liveAtEnd = 0;
  std::string end;  // exit, _exit, exec, signal N (NAME), or "none" (no end record: killed, or still running)
};

// Writes rec as a trace to out (any encoding by its suffix), its meta holding the command line and the stats.
// Two passes over the records: one counts (so the header can hold meta.record), one writes.
RecordStats convertRecording(const RawRecording& rec, const std::string& out);
// The stats as a JSON object (meta.record).
nlohmann::ordered_json recordStatsJson(const RecordStats& s);
// argv as one shell-quoted line.
std::string shellJoin(const std::vector<std::string>& argv);

}  // namespace gomalloc::traces
