// traces/stats.h: figures computed from a trace in one pass.
#include <gtest/gtest.h>

#include "traces/stats.h"
#include "tests/traces/trace_test_util.h"

namespace gomalloc::traces {
namespace {

using testing::doc;
using testing::TempDir;

// The bytes a mark scans in the objects with pointers live after the first N events: sizes rounded up to 8,
// objects without pointers and freed ones left out, gc events counted as events.
TEST(TraceStats, LiveScanBytesAfterCountsTheLiveObjectsWithPointers) {
  TempDir dir;
  const std::string path = dir.write(
      "t.json", doc({R"({"op": "alloc", "thread": 0, "id": 1, "size": 20, "scan": true})",
                     R"({"op": "alloc", "thread": 0, "id": 2, "size": 100})",
                     R"({"op": "alloc", "thread": 1, "id": 3, "size": 64, "scan": true})",
                     R"({"op": "gc"})",
                     R"({"op": "free", "thread": 0, "id": 1})",
                     R"({"op": "alloc", "thread": 0, "id": 4, "size": 9, "scan": true})"}));
  EXPECT_EQ(liveScanBytesAfter(path, 0), 0u);
  EXPECT_EQ(liveScanBytesAfter(path, 1), 24u);
  EXPECT_EQ(liveScanBytesAfter(path, 3), 24u + 64u);
  EXPECT_EQ(liveScanBytesAfter(path, 4), 24u + 64u);
  EXPECT_EQ(liveScanBytesAfter(path, 5), 64u);
  EXPECT_EQ(liveScanBytesAfter(path, 100), 64u + 16u);  // past the end: the whole trace
}

}  // namespace
}  // namespace gomalloc::traces
