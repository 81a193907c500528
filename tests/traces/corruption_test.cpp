// Damaged traces (issue 10): a .gmt file's checksums (version 3) find every changed byte and say where; a
// compressed trace that is truncated, corrupt or followed by garbage gives a TraceError naming the file and the
// place where its data ended, in every encoding; version 2 files still read.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <random>

#include "tests/traces/trace_test_util.h"
#include "traces/binary_format.h"
#include "traces/generate.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

constexpr Format kGmt{Encoding::Binary, Compression::None};

// A generated trace as events (each with a ts) and as a version 3 .gmt file.
std::vector<Event> generated(uint64_t events, const std::string& kind = "steady") {
  GenOptions o;
  o.kind = kind;
  o.events = events;
  o.gcEvery = 50;
  std::string bin;
  auto w = createWriter(stringSink(bin), kGmt, genHeader(o));
  generate(o, *w);
  w->finish();
  return readText("g.gmt", bin);
}

// Where each block (and, last, the end marker) starts in a version 3 file, walking its lengths.
std::vector<size_t> gmtBlocks(const std::string& bin) {
  std::vector<size_t> at;
  size_t pos = 16 + detail::getU32(bin.data() + 12) + detail::kGmtChecksum;
  while (pos + 8 <= bin.size()) {
    at.push_back(pos);
    pos += 8 + detail::getU32(bin.data() + pos + 4) + detail::kGmtChecksum;
  }
  return at;
}

// The same trace as version 2 (no checksums), as gomalloc wrote it before version 3.
std::string toVersion2(const std::string& v3) {
  std::vector<size_t> blocks = gmtBlocks(v3);
  std::string v2 = v3.substr(0, blocks[0] - detail::kGmtChecksum);
  v2[8] = 2;
  for (size_t i = 0; i < blocks.size(); i++) {
    size_t end = i + 1 < blocks.size() ? blocks[i + 1] : v3.size();
    v2 += v3.substr(blocks[i], end - blocks[i] - detail::kGmtChecksum);
  }
  return v2;
}

// What a reader sees of a compressed stream before its error (or its end).
std::string decodedPrefix(const std::string& compressed, Compression c) {
  auto in = decompress(memoryInput(compressed), c);
  std::string out;
  char buf[4096];
  try {
    while (size_t n = in->read(buf, sizeof buf)) out.append(buf, n);
  } catch (const std::exception&) {
  }
  return out;
}

// ---- CRC-32C ----

TEST(Crc32c, KnownValuesAndEveryImplementationAgrees) {
  // RFC 3720 (iSCSI), appendix B.4, and the usual check value.
  std::string zeros(32, '\0'), ones(32, '\xff'), up, down;
  for (int i = 0; i < 32; i++) up += char(i), down += char(31 - i);
  for (auto f : {detail::crc32cImpl(false), detail::crc32cImpl(true)}) {
    EXPECT_EQ(detail::crc32c("123456789", 9, 0, f), 0xe3069283u);
    EXPECT_EQ(detail::crc32c(zeros.data(), 32, 0, f), 0x8a9136aau);
    EXPECT_EQ(detail::crc32c(ones.data(), 32, 0, f), 0x62a8ab43u);
    EXPECT_EQ(detail::crc32c(up.data(), 32, 0, f), 0x46dd794eu);
    EXPECT_EQ(detail::crc32c(down.data(), 32, 0, f), 0x113fdb5cu);
    EXPECT_EQ(detail::crc32c("", 0, 0, f), 0u);
  }
  // Lengths around the 3-stream chunks (3 x 256 and 3 x 8192 bytes), at odd alignments, whole and in two parts.
  std::mt19937_64 rng(7);
  std::string data(3 * 8192 * 2 + 3 * 256 * 2 + 64, '\0');
  for (char& c : data) c = char(rng());
  for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{767}, size_t{768}, size_t{769}, size_t{24575},
                   size_t{24576}, size_t{24577}, size_t{3 * 8192 + 3 * 256 + 13}, data.size() - 3}) {
    SCOPED_TRACE(n);
    const char* p = data.data() + n % 3;
    uint32_t portable = detail::crc32c(p, n, 0, detail::crc32cPortable);
    EXPECT_EQ(detail::crc32c(p, n), portable);
    EXPECT_EQ(detail::crc32c(p, n, 0, detail::crc32cImpl(false)), portable);
    size_t half = n / 3;
    EXPECT_EQ(detail::crc32c(p + half, n - half, detail::crc32c(p, half)), portable);
  }
}

