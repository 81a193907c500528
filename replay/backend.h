// The allocators replay can drive. A Backend hands out and takes back memory on a P; the replay engine
// (replay/replayer.h) calls it from one worker thread per P, or from one thread for every P in
// deterministic mode.
//
// Hot path without virtual calls: each concrete backend derives from BackendImpl<Itself> and provides inline
// mallocFast/freeFast/gcRequestedFast; BackendImpl instantiates the engine's replay loops
// (replay/engine.h) for that type, so the loop calls them directly. Backends defined outside replay/ (tests)
// include replay/engine.h to get those loops instantiated.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "replay/result.h"

namespace gomalloc::replay {

namespace detail {
struct Run;
}

// Objects still allocated at the end of a replay: (address, requested size).
using LiveObjects = std::vector<std::pair<const void*, size_t>>;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // Allocates size bytes on P p. May throw (std::bad_alloc, or the backend's own error).
  virtual void* malloc(int p, size_t size, bool scan) = 0;
  // The object at ptr (size bytes as requested) dies, on P p (maybe not the P that allocated it).
  virtual void free(int p, void* ptr, size_t size) = 0;
  // The backend's pacer wants a GC cycle (go). Any thread may ask.
  virtual bool gcRequested() const { return false; }
  // True once per concurrent mark the pacer started (go with pacer=go1.19), when first asked.
  virtual bool takeMarkStart() { return false; }
  // Deterministic mode, after takeMarkStart(): the mark began after the trace's event at. Returns its length in
  // trace events when the backend is given one (go with gc_mark_events), else 0 (it ends by itself).
  virtual uint64_t markBegan(uint64_t at) { (void)at; return 0; }
  // The backend's marks count the trace's events in order (go with gc_mark_*): the replay must be deterministic.
  virtual bool needsDeterministic() const { return false; }
  // What a replay that is not deterministic is told then (the CLI says it before any work).
  static constexpr const char* kNeedsDeterministic =
      "gc_mark_events and gc_mark_starts count the trace's events in order: they need --deterministic";
  // The mark's events are spent: the backend ends it (Go: gcMarkDone) and asks for a cycle.
  virtual void markDone() {}
  // One GC cycle; the world is stopped. forced: a trace gc event (runtime.GC) rather than the pacer.
  virtual void gc(bool forced) { (void)forced; }
  // Heap figures, if the backend has them; the world is stopped.
  virtual std::optional<HeapFigures> heapFigures() const { return std::nullopt; }
  // The backend's effective settings, in a fixed order, for the report.
  virtual std::vector<std::pair<std::string, std::string>> settings() const { return {}; }
  // True when the harness should count allocations per size class itself (the backend has no such stats).
  virtual bool harnessClassCounts() const { return true; }
  // After the last event, the world stopped: add backend-specific statistics to r and, if verify, run the
  // backend's heap verifier against the live objects (setting r.verified and r.verifyErrors).
  virtual void describe(Result& r, const LiveObjects& live, bool verify) const {
    (void)r, (void)live, (void)verify;
  }
  // The allocator's own statistics (replay/allocstats.h: what they are read from, empty for none, and the
  // figures now), read with the world stopped at each trace gc event and after the last event.
  virtual std::string allocatorStatsSource() const { return {}; }
  virtual AllocatorFigures allocatorStats() const { return {}; }
  // Gives back the objects still live at the end of the replay (after describe).
  virtual void releaseLive(const LiveObjects& live) { (void)live; }

  // Engine entry points, implemented by BackendImpl.
  virtual void runWorker(detail::Run& run, int p) = 0;
  virtual void runDeterministic(detail::Run& run) = 0;
};

// The base of every concrete backend D, which provides:
//   void* mallocFast(int p, size_t size, bool scan);
//   void freeFast(int p, void* ptr, size_t size);
//   bool gcRequestedFast() const;          (a stop or a mark start pending; kHasGc = false skips the call)
//   static constexpr bool kHarnessClasses; (count per size class in the harness)
// and may provide, to replace the engine's choice between the two calls with something cheaper:
//   void* applyFast(int p, bool isFree, size_t size, bool scan, void* old);
//     (alloc: returns the new object; free: frees old and returns what the slot should keep, nullptr or old)
template <class D>
class BackendImpl : public Backend {
 public:
  // One alloc or free as the engine calls it.
  [[gnu::always_inline]] void* applyFast(int p, bool isFree, size_t size, bool scan, void* old) {
    if (isFree) {
      self().freeFast(p, old, size);
      return nullptr;
    }
    return self().mallocFast(p, size, scan);
  }
  void* malloc(int p, size_t size, bool scan) override { return self().mallocFast(p, size, scan); }
  void free(int p, void* ptr, size_t size) override { self().freeFast(p, ptr, size); }
  bool harnessClassCounts() const override { return D::kHarnessClasses; }
  void runWorker(detail::Run& run, int p) override;  // defined in replay/engine.h
  void runDeterministic(detail::Run& run) override;  // defined in replay/engine.h

 private:
  D& self() { return static_cast<D&>(*this); }
};

}  // namespace gomalloc::replay
