// The allocator's own statistics, beside the kernel's RSS: jemalloc's mallctl "stats.*", glibc's mallinfo2,
// tcmalloc's MallocExtension numeric properties, mimalloc's mi_process_info. The functions are looked up at run
// time (dlsym), so gomalloc has no link-time dependency on any allocator: the system backend reads the malloc it
// runs with, which is the preloaded library in the child of the jemalloc, tcmalloc and mimalloc backends
// (reports/preload.h). docs/report.md ("allocator_stats") names every figure.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gomalloc::replay {

// (name as the allocator calls it, value), in the allocator's order.
using AllocatorFigures = std::vector<std::pair<std::string, uint64_t>>;

struct AllocatorStatsAtGc {
  uint64_t event = 0;  // the trace gc event's index in the trace (0-based, every event counted)
  uint64_t gc = 0;     // its ordinal among the trace's gc events (0-based)
  AllocatorFigures figures;
};

struct AllocatorStats {
  std::string source;  // what was read: "jemalloc mallctl", "glibc mallinfo2", ...
  AllocatorFigures atEnd;
  std::vector<AllocatorStatsAtGc> atGc;  // in the trace's order
};

// Reads the statistics of one malloc library of this process.
class AllocatorStatsReader {
 public:
  // library: SystemBackend::detectMallocLibrary()'s answer (a path naming libjemalloc, libtcmalloc or
  // libmimalloc, or "glibc"). available() is false when the library's functions are not found.
  explicit AllocatorStatsReader(const std::string& library);
  bool available() const { return kind_ != Kind::None; }
  const std::string& source() const { return source_; }
  // The figures now (jemalloc: after refreshing its "epoch"). Figures the library does not have (jemalloc built
  // without statistics, an unknown tcmalloc property) are left out.
  AllocatorFigures read() const;

 private:
  enum class Kind { None, Jemalloc, Glibc, Tcmalloc, Mimalloc };
  Kind kind_ = Kind::None;
  void* fn_ = nullptr;
  std::string source_;
};

}  // namespace gomalloc::replay
