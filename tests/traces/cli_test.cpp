// The trace commands end to end: gomalloc validate, info, convert and gen, their exit codes and messages.
// Runs the gomalloc binary (skipped when it has not been built).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/traces/trace_test_util.h"

namespace gomalloc::traces {
namespace {

using namespace testing;

struct Result {
  int code;
  std::string out, err;
};

Result run(const TempDir& dir, const std::string& args) {
  std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  std::string cmd = std::string(GOMALLOC_BINARY) + " " + args + " >" + out + " 2>" + err;
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

class TraceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(GOMALLOC_BINARY)) GTEST_SKIP() << "gomalloc is not built";
  }
  TempDir dir;
};

TEST_F(TraceCli, ValidateExitsZeroForAValidTraceAndTwoWithEveryError) {
  std::string ok = std::string(GOMALLOC_SOURCE_DIR) + "/examples/tiny.json";
  Result a = run(dir, "validate " + ok);
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("valid json trace: 5 events (2 alloc, 2 free, 1 gc), 2 threads"), std::string::npos) << a.out;

  std::string bad = std::string(GOMALLOC_SOURCE_DIR) + "/examples/bad-free-not-live.json";
  Result b = run(dir, "validate " + bad);
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.err.find("bad-free-not-live.json: event 2 (line 7, column 5): free of id 1 that is not live"),
            std::string::npos)
      << b.err;
  EXPECT_NE(b.err.find("event 3 (line 8, column 5): free of id 9"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("invalid trace (2 errors)"), std::string::npos) << b.err;

  Result c = run(dir, "validate --lenient " + bad);
  EXPECT_EQ(c.code, 0);
  EXPECT_NE(c.err.find("warning: skipped 2 frees of ids that were not live (first: event 2 (line 7, column 5))"),
            std::string::npos)
      << c.err;

  Result d = run(dir, "validate " + std::string(GOMALLOC_SOURCE_DIR) + "/examples/bad-syntax.json");
  EXPECT_EQ(d.code, 2);
  EXPECT_NE(d.err.find("event 1 (line 6, column 32): expected ',' or '}'"), std::string::npos) << d.err;

  Result e = run(dir, "validate " + dir.file("missing.json"));
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.err.find("cannot open"), std::string::npos) << e.err;
}

TEST_F(TraceCli, ValidateListsEveryBadEventAndReadsOn) {
  Result a = run(dir, "validate " + std::string(GOMALLOC_SOURCE_DIR) + "/examples/bad-fields.json");
  EXPECT_EQ(a.code, 2);
  EXPECT_NE(a.err.find("bad-fields.json: event 0 (line 5, column 51): \"size\" is negative: -16"), std::string::npos)
      << a.err;
  EXPECT_NE(a.err.find("bad-fields.json: event 1 (line 6, column 12): unknown op \"realloc\""), std::string::npos)
      << a.err;
  EXPECT_NE(a.err.find("invalid trace (2 errors)"), std::string::npos) << a.err;

  // Reader errors and live-object errors in file order; a free after a skipped alloc is not live.
  std::string t = dir.write("m.jsonl", "{\"format\": \"gomalloc-trace\", \"version\": 1}\n"
                                       "{\"op\": \"alloc\", \"thread\": 0, \"id\": 1, \"size\": 1.5}\n"
                                       "{\"op\": \"free\", \"thread\": 0, \"id\": 1}\n"
                                       "{\"op\": \"alloc\", \"thread\": 0, \"size\": 8}\n"
                                       "{\"op\": \"alloc\", \"thread\": 0, \"id\": 2, \"size\": 8}\n");
  Result b = run(dir, "validate " + t);
  EXPECT_EQ(b.code, 2);
  size_t e0 = b.err.find("event 0 (line 2, column 47): wrong type for \"size\"");
  size_t e1 = b.err.find("event 1 (line 3, column 1): free of id 1 that is not live");
  size_t e2 = b.err.find("event 2 (line 4, column 1): missing required field \"id\"");
  EXPECT_TRUE(e0 != std::string::npos && e1 != std::string::npos && e2 != std::string::npos) << b.err;
  EXPECT_TRUE(e0 < e1 && e1 < e2) << b.err;
  EXPECT_NE(b.err.find("invalid trace (3 errors)"), std::string::npos) << b.err;
}