// ---- version 3: checksums ----

// Every byte of a small file, changed in several ways, is found: an error that names the file and a byte offset.
// Inside the header, a block or the end marker (past their lengths) the error is exactly the checksum of that
// part; a change to a length or to the fixed header gets the error that field's check gives (explained below).
TEST(GmtChecksums, EveryChangedByteIsFoundAndLocated) {
  std::vector<Event> ev = generated(300);
  std::string bin = encode(ev, kGmt, TraceHeader{nlohmann::ordered_json{{"note", "flip"}}, 4});
  std::vector<size_t> blocks = gmtBlocks(bin);
  ASSERT_EQ(blocks.size(), 2u);  // one block, then the end marker
  const size_t headerEnd = blocks[0], end = blocks[1];
  size_t checksumErrors = 0, fieldErrors = 0;
  withBothGmtDecoders([&] {
    for (size_t i = 0; i < bin.size(); i++) {
      for (uint8_t flip : {uint8_t(0x01), uint8_t(0x10), uint8_t(0x80), uint8_t(0xff)}) {
        SCOPED_TRACE(fmt::format("byte {} ^ 0x{:02x}", i, flip));
        std::string bad = bin;
        bad[i] = char(uint8_t(bad[i]) ^ flip);
        std::string msg = errorOf("c.gmt", bad, false, false);
        ASSERT_FALSE(msg.empty()) << "accepted";
        EXPECT_EQ(msg.rfind("c.gmt: ", 0), 0u) << msg;
        EXPECT_NE(msg.find(" (byte "), std::string::npos) << msg;
        if (i >= 16 && i < headerEnd) {  // the header's JSON and checksum
          EXPECT_EQ(msg, "c.gmt: header (byte 0): corrupt .gmt file: header checksum mismatch");
        } else if (i >= headerEnd + 8 && i < end) {
          EXPECT_EQ(msg, fmt::format("c.gmt: event 0 (byte {}): corrupt .gmt file: block 1 checksum mismatch",
                                     headerEnd));
        } else if (i >= end + 8) {
          EXPECT_EQ(msg, fmt::format("c.gmt: event 300 (byte {}): corrupt .gmt file: end marker checksum mismatch",
                                     end));
        } else if (i >= 12 && i < 16) {  // the header's length: the header then ends elsewhere
          EXPECT_TRUE(msg.find("header checksum mismatch") != std::string::npos ||
                      msg.find("in the .gmt header") != std::string::npos ||
                      msg.find("header length") != std::string::npos)
              << msg;
        } else if (i < 12) {  // magic, version, flags: what the field now says
          EXPECT_TRUE(msg.find("not a .gmt file") != std::string::npos ||
                      msg.find("unsupported .gmt") != std::string::npos ||
                      // version 3 ^ 1 = 2: read as version 2, whose first block header is now the header's
                      // checksum; its lengths fail (at most 1 in 65536 checksums would pass as an event count)
                      (bad[8] == 2 && msg.find("c.gmt: event 0 (byte ") == 0))
              << msg;
        } else {  // a block's or the end marker's count or length: its checksum is elsewhere, or out of reach
          EXPECT_TRUE(msg.find("checksum mismatch") != std::string::npos ||
                      msg.find("unexpected end of file (truncated?)") != std::string::npos ||
                      msg.find("corrupt .gmt file: block of") != std::string::npos)
              << msg;
        }
        if (msg.find("checksum mismatch") != std::string::npos) checksumErrors++;
        else fieldErrors++;
      }
    }
  });
  // Nearly every change is a checksum's: only the 24 bytes of fixed fields and lengths can give another error.
  EXPECT_GT(checksumErrors, 10 * fieldErrors);
}

