// Fuzzes the binary .gmt reader with the loader behind it: a well-formed header is kept in front of the
// fuzzer's bytes half of the time so that mutations reach the blocks. Seeds: fuzz/corpus/binary_reader/.
#include <string>

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view d(reinterpret_cast<const char*>(data), size);
  gomalloc::traces::fuzz::readAndLoad("fuzz.gmt", d);
  // The fixed header of an empty-meta file: magic, .gmt version 2, flags 0, and a 39-byte JSON header.
  static const std::string header = std::string("\x89GMT\r\n\x1a\n\x02\x00\x00\x00\x27\x00\x00\x00", 16) +
                                    R"({"format":"gomalloc-trace","version":1})";
  gomalloc::traces::fuzz::readAndLoad("fuzz.gmt", header + std::string(d));
  return 0;
}
