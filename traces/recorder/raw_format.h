// The raw files `gomalloc record`'s preload library (traces/recorder/recorder.cpp) writes and the converter
// (traces/record.h) reads: one file per process image, DIR/PID-START.raw, a sequence of chunks appended with
// write(2) (docs/record.md, "Raw files"). Plain C++, no library: the recorder includes it too.
//
//   chunk  = magic:u32 kind:u32 thread:u32 count:u32 seq:u64 payload
//   events (kind 1): count records of one thread; seq is the thread's number of the first (0, 1, 2, ...)
//   process (kind 2): count bytes: RawProcess then the command line (/proc/self/cmdline, NUL-separated), padded
//                     with NULs to a multiple of 8 bytes so that the event chunks after it stay 8-byte aligned
//   end (kind 3): count bytes: RawEnd (the last one in the file is the final word)
//   clock (kind 4): count bytes: RawClock, a calibration pair; one precedes every other chunk (same write)
// Native byte order (the file never leaves the machine that wrote it).
#pragma once

#include <cstdint>

namespace gomalloc::traces::raw {

inline constexpr uint32_t kMagic = 0x43524d47;  // "GMRC"
inline constexpr uint32_t kChunkEvents = 1, kChunkProcess = 2, kChunkEnd = 3, kChunkClock = 4;

struct ChunkHeader {
  uint32_t magic = kMagic;
  uint32_t kind = 0;
  uint32_t thread = 0;  // events: the recorder's thread number (in order of first event per process)
  uint32_t count = 0;   // events: records; otherwise payload bytes
  uint64_t seq = 0;     // events: the thread's sequence number of the first record
};
static_assert(sizeof(ChunkHeader) == 24);

// What an event record's entry point was. Allocations below kFirstFree, frees from kFirstFree on.
enum Entry : uint8_t {
  kMalloc = 0,
  kCalloc,
  kReallocAlloc,  // the new block of a realloc (or reallocarray)
  kAligned,       // posix_memalign, aligned_alloc, memalign, valloc, pvalloc
  kNew,           // operator new, new[] (and their nothrow forms)
  kNewAligned,    // operator new with std::align_val_t
  kFirstFree = 16,
  kFree = kFirstFree,
  kReallocFree,  // the old block of a realloc that succeeded (or shrank to nothing)
  kDelete,       // operator delete, delete[] (unsized, sized, nothrow)
  kDeleteAligned,
  kEntries
};
inline bool isFree(uint8_t e) { return e >= kFirstFree; }

// One allocator call: ts is a tick of the recorder's clock (the time-stamp counter on x86, CLOCK_MONOTONIC ns
// elsewhere; the clock chunks map ticks to ns), taken after the real allocation returned and before the real
// free was called, so that ordering by (ts, free first) is a valid global order (docs/record.md).
struct Record {
  uint64_t ts;
  uint64_t ptr;
  uint64_t info;  // size (bits 0-47), log2 of the alignment asked for (bits 48-55, 0 none), Entry (bits 56-63)
  uint64_t size() const { return info & ((uint64_t{1} << 48) - 1); }
  unsigned alignLog2() const { return unsigned(info >> 48 & 0xff); }
  uint8_t entry() const { return uint8_t(info >> 56); }
  static uint64_t pack(uint64_t size, unsigned alignLog2, uint8_t entry) {
    return (size & ((uint64_t{1} << 48) - 1)) | uint64_t(alignLog2 & 0xff) << 48 | uint64_t(entry) << 56;
  }
};
static_assert(sizeof(Record) == 24);

struct RawProcess {
  uint64_t pid = 0, ppid = 0;
  uint64_t startTs = 0;    // CLOCK_MONOTONIC ns when the recorder became ready
  uint64_t startReal = 0;  // CLOCK_REALTIME ns at the same moment
  uint64_t forked = 0;     // 1: a child of a recorded process that followed it across fork
  uint64_t cmdBytes = 0;   // bytes of the command line after this struct (the payload is padded to 8 bytes)
};

// A calibration pair: a tick of the records' clock and CLOCK_MONOTONIC ns at the same moment (the tick is the
// midpoint of two reads around the ns read). A file without any: the ticks are ns.
struct RawClock {
  uint64_t tick = 0;
  uint64_t ns = 0;
};

enum EndReason : uint32_t { kEndExit = 1, kEndUnderscoreExit = 2, kEndSignal = 3, kEndExec = 4 };

struct RawEnd {
  uint32_t reason = 0;  // EndReason
  uint32_t signal = 0;  // kEndSignal: the signal
  uint64_t ts = 0;      // CLOCK_MONOTONIC ns
  uint64_t threads = 0;          // threads that recorded
  uint64_t beforeReady = 0;      // allocations served before the recorder was ready (not recorded)
  uint64_t bootstrap = 0;        // of those: served by the bootstrap arena while dlsym ran
  uint64_t lostEvents = 0;       // events recorded but not written (write errors, buffers busy at the end)
  uint64_t failedWrites = 0;     // write(2) calls that failed or wrote less
  uint64_t failedAllocs = 0;     // allocation calls that returned NULL (nothing to record)
};

}  // namespace gomalloc::traces::raw
