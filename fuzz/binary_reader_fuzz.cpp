// Fuzzes the binary .gmt reader with the loader behind it: the fuzzer's bytes as they are (the checksums of
// version 3 then turn away almost every change), and behind a well-formed header, of version 2 (no checksums)
// and of version 3 with the checksums made to match wherever the blocks' lengths lead (detail::gmtSeal), so
// that mutations reach the blocks' decoding. Seeds: fuzz/corpus/binary_reader/.
// The reader's two decoders (AVX-512 groups, where the CPU has them, and the portable one) must give the same
// events and the same error for every input, strict and lenient.
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_common.h"
#include "traces/binary_format.h"
#include "traces/writer.h"

namespace {

using namespace gomalloc::traces;

// Everything a read gives: the events (as JSON), the ts warnings, and the error if any.
std::string readOut(std::string_view data, bool lenient) {
  std::string out;
  try {
    ReadOptions ro;
    ro.lenient = lenient;
    auto r = openTraceMemory("fuzz.gmt", data, ro);
    Event buf[100];
    while (size_t n = r->read(buf, 100))
      for (size_t i = 0; i < n; i++) appendEventJson(out, buf[i]);
    for (auto& w : r->warnings()) out += w;
  } catch (const TraceError& e) {
    out += e.what();
  }
  return out;
}

void compareDecoders(std::string_view data) {
  for (bool lenient : {false, true}) {
    std::string groups = readOut(data, lenient);
    setenv("GOMALLOC_GMT_PORTABLE", "1", 1);
    std::string portable = readOut(data, lenient);
    unsetenv("GOMALLOC_GMT_PORTABLE");
    if (groups != portable) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view d(reinterpret_cast<const char*>(data), size);
  fuzz::readAndLoad("fuzz.gmt", d);
  // The fixed header of an empty-meta file: magic, .gmt version 2, flags 0, and a 39-byte JSON header.
  static const std::string header = std::string("\x89GMT\r\n\x1a\n\x02\x00\x00\x00\x27\x00\x00\x00", 16) +
                                    R"({"format":"gomalloc-trace","version":1})";
  std::string withHeader = header + std::string(d);
  fuzz::readAndLoad("fuzz.gmt", withHeader);
  compareDecoders(withHeader);
  // The same as version 3: the header's checksum (written by gmtSeal), then the blocks, sealed.
  std::string sealed = withHeader.substr(0, header.size()) + std::string(4, '\0') + std::string(d);
  sealed[8] = 3;
  gomalloc::traces::detail::gmtSeal(sealed.data(), sealed.size());
  fuzz::readAndLoad("fuzz.gmt", sealed);
  compareDecoders(sealed);
  // A version 3 input of the fuzzer's own, sealed.
  if (size >= 16 && d.substr(0, 8) == std::string_view(gomalloc::traces::detail::kGmtMagic, 8) && d[8] == 3) {
    std::string own(d);
    if (gomalloc::traces::detail::gmtSeal(own.data(), own.size())) {
      fuzz::readAndLoad("fuzz.gmt", own);
      compareDecoders(own);
    }
  }
  return 0;
}