// In a file of several blocks, a damaged block is named by its number (from 1), its first event and its byte
// offset, in a mapped file, in memory and decompressed.
TEST(GmtChecksums, ALaterBlockIsNamedByNumberEventAndByte) {
  std::vector<Event> ev = generated(140000, "web");
  std::string bin = encode(ev, kGmt);
  std::vector<size_t> blocks = gmtBlocks(bin);
  ASSERT_EQ(blocks.size(), 4u);  // 65536 + 65536 + 8928 events, the end marker
  TempDir dir;
  std::mt19937_64 rng(10);
  for (int k = 0; k < 12; k++) {
    size_t b = 1 + k % 2;
    size_t at = blocks[b] + 8 + rng() % (blocks[b + 1] - blocks[b] - 8);
    SCOPED_TRACE(at);
    std::string bad = bin;
    bad[at] = char(uint8_t(bad[at]) ^ uint8_t(1 + rng() % 255));
    std::string want = fmt::format("event {} (byte {}): corrupt .gmt file: block {} checksum mismatch", b * 65536,
                                   blocks[b], b + 1);
    EXPECT_EQ(errorOf("t.gmt", bad), "t.gmt: " + want);
    std::string zst;
    {
      auto sink = compress(stringSink(zst), Compression::Zstd);
      sink->write(bad.data(), bad.size());
      sink->finish();
    }
    EXPECT_EQ(errorOf("t.gmt.zst", zst), "t.gmt.zst: " + want);
    if (k < 2) {
      std::string path = dir.write("t.gmt", bad);
      try {
        auto r = openTrace(path);
        readAll(*r);
        ADD_FAILURE() << "accepted";
      } catch (const TraceError& e) {
        EXPECT_EQ(e.what(), path + ": " + want);
      }
    }
  }
  EXPECT_TRUE(sameEvents(readText("t.gmt", bin), ev));
}

// A change that the layout cannot see (a field's unused high bytes, an event's kind turned into another valid
// one) was accepted by version 2 with different events; version 3 finds it.
TEST(GmtChecksums, WhatVersion2AcceptedVersion3Refuses) {
  std::vector<Event> ev = generated(300);
  std::string v3 = encode(ev, kGmt), v2 = toVersion2(v3);
  size_t kinds2 = gmtKinds(v2), kinds3 = gmtBlocks(v3)[0] + 8 + detail::kGmtBlockHeader;
  ASSERT_EQ(v2.substr(kinds2, 300), v3.substr(kinds3, 300));
  size_t scan = 0;
  while (ev[scan].op != Op::Alloc) scan++;
  v2[kinds2 + scan] ^= char(detail::kKindFlag);  // scan flips
  v3[kinds3 + scan] ^= char(detail::kKindFlag);
  std::vector<Event> read2 = readText("t.gmt", v2);
  EXPECT_FALSE(sameEvents(read2, ev));
  EXPECT_EQ(errorOf("t.gmt", v3), fmt::format("t.gmt: event 0 (byte {}): corrupt .gmt file: block 1 checksum mismatch",
                                              kinds3 - 8 - detail::kGmtBlockHeader));
}

// ---- version 2 still reads ----

TEST(GmtVersion2, StillReads) {
  // examples/larson.gmt was written as version 2.
  std::string larson = slurp(std::string(GOMALLOC_SOURCE_DIR) + "/examples/larson.gmt");
  ASSERT_GT(larson.size(), 16u);
  EXPECT_EQ(detail::getU16(larson.data() + 8), 2);
  auto r = openTrace(std::string(GOMALLOC_SOURCE_DIR) + "/examples/larson.gmt");
  std::vector<Event> ev = readAll(*r);
  EXPECT_GT(ev.size(), 0u);
  // Written again it is version 3, with the same events and digest.
  std::string v3 = encode(ev, kGmt, r->header());
  EXPECT_EQ(detail::getU16(v3.data() + 8), 3);
  EXPECT_TRUE(sameEvents(readText("l.gmt", v3), ev));
  EXPECT_EQ(loadProgram(*openTraceMemory("a.gmt", larson)).digest, loadProgram(*openTraceMemory("b.gmt", v3)).digest);
  // A version 2 file made from a version 3 one reads the same, decompressed too, with both decoders.
  std::vector<Event> gen = generated(3000, "producer-consumer");
  std::string v2 = toVersion2(encode(gen, kGmt));
  withBothGmtDecoders([&] {
    EXPECT_TRUE(sameEvents(readText("g.gmt", v2), gen));
    std::string gz;
    auto sink = compress(stringSink(gz), Compression::Gzip);
    sink->write(v2.data(), v2.size());
    sink->finish();
    EXPECT_TRUE(sameEvents(readText("g.gmt.gz", gz), gen));
  });
}

