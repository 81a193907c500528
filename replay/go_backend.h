// The `go` backend: core's model of Go 1.19's allocator (core/malloc.h), one mcache per P.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/malloc.h"
#include "replay/backend.h"

namespace gomalloc::replay {

class GoBackend final : public BackendImpl<GoBackend> {
 public:
  static constexpr bool kHarnessClasses = false;  // the heap counts per span class itself
  static constexpr bool kHasGc = true;

  // cfg.procs is replaced by procs (the replay's number of Ps).
  GoBackend(core::Config cfg, int procs);

  std::string name() const override { return "go"; }
  bool gcRequested() const override { return heap_->gcRequested(); }
  bool takeMarkStart() override { return heap_->takeMarkStart(); }
  uint64_t markBegan(uint64_t at) override { return heap_->markBegan(at); }
  bool needsDeterministic() const override { return cfg_.marksGiven(); }
  void markDone() override { heap_->markDone(); }
  void gc(bool forced) override { heap_->gc(forced); }
  std::optional<HeapFigures> heapFigures() const override;
  std::vector<std::pair<std::string, std::string>> settings() const override { return cfg_.entries(); }
  void describe(Result& r, const LiveObjects& live, bool verify) const override;

  void* mallocFast(int p, size_t size, bool scan) { return heap_->malloc(p, size, scan); }
  void freeFast(int p, void* ptr, size_t size) { heap_->free(p, ptr, size); }
  bool gcRequestedFast() const { return heap_->attention(); }  // a stop, or a mark start to note

  core::Heap& heap() { return *heap_; }
  const core::Config& config() const { return cfg_; }

 private:
  core::Config cfg_;
  std::unique_ptr<core::Heap> heap_;
};

extern template class BackendImpl<GoBackend>;

}  // namespace gomalloc::replay
