#include "core/mem.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gomalloc::core {

AddressSpace::AddressSpace(size_t windowBytes, size_t align) {
  mappingSize_ = windowBytes + align;
  void* p = ::mmap(nullptr, mappingSize_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    throw std::runtime_error("cannot reserve " + std::to_string(windowBytes >> 20) +
                             " MiB of address space for the heap: " + std::strerror(errno));
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