// ---- compressed input: one error path for every encoding ----

struct Encoded {
  std::string name;
  Compression c;
  std::string plain, compressed;
};

std::vector<Encoded> everyCompressedEncoding(const std::vector<Event>& ev) {
  std::vector<Encoded> all;
  for (const char* name : {"t.gmt.zst", "t.gmt.gz", "t.json.zst", "t.json.gz", "t.jsonl.zst", "t.jsonl.gz"}) {
    Format f = *formatFromSuffix(name);
    all.push_back({name, f.compression, encode(ev, {f.encoding, Compression::None}), encode(ev, f)});
  }
  return all;
}

std::string codecName(Compression c) { return c == Compression::Zstd ? "zstd" : "gzip"; }

// Where the reader must report the end of data (plain[0..n) read, then the input failed): JSON, the line and
// column where the data ended and the event on that line (or the next one, once that line's event is
// complete); .gmt, the byte, and the event at which the block being read starts.
std::string endOfData(const Encoded& e, size_t n, const std::vector<Event>& ev) {
  const std::string& p = e.plain;
  if (e.name.find(".gmt") != std::string::npos) {
    std::vector<size_t> blocks = gmtBlocks(p);  // one block, then the end marker
    if (n < blocks[0]) return fmt::format("header (byte {})", n);
    return fmt::format("event {} (byte {})", n >= blocks[1] ? ev.size() : 0, n);
  }
  size_t lineStart = p.rfind('\n', n == 0 ? 0 : n - 1);
  lineStart = lineStart == std::string::npos || n == 0 ? 0 : lineStart + 1;
  size_t line = 1 + size_t(std::count(p.begin(), p.begin() + ptrdiff_t(lineStart), '\n'));
  std::string_view text(p.data() + lineStart, n - lineStart);
  if (line < 2) return fmt::format("header (line {}, column {})", line, n - lineStart + 1);  // events from line 2
  size_t event = line - 2 + (text.find('}') != std::string_view::npos);
  return fmt::format("event {} (line {}, column {})", event, line, n - lineStart + 1);
}

