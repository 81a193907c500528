// Address space and the OS: Go's memory states for heap memory. See malloc.h for the overview.
//
// Go tracks heap address space in four states (mem.go @ go1.19): None, Reserved (mapped PROT_NONE, not
// usable), Prepared (usable after sysUsed; we treat it like Ready: on Linux sysUsed is a no-op apart from
// huge-page advice), and Ready. We reserve one contiguous window of address space for all of a heap's
// arenas at construction (mmap PROT_NONE, MAP_NORESERVE: it costs no memory), take 64 MiB arenas from it in
// address order as Go takes them from its arena hints (the window itself starts at Go's first free hint,
// 0xc000000000 in a process with one heap), make 4 MiB steps read-write as the heap grows
// (sysMap = mprotect), and give free pages back with madvise(MADV_DONTNEED) (sysUnused), as Go does on
// Linux with its default madvdontneed=1. RSS is whatever the kernel then reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gomalloc::core {

class AddressSpace {
 public:
  // Reserves windowBytes of address space aligned to align. Throws std::runtime_error if mmap fails (an
  // address-space limit, ulimit -v), naming setting: what sets the window's size ("max_heap_bytes (64 GiB)").
  AddressSpace(size_t windowBytes, size_t align, const std::string& setting = "max_heap_bytes");
  ~AddressSpace();
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  uintptr_t base() const { return base_; }
  size_t size() const { return size_; }
  bool contains(uintptr_t p) const { return p - base_ < size_; }

  // Reserved -> Prepared: the range becomes readable and writable. Go: sysMap (mem_linux.go) @ go1.19
  void sysMap(uintptr_t v, size_t n);
  // Ready -> Prepared: the kernel may drop the pages (they read back as zeros). Go: sysUnused @ go1.19
  void sysUnused(uintptr_t v, size_t n);
  // Prepared -> Ready. A no-op on Linux, as in Go (which only re-enables huge pages). Go: sysUsed @ go1.19
  void sysUsed(uintptr_t, size_t) {}

 private:
  uintptr_t mapping_ = 0;  // what mmap returned (unaligned)
  size_t mappingSize_ = 0;
  uintptr_t base_ = 0;
  size_t size_ = 0;
};

}  // namespace gomalloc::core
