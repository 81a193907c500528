// Shared by the fuzz targets: read a trace from the fuzzer's bytes, strict and lenient, and load it.
// A TraceError is the expected outcome for bad input; any other exception, a crash or a sanitizer report is
// a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "traces/loader.h"
#include "traces/reader.h"

namespace gomalloc::traces::fuzz {

inline void readAndLoad(const char* name, std::string_view data) {
  for (bool lenient : {false, true}) {
    try {
      ReadOptions ro;
      ro.lenient = lenient;
      auto r = openTraceMemory(name, data, ro);
      ReplayProgram p = loadProgram(*r, LoadOptions{lenient});
      // The program must be self-consistent: every op's slot is in range, order covers every op.
      size_t ops = 0;
      for (auto& t : p.threads) {
        ops += t.size();
        for (auto& op : t)
          if (op.kind() != ReplayOp::Gc && op.slot >= p.slots) __builtin_trap();
      }
      if (ops != p.order.size()) __builtin_trap();
    } catch (const TraceError&) {
    }
  }
}

}  // namespace gomalloc::traces::fuzz