TEST(CompressedInput, TruncatedAnywhereIsReportedWhereTheDataEnded) {
  std::vector<Event> ev = generated(30000);  // more than a zstd block (128 KiB) of .gmt
  for (const Encoded& e : everyCompressedEncoding(ev)) {
    for (double cut : {0.02, 0.3, 0.5, 0.77, 0.95}) {
      std::string t = e.compressed.substr(0, size_t(double(e.compressed.size()) * cut));
      SCOPED_TRACE(e.name + fmt::format(" cut at {} of {}", t.size(), e.compressed.size()));
      std::string seen = decodedPrefix(t, e.c);
      ASSERT_EQ(seen, e.plain.substr(0, seen.size()));
      std::string want = fmt::format("{}: {}: unexpected end of file: the {} stream is truncated", e.name,
                                     endOfData(e, seen.size(), ev), codecName(e.c));
      for (bool lenient : {false, true}) EXPECT_EQ(errorOf(e.name, t, lenient), want);
    }
    // Cut at the end of the data, in the codec's own trailer.
    std::string t = e.compressed.substr(0, e.compressed.size() - 3);
    SCOPED_TRACE(e.name + " without its last 3 bytes");
    std::string seen = decodedPrefix(t, e.c);
    std::string msg = errorOf(e.name, t);
    EXPECT_EQ(msg.rfind(e.name + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("the " + codecName(e.c) + " stream is truncated"), std::string::npos) << msg;
  }
}

TEST(CompressedInput, DataAfterTheStreamIsAnError) {
  std::vector<Event> ev = generated(500);
  for (const Encoded& e : everyCompressedEncoding(ev)) {
    for (std::string garbage : {std::string("garbage after the stream\n"), std::string("\x01\x02", 2),
                                std::string(e.compressed.substr(0, 3))}) {
      SCOPED_TRACE(e.name + " + " + std::to_string(garbage.size()) + " bytes");
      std::string msg = errorOf(e.name, e.compressed + garbage);
      // After the trace: the event after the last, where the data ended.
      std::string at = e.name.find(".gmt") != std::string::npos
                           ? fmt::format("event 500 (byte {})", e.plain.size())
                           : fmt::format("event 500 (line {}, column 1)", std::count(e.plain.begin(), e.plain.end(), '\n') + 1);
      EXPECT_EQ(msg.rfind(e.name + ": " + at + ": data after the end of the " + codecName(e.c) + " stream", 0), 0u)
          << msg;
    }
    // Another complete stream after the first is the same stream, read on (concatenated .gz and .zst files).
    std::string twice = e.compressed + encode({}, {Encoding::JsonLines, e.c});
    std::string msg = errorOf(e.name, twice);
    EXPECT_NE(msg, "");  // the second one's bytes follow the trace: an error of the encoding, not the codec
    EXPECT_EQ(msg.find("data after the end of the"), std::string::npos) << msg;
  }
}

TEST(CompressedInput, CorruptDataIsAnErrorAtThePlaceItWasFound) {
  std::vector<Event> ev = generated(2000);
  for (const Encoded& e : everyCompressedEncoding(ev)) {
    // A broken block header in the middle of the stream (zstd: the next block's type and size; gzip: bytes of
    // the deflate stream): the codec fails, or the .gmt checksum finds the changed bytes first.
    std::string bad = e.compressed;
    size_t mid = bad.size() / 2;
    for (size_t i = mid; i < mid + 16; i++) bad[i] = char(0xff);
    SCOPED_TRACE(e.name);
    std::string seen = decodedPrefix(bad, e.c);
    std::string msg = errorOf(e.name, bad);
    EXPECT_EQ(msg.rfind(e.name + ": ", 0), 0u) << msg;
    bool codec = msg.find("corrupt " + codecName(e.c) + " data: ") != std::string::npos;
    bool checksum = msg.find("checksum mismatch") != std::string::npos;
    EXPECT_TRUE(codec || checksum) << msg;
    if (codec && seen.size() < e.plain.size() && seen == e.plain.substr(0, seen.size())) {
      EXPECT_NE(msg.find(endOfData(e, seen.size(), ev)), std::string::npos) << msg;
    }
  }
  // The gzip trailer's CRC-32 of the data.
  std::string gz = encode(ev, {Encoding::JsonLines, Compression::Gzip});
  gz[gz.size() - 6] ^= 1;
  EXPECT_NE(errorOf("t.jsonl.gz", gz).find("t.jsonl.gz: event 2000 (line 2002, column 1): corrupt gzip data: "
                                           "incorrect data check"),
            std::string::npos)
      << errorOf("t.jsonl.gz", gz);
}

// The commands: exit 2 with the file and the place, whatever the encoding (not 1 with a bare codec message).
TEST(CompressedInput, CommandsExitTwoNamingTheFile) {
  if (!std::filesystem::exists(GOMALLOC_BINARY)) GTEST_SKIP() << "gomalloc is not built";
  TempDir dir;
  std::vector<Event> ev = generated(60000);  // cut in half, every encoding has events before the cut
  std::vector<std::string> files;
  for (const Encoded& e : everyCompressedEncoding(ev)) {
    files.push_back(dir.write("cut-" + e.name, e.compressed.substr(0, e.compressed.size() / 2)));
    files.push_back(dir.write("trailing-" + e.name, e.compressed + "junk"));
  }
  for (const std::string& f : files) {
    for (std::string cmd : {"validate", "info", "replay --quiet --deterministic", "convert"}) {
      cmd += " " + f + (cmd == "convert" ? " " + dir.file("out.json") : "");
      SCOPED_TRACE(cmd);
      std::string err = dir.file("err.txt");
      int status = std::system((std::string(GOMALLOC_BINARY) + " " + cmd + " >/dev/null 2>" + err).c_str());
      ASSERT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), 2) << slurp(err);
      std::string text = slurp(err);
      EXPECT_NE(text.find(f + ": event "), std::string::npos) << text;
    }
  }
}

}  // namespace
}  // namespace gomalloc::traces
