#include "core/mem.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__SANITIZE_THREAD__)
#define GOMALLOC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOMALLOC_TSAN 1
#endif
#endif

namespace gomalloc::core {

AddressSpace::AddressSpace(size_t windowBytes, size_t align, const std::string& setting) {
  // Go's arena hints on linux/amd64 (malloc.go mallocinit @ go1.19): 0x00c0<<32, then 0x01c0<<32, ... Taking
  // the first free one makes heap addresses the same from run to run (deterministic replays); if none is
  // free (sanitizers reserve some of these ranges), let the kernel choose.
  const int prot = PROT_NONE, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef GOMALLOC_TSAN
  // ThreadSanitizer owns the layout of the address space and aborts on fixed mappings outside its
  // application ranges: let the kernel choose.
  constexpr uintptr_t kHints = 0;
#else
  constexpr uintptr_t kHints = 0x80;
#endif
  for (uintptr_t i = 0; i < kHints; i++) {
    uintptr_t hint = (i << 40) | (uintptr_t{0xc0} << 32);
    if (hint % align != 0) continue;
    void* p = ::mmap(reinterpret_cast<void*>(hint), windowBytes, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) continue;
    if (reinterpret_cast<uintptr_t>(p) != hint) {  // a kernel that ignores MAP_FIXED_NOREPLACE
      ::munmap(p, windowBytes);
      continue;
    }
    mapping_ = base_ = hint;
    mappingSize_ = size_ = windowBytes;
    return;
  }
  mappingSize_ = windowBytes + align;
  void* p = ::mmap(nullptr, mappingSize_, prot, flags, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    throw std::runtime_error("cannot reserve " + std::to_string(windowBytes >> 20) +
                             " MiB of address space for the heap's arenas: " + std::strerror(err) + "; lower " +
                             setting + " or raise the address-space limit (ulimit -v)");
  }
  mapping_ = reinterpret_cast<uintptr_t>(p);
  base_ = (mapping_ + align - 1) & ~(uintptr_t(align) - 1);
  size_ = windowBytes;
}

AddressSpace::~AddressSpace() {
  if (mapping_) ::munmap(reinterpret_cast<void*>(mapping_), mappingSize_);
}

void AddressSpace::sysMap(uintptr_t v, size_t n) {
  if (::mprotect(reinterpret_cast<void*>(v), n, PROT_READ | PROT_WRITE) != 0)
    throw std::runtime_error(std::string("sysMap: mprotect failed: ") + std::strerror(errno));
}

void AddressSpace::sysUnused(uintptr_t v, size_t n) { ::madvise(reinterpret_cast<void*>(v), n, MADV_DONTNEED); }

}  // namespace gomalloc::core
