// Importing a Go program's allocation trace: the standard error of a Go <= 1.22 program run with
// GODEBUG=allocfreetrace=1 (docs/trace-format.md, "Importing Go programs' traces").
//
// The runtime prints one record per traced event, each a header line, a goroutine header, stack frames and an
// empty line:
//   tracealloc(0xc000086020, 0x20, main.node)     an allocation: address, rounded size, type (if any)
//   tracefree(0xc000086020, 0x20)                 a dead object, printed when its span is swept
//   tracegc() ... end tracegc                     a collection (mark termination)
// The importer turns them into gomalloc events:
//   * alloc: the requested size from the innermost runtime.mallocgc(0xREQ, ...) frame (the rounded size when
//     the stack shows no such frame, or runtime.systemstack_switch() before it); pointer-free or not from
//     the type string (below); a fresh id per allocation.
//   * free: the id of the live allocation at that address. A free of an address never traced (the ~47 objects
//     allocated before the runtime reads GODEBUG) is counted and dropped.
//   * gc: every tracegc. Frees printed between tracegc n and n+1 are objects collection n found dead; they are
//     written just before that gc event, so a replay reclaims them in the same cycle the runtime did.
// Lines that belong to no record (gctrace, the program's own output) are counted and skipped.
#pragma once

#include <cstdint>
#include <string>

#include "traces/writer.h"

namespace gomalloc::traces {

struct GoImportOptions {
  enum class Threads { Single, Goroutine } threads = Threads::Single;  // goroutines are not Ps: see the docs
};

// What the import did and guessed, every repair counted (stored in the trace's meta.import, which info shows).
struct GoImportStats {
  uint64_t lines = 0, records = 0, allocs = 0, frees = 0, gcs = 0;
  uint64_t requestedFromFrame = 0;  // allocs whose requested size came from the mallocgc frame
  uint64_t roundedSize = 0;         // allocs given the rounded size (no usable mallocgc frame)
  uint64_t requestedOtherClass = 0;  // of those: the frame's size is not in the rounded size's class (not its call)
  uint64_t tinyBlocks = 0;          // pointer-free requests under 16 B: a new tiny block, written as 16 B
  uint64_t scanFromType = 0;        // pointer-free or not decided by the type string (or its absence)
  uint64_t scanFromTinySize = 0;    // named types shown as a 16 B block for a request of at most 8 B: tiny
  uint64_t scanFromSpan = 0;        // named types: the class of an earlier object of the same span
  uint64_t scanSettledLater = 0;    // named types: the class of a later object of the same span (first pass)
  uint64_t scanGuessed = 0;         // named types with nothing to go by: taken to hold pointers (a guess)
  uint64_t scanConflicts = 0;       // a typed object of the other class in a span: taken as a new span
  uint64_t untracedFrees = 0;       // frees of addresses never traced as allocated: dropped
  uint64_t reallocatedLive = 0;     // an alloc at the address of a live object: the old one freed first
  uint64_t foreignLines = 0;        // lines outside any record, or whole foreign lines inside one, skipped
  uint64_t splicedLines = 0;        // foreign output (gctrace, pacer, scav) cut out of a line, the line rejoined
  uint64_t headersAfterForeign = 0;  // record headers that began after foreign text on their line
  uint64_t framesElided = 0;        // records whose stack ends in "...additional frames elided..."
  uint64_t unterminated = 0;        // a last record cut by the end of the input (no empty line, no end tracegc)
  uint64_t framesMissing = 0;       // records that ended before a goroutine header
  uint64_t goroutines = 0;          // distinct goroutines seen on allocs and frees
};

// Imports path (plain, .zst or .gz by magic bytes; "-" for standard input, which is first copied to a
// temporary file) into a trace at out (any encoding, by suffix). Two passes over the input: the first counts,
// so the header's meta.import holds the stats; the second writes. Throws TraceError naming the file and line
// on a malformed record.
GoImportStats importGoAllocFreeTrace(const std::string& path, const std::string& out, const GoImportOptions& o);
// The stats as a JSON object (meta.import).
nlohmann::ordered_json goImportStatsJson(const GoImportStats& s);

// Pointer-free or not from a Go type string as allocfreetrace prints it ("" when mallocgc got no type):
// 0 pointer-free, 1 holds pointers, -1 unknown (a named struct or array type).
int goTypeHasPointers(const std::string& type);

}  // namespace gomalloc::traces