TEST_F(TraceCli, NearMissKeysAreWarnedAndUnknownKeysCountedByInfo) {
  std::string t = dir.write("k.json", "{\"format\": \"gomalloc-trace\", \"version\": 1, \"events\": [\n"
                                      "{\"op\": \"alloc\", \"thread\": 0, \"id\": 1, \"size\": 8, \"scna\": true},\n"
                                      "{\"op\": \"alloc\", \"thread\": 0, \"id\": 2, \"size\": 8, \"scna\": true, \"pc\": 7}\n"
                                      "]}\n");
  Result v = run(dir, "validate " + t);
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_NE(v.err.find("gomalloc: validate: " + t + ": line 2: unknown key \"scna\" (did you mean \"scan\"?)"),
            std::string::npos)
      << v.err;
  EXPECT_EQ(v.err.find("line 3: unknown key"), std::string::npos) << v.err;  // each key once
  EXPECT_EQ(v.err.find("\"pc\""), std::string::npos) << v.err;              // not a near-miss
  Result i = run(dir, "info " + t);
  EXPECT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("unknown keys       3 skipped (\"scna\" 2, \"pc\" 1)"), std::string::npos) << i.out;
  EXPECT_NE(i.err.find("unknown key \"scna\""), std::string::npos) << i.err;
  Result j = run(dir, "info --format json " + t);
  ASSERT_EQ(j.code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["unknown_keys"]["total"], 3);
  EXPECT_EQ(doc["unknown_keys"]["keys"]["scna"], 2);
  EXPECT_EQ(doc["unknown_keys"]["keys"]["pc"], 1);
  Result k = run(dir, "info --format json " + std::string(GOMALLOC_SOURCE_DIR) + "/examples/tiny.json");
  ASSERT_EQ(k.code, 0) << k.err;
  EXPECT_EQ(nlohmann::json::parse(k.out)["unknown_keys"]["total"], 0);
}

TEST_F(TraceCli, GenConvertAndInfoAgree) {
  Result g = run(dir, "gen web -o " + dir.file("w.json") + " --events 3000 --threads 3 --seed 5 --gc-every 500");
  ASSERT_EQ(g.code, 0) << g.err;
  ASSERT_EQ(run(dir, "convert " + dir.file("w.json") + " " + dir.file("w.gmt.zst")).code, 0);
  ASSERT_EQ(run(dir, "convert " + dir.file("w.gmt.zst") + " " + dir.file("w.jsonl")).code, 0);
  ASSERT_EQ(run(dir, "convert " + dir.file("w.jsonl") + " " + dir.file("w2.json")).code, 0);
  EXPECT_EQ(slurp(dir.file("w.json")), slurp(dir.file("w2.json")));

  Result i = run(dir, "info --format json " + dir.file("w.gmt.zst"));
  ASSERT_EQ(i.code, 0) << i.err;
  auto j = nlohmann::json::parse(i.out);
  EXPECT_EQ(j["events"]["total"], 3000);
  EXPECT_EQ(j["events"]["gc"], 6);
  EXPECT_EQ(j["threads"], 3);
  EXPECT_EQ(j["format"], "gmt.zst");
  EXPECT_EQ(j["meta"]["generator"]["seed"], 5);
  uint64_t classified = 0;
  for (auto& c : j["size_classes"]) classified += c["objects"].get<uint64_t>();
  EXPECT_EQ(classified, j["events"]["alloc"].get<uint64_t>());
  Result t = run(dir, "info " + dir.file("w.json"));
  EXPECT_NE(t.out.find(j["digest"].get<std::string>()), std::string::npos);  // same events, same digest
  EXPECT_NE(t.out.find("size class"), std::string::npos);
  EXPECT_NE(t.out.find("lifetime (events)"), std::string::npos);
  Result timed = run(dir, "info --time " + dir.file("w.gmt.zst"));
  EXPECT_NE(timed.out.find("M events/s"), std::string::npos) << timed.out;
}

TEST_F(TraceCli, GenIsDeterministicAndChecksItsArguments) {
  ASSERT_EQ(run(dir, "gen larson -o " + dir.file("a.jsonl") + " --events 2000").code, 0);
  ASSERT_EQ(run(dir, "gen larson -o " + dir.file("b.jsonl") + " --events 2000").code, 0);
  EXPECT_EQ(slurp(dir.file("a.jsonl")), slurp(dir.file("b.jsonl")));
  EXPECT_NE(run(dir, "gen nosuchkind -o " + dir.file("c.json")).code, 0);
  EXPECT_NE(run(dir, "gen steady -o " + dir.file("c.json") + " --threads 0").code, 0);
  Result bad = run(dir, "gen steady -o " + dir.file("c.xml"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown trace suffix"), std::string::npos) << bad.err;
}

TEST_F(TraceCli, ConvertOfABadTraceFailsUnlessLenient) {
  std::string bad = std::string(GOMALLOC_SOURCE_DIR) + "/examples/bad-alloc-live.json";
  Result a = run(dir, "convert " + bad + " " + dir.file("o.gmt"));
  EXPECT_EQ(a.code, 2);
  EXPECT_NE(a.err.find("gomalloc: "), std::string::npos);
  EXPECT_NE(a.err.find("event 1 (line 6, column 5): alloc of id 7 that is still live"), std::string::npos) << a.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.gmt")));
  Result b = run(dir, "convert --lenient " + bad + " " + dir.file("o.gmt"));
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(run(dir, "validate " + dir.file("o.gmt")).code, 0);
}

}  // namespace
}  // namespace gomalloc::traces
