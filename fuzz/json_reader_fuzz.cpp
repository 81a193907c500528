// Fuzzes the JSON document and JSON Lines readers (and the encoding detection in front of them) with the
// loader behind them. Seeds: fuzz/corpus/json_reader/.
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view d(reinterpret_cast<const char*>(data), size);
  gomalloc::traces::fuzz::readAndLoad("fuzz.json", d);   // a document
  gomalloc::traces::fuzz::readAndLoad("fuzz.jsonl", d);  // JSON Lines
  gomalloc::traces::fuzz::readAndLoad("fuzz.trace", d);  // decided by content
  return 0;
}
