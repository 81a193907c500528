#include "replay/allocstats.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>

namespace gomalloc::replay {

namespace {

using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
using Mallinfo2 = struct mallinfo2 (*)();
using GetNumericProperty = int (*)(const char*, size_t*);
using ProcessInfo = void (*)(size_t*, size_t*, size_t*, size_t*, size_t*, size_t*, size_t*, size_t*);

}  // namespace

AllocatorStatsReader::AllocatorStatsReader(const std::string& library) {
  struct Candidate {
    const char* lib;
    Kind kind;
    const char* symbol;
    const char* source;
  };
  static const Candidate candidates[] = {
      {"libjemalloc", Kind::Jemalloc, "mallctl", "jemalloc mallctl"},
      {"libtcmalloc", Kind::Tcmalloc, "MallocExtension_GetNumericProperty", "tcmalloc MallocExtension"},
      {"libmimalloc", Kind::Mimalloc, "mi_process_info", "mimalloc mi_process_info"},
      {"glibc", Kind::Glibc, "mallinfo2", "glibc mallinfo2"},
  };
  for (const Candidate& c : candidates) {
    if (library.find(c.lib) == std::string::npos) continue;
    // RTLD_DEFAULT: the first definition in load order, which for a preloaded library is its own.
    if (void* f = ::dlsym(RTLD_DEFAULT, c.symbol)) {
      kind_ = c.kind;
      fn_ = f;
      source_ = c.source;
    }
    return;
  }
}

AllocatorFigures AllocatorStatsReader::read() const {
  AllocatorFigures out;
  switch (kind_) {
    case Kind::None: break;
    case Kind::Jemalloc: {
      auto mallctl = reinterpret_cast<Mallctl>(fn_);
      uint64_t epoch = 1;
      size_t len = sizeof epoch;
      mallctl("epoch", &epoch, &len, &epoch, sizeof epoch);  // the stats.* figures are cached until it changes
      for (const char* name : {"stats.allocated", "stats.active", "stats.resident", "stats.mapped", "stats.retained",
                               "stats.metadata"}) {
        size_t v = 0;
        len = sizeof v;
        if (mallctl(name, &v, &len, nullptr, 0) == 0) out.emplace_back(name, v);
      }
      break;
    }
    case Kind::Glibc: {
      const struct mallinfo2 m = reinterpret_cast<Mallinfo2>(fn_)();
      out = {{"arena", m.arena},       {"hblkhd", m.hblkhd},     {"uordblks", m.uordblks},
             {"fordblks", m.fordblks}, {"keepcost", m.keepcost}, {"hblks", m.hblks}};
      break;
    }
    case Kind::Tcmalloc: {
      auto get = reinterpret_cast<GetNumericProperty>(fn_);
      for (const char* name : {"generic.current_allocated_bytes", "generic.heap_size", "tcmalloc.pageheap_free_bytes",
                               "tcmalloc.pageheap_unmapped_bytes"}) {
        size_t v = 0;
        if (get(name, &v)) out.emplace_back(name, v);
      }
      break;
    }
    case Kind::Mimalloc: {
      size_t elapsed = 0, user = 0, sys = 0, rss = 0, peakRss = 0, commit = 0, peakCommit = 0, faults = 0;
      reinterpret_cast<ProcessInfo>(fn_)(&elapsed, &user, &sys, &rss, &peakRss, &commit, &peakCommit, &faults);
      out = {{"elapsed_msecs", elapsed}, {"user_msecs", user},         {"system_msecs", sys},
             {"current_rss", rss},       {"peak_rss", peakRss},        {"current_commit", commit},
             {"peak_commit", peakCommit}, {"page_faults", faults}};
      break;
    }
  }
  return out;
}

}  // namespace gomalloc::replay
