#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/sizeclasses.h"

using namespace gomalloc::core;

namespace {
// Go 1.19's class sizes, written out independently of core/sizeclasses.cpp.
const std::vector<uint32_t> kGoSizes = {
    8,    16,   24,   32,   48,   64,   80,   96,    112,   128,   144,   160,   176,   192,   208,   224,  240,
    256,  288,  320,  352,  384,  416,  448,  480,   512,   576,   640,   704,   768,   896,   1024,  1152, 1280,
    1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200,  3456,  4096,  4864,  5376,  6144,  6528,  6784,  6912, 8192,
    9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};
}  // namespace

TEST(SizeClasses, Go119MatchesGosTableRowByRow) {
  std::ifstream in(std::string(GOMALLOC_SOURCE_DIR) + "/tests/data/go119_sizeclasses.txt");
  ASSERT_TRUE(in) << "golden table missing";
  SizeClassTable t = SizeClassTable::go119();
  ASSERT_EQ(t.numClasses(), 68u);
  std::string line;
  size_t c = 1;
  while (std::getline(in, line)) {
    auto& k = t[c];
    EXPECT_EQ(line, fmt::format("{:5d}  {:9d}  {:10d}  {:7d}  {:10d}  {:8.2f}%", c, k.size, k.npages * kPageSize,
                                k.nelems, k.tailWaste, 100 * k.maxWaste));
    c++;
  }
  EXPECT_EQ(c, 68u);
}

TEST(SizeClasses, EverySizeMapsToGosClassExhaustive) {
  SizeClassTable t = SizeClassTable::go119();
  EXPECT_EQ(t.size_to_class8()[0], 0);
  size_t want = 0;
  for (size_t size = 1; size <= kMaxSmallSize; size++) {
    while (kGoSizes[want] < size) want++;
    ASSERT_EQ(t.sizeToClass(size), want + 1) << "size " << size;
    ASSERT_GE(t[t.sizeToClass(size)].size, size);
  }
}

TEST(SizeClasses, Go113HasNo24ByteClass) {
  SizeClassTable t = SizeClassTable::go113();
  EXPECT_EQ(t.numClasses(), 67u);
  EXPECT_EQ(t[3].size, 32u);
  EXPECT_EQ(t.sizeToClass(17), 3);
  EXPECT_EQ(t.tinySizeClass(), 2);
}

TEST(SizeClasses, SpanPagesFollowGosRule) {
  // Go's generator starts from this rule, then merges and bumps classes; these agree with its table.
  EXPECT_EQ(spanPagesFor(8), 1u);
  EXPECT_EQ(spanPagesFor(1408), 2u);
  EXPECT_EQ(spanPagesFor(32768), 4u);
  for (uint32_t s = 8; s <= kMaxSmallSize; s += 8) {
    uint32_t span = spanPagesFor(s) * kPageSize;
    EXPECT_LE(span % s, span / 8) << s;
  }
}

TEST(SizeClasses, CustomTableDerivesSpans) {
  SizeClassTable t = SizeClassTable::custom({8, 16, 32, 1000 * 8, 32768});
  EXPECT_EQ(t.numClasses(), 6u);
  EXPECT_EQ(t[4].size, 8000u);
  EXPECT_EQ(t[4].npages, spanPagesFor(8000));
  EXPECT_EQ(t.sizeToClass(33), 4);
  EXPECT_EQ(t.sizeToClass(8001), 5);
}

TEST(SizeClasses, CustomTableRejectsBadTablesWithTheRule) {
  auto msg = [](std::vector<uint32_t> s) {
    try {
      SizeClassTable::custom(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(msg({16, 12, 32768}).find("multiples of 8"), std::string::npos);
  EXPECT_NE(msg({16, 8, 32768}).find("ascending"), std::string::npos);
  EXPECT_NE(msg({8, 24, 32768}).find("16 must be one of the sizes"), std::string::npos);
  EXPECT_NE(msg({8, 16, 1024}).find("32768"), std::string::npos);
  EXPECT_NE(msg({8, 16, 40000}).find("at most 32768"), std::string::npos);
  EXPECT_NE(msg({16}).find("at least 2"), std::string::npos);
}

TEST(Config, SetParsesAndRejects) {
  Config c;
  c.set("gogc", "50");
  EXPECT_EQ(c.gogc, 50);
  c.set("gogc", "off");
  EXPECT_LT(c.gogc, 0);
  c.set("mcentral", "locked");
  EXPECT_EQ(c.mcentral, McentralDesign::Locked);
  c.set("arena_bytes", "128MiB");
  EXPECT_EQ(c.arenaBytes, size_t{128} << 20);
  EXPECT_THROW(c.set("gogc", "fast"), std::invalid_argument);
  EXPECT_THROW(c.set("bogus", "1"), std::invalid_argument);
  EXPECT_THROW(c.set("arena_bytes", "3MiB"), std::invalid_argument);
  c.set("zeroing", "false");
  EXPECT_FALSE(c.zeroing);
  EXPECT_THROW(c.set("zeroing", "sometimes"), std::invalid_argument);
  c.set("free_mode", "immediate");
  EXPECT_EQ(c.mcentral, McentralDesign::Locked);
  Config p = Config::preset_("go1.13");
  EXPECT_EQ(p.sizeClassTable().numClasses(), 67u);
  EXPECT_EQ(p.mcentral, McentralDesign::Locked);
}
