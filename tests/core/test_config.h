// Shared by the core tests: a Config with a 4 GiB heap limit and the given settings applied in order.
#pragma once

#include <initializer_list>
#include <utility>

#include "core/config.h"

inline gomalloc::core::Config cfgWith(std::initializer_list<std::pair<const char*, const char*>> kv) {
  gomalloc::core::Config c;
  c.maxHeapBytes = size_t{4} << 30;
  for (auto& [k, v] : kv) c.set(k, v);
  return c;
}
