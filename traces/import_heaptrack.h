// Importing a heaptrack recording: the data file `heaptrack CMD` writes (heaptrack 1.4, file format version 3;
// docs/trace-format.md, "Importing heaptrack recordings").
//
// The file is text, one record a line, a letter and hex fields:
//   v 10400 3            heaptrack's version (1.4.0) and the file format's (3)
//   X sort /etc/services the command line
//   I 1000 5e293f        page size and physical pages
//   s d /usr/bin/sort    a string (its length in bytes, then the text); strings are numbered from 1
//   i ADDR MOD [FN [FILE LINE [FN FILE LINE]...]]   an instruction pointer (numbered from 1; strings by number)
//   t IP PARENT          a trace node: an ip and its caller's node (numbered from 1; 0 is the root)
//   a SIZE TRACE         an allocation info: a size and the trace that allocated it (numbered from 0)
//   + INFO               an allocation of that info's size at that trace
//   - INFO               a free of an object allocated with that info (the recorder knew the address; the file
//                        does not say which object)
//   c MS                 elapsed milliseconds, written about every 10 ms
//   R PAGES              resident set size in pages
//   A                    heaptrack was attached to a running process (its earlier allocations are unknown)
//   S LEN TEXT           an embedded leak suppression
//   # ...                a comment
// The importer turns + into alloc (a fresh id, the info's size, on thread 0: the file has no thread ids) and - into
// free of the newest live object of the info (LIFO; objects of one info are alike but for their lifetimes, so the
// pairing is a choice, counted where it mattered). Every event's ts is the last c line's time, in ns.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace gomalloc::traces {

struct HeaptrackImportOptions {
  bool scan = true;  // native allocations carry no pointer information: written as holding pointers, or not
};

// What the import did and assumed, every repair counted (the trace's meta.import, which info shows).
struct HeaptrackImportStats {
  uint64_t lines = 0, allocs = 0, frees = 0;
  uint64_t allocInfos = 0, traces = 0, ips = 0, strings = 0;  // the records that describe allocation sites
  uint64_t timeLines = 0, lastTimeMs = 0, rssLines = 0;
  uint64_t eventsBeforeFirstTime = 0;  // events before the first c line: ts 0
  uint64_t timeBackwards = 0;          // c lines earlier than the one before: the later time kept
  uint64_t freesPairedByChoice = 0;    // frees of an info with several live objects: the newest taken (LIFO)
  uint64_t unmatchedFrees = 0;         // frees of an info with no live object: dropped
  uint64_t scanAssumed = 0;            // allocs whose scan flag is the --scan choice (all of them)
  uint64_t attached = 0;               // A lines: the recording began after the program did
  uint64_t suppressions = 0, comments = 0, emptyLines = 0;  // skipped
  uint64_t liveAtEnd = 0;              // objects never freed (heaptrack's "leaked")
  uint64_t heaptrackVersion = 0, fileVersion = 0, pageSize = 0, physicalPages = 0;
  std::string command;
};

// Imports path (plain, .zst or .gz by magic bytes; "-" for standard input) into a trace at out (any encoding, by
// suffix). Two passes: the first counts and finds every error before anything is written. Throws TraceError
// naming the file and line on malformed input (and on a raw file written by heaptrack -r, which must be
// interpreted first).
HeaptrackImportStats importHeaptrack(const std::string& path, const std::string& out, const HeaptrackImportOptions& o);
// The stats as a JSON object (meta.import).
nlohmann::ordered_json heaptrackImportStatsJson(const HeaptrackImportStats& s);

}  // namespace gomalloc::traces
