// gomalloc import heaptrack on recordings made at test time by Debian's heaptrack 1.4 of programs no one here wrote:
// /usr/bin/sort on a generated file, and /usr/bin/python3 (PYTHONMALLOC=malloc) growing buffers (realloc) on four
// threads. The import's counts are checked against the data file's own '+' and '-' lines, counted here; the trace
// validates, replays on go and system, and compare runs on it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::json;

const char* kHeaptrack = "/usr/bin/heaptrack";

#define REQUIRE_HEAPTRACK()                                                                                       \
  if (!std::filesystem::exists(kHeaptrack)) GTEST_SKIP() << "heaptrack is not installed (" << kHeaptrack          \
                                                         << "): run bash scripts/setup.sh"

// Records command with heaptrack into dir/name.zst (or .gz where zstd is missing: heaptrack's choice); returns it.
// env: variables for the program (set on heaptrack, which records only the program it starts, not env's child).
std::filesystem::path record(const std::string& command, const std::string& name, const ScratchDir& dir,
                             const std::string& env = "") {
  const auto base = dir / name;
  const RunResult r = runShell(env + " " + kHeaptrack + " -o '" + base.string() + "' " + command, dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  for (const char* suffix : {".zst", ".gz"})
    if (std::filesystem::exists(base.string() + suffix)) return base.string() + suffix;
  ADD_FAILURE() << "heaptrack wrote no data file: " << r.out << r.err;
  return base;
}

// The data file's text and its '+' and '-' lines, counted independently of the importer.
struct Lines {
  std::string text;
  uint64_t allocs = 0, frees = 0;
};

Lines decompressed(const std::filesystem::path& file, const ScratchDir& dir) {
  const std::string tool = file.extension() == ".zst" ? "zstd" : "gzip";
  const RunResult r = runShell(tool + " -dc '" + file.string() + "'", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  Lines l;
  l.text = r.out;
  std::istringstream in(l.text);
  for (std::string line; std::getline(in, line);) {
    l.allocs += line.rfind("+ ", 0) == 0;
    l.frees += line.rfind("- ", 0) == 0;
  }
  return l;
}

Json infoJson(const std::filesystem::path& trace, const ScratchDir& dir) {
  const RunResult r = gomalloc("info '" + trace.string() + "' --format json", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return Json::parse(r.out);
}

// Imports (from a file, or piped to "-"), validates, and checks the counts against the data file's lines.
Json importAndCheck(const std::string& input, bool piped, const Lines& want, const std::filesystem::path& out,
                    const ScratchDir& dir) {
  const std::string args = " -o '" + out.string() + "'";
  const RunResult imp = piped ? runShell("(" + input + " | '" GOMALLOC_BINARY "' import heaptrack -" + args + ")", dir)
                              : gomalloc("import heaptrack '" + input + "'" + args, dir);
  EXPECT_EQ(imp.code, 0) << imp.err;
  EXPECT_NE(imp.err.find("imported"), std::string::npos) << imp.err;
  const RunResult val = gomalloc("validate '" + out.string() + "'", dir);
  EXPECT_EQ(val.code, 0) << val.err;
  const Json j = infoJson(out, dir);
  const Json& im = j["meta"]["import"];
  EXPECT_EQ(j["events"]["alloc"], want.allocs);
  EXPECT_EQ(j["events"]["free"].get<uint64_t>(), want.frees - im["unmatched_frees_dropped"].get<uint64_t>());
  EXPECT_EQ(im["unmatched_frees_dropped"], 0) << "heaptrack's interpreter writes '-' only for known allocations";
  EXPECT_EQ(j["events"]["gc"], 0);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["meta"]["threads"], "unknown");
  EXPECT_EQ(j["live_at_exit"]["objects"], im["live_at_end"]);
  return j;
}

void replays(const std::filesystem::path& trace, const ScratchDir& dir) {
  const RunResult go = gomalloc("replay '" + trace.string() + "' --allocator go --deterministic --quiet --format json", dir);
  EXPECT_EQ(go.code, 0) << go.err;
  const RunResult sys = gomalloc("replay '" + trace.string() + "' --allocator system --quiet --format json", dir);
  EXPECT_EQ(sys.code, 0) << sys.err;
  const RunResult cmp = gomalloc("compare '" + trace.string() + "' --allocator go --allocator system --quiet", dir);
  EXPECT_EQ(cmp.code, 0) << cmp.err;
}

TEST(ImportHeaptrackCli, SortRecordingFromFileStdinAndPlain) {
  REQUIRE_HEAPTRACK();
  ScratchDir dir("import-heaptrack-sort");
  std::string words;  // 20000 lines of pseudo-random words, so sort allocates and frees its line buffers
  uint64_t x = 88172645463325252ull;
  for (int k = 0; k < 20000; k++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    words += std::to_string(x % 1000003) + " " + std::string(x % 40, char('a' + x % 26)) + "\n";
  }
  spit(dir / "words.txt", words);
  const auto data = record("/usr/bin/sort '" + (dir / "words.txt").string() + "' -o '" + (dir / "sorted.txt").string() + "'",
                           "sort", dir);
  const Lines want = decompressed(data, dir);
  ASSERT_GT(want.allocs, 100u);
  ASSERT_GT(want.frees, 10u);
  spit(dir / "sort.plain", want.text);

  const Json fromFile = importAndCheck(data.string(), false, want, dir / "sort.gmt", dir);
  EXPECT_NE(fromFile["meta"]["command"].get<std::string>().find("sort"), std::string::npos);
  const Json fromStdin = importAndCheck("cat '" + data.string() + "'", true, want, dir / "stdin.jsonl.zst", dir);
  const Json plain = importAndCheck((dir / "sort.plain").string(), false, want, dir / "plain.json", dir);
  EXPECT_EQ(fromFile["digest"], fromStdin["digest"]);
  EXPECT_EQ(fromFile["digest"], plain["digest"]);
  replays(dir / "sort.gmt", dir);

  const RunResult info = gomalloc("info '" + (dir / "sort.gmt").string() + "'", dir);
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("thread ids unknown"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("times "), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("frees_paired_lifo_by_choice"), std::string::npos) << info.out;
}

// Python's objects through malloc, buffers grown by realloc (heaptrack writes a realloc as '-' of the old
// allocation and '+' of the new), on four threads: one thread in the trace, frees paired within their infos.
TEST(ImportHeaptrackCli, PythonThreadsAndRealloc) {
  REQUIRE_HEAPTRACK();
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 is not installed";
  ScratchDir dir("import-heaptrack-python");
  spit(dir / "work.py",
       "import threading\n"
       "def work(n):\n"
       "    keep = []\n"
       "    for i in range(1500):\n"
       "        keep.append(bytearray(i % 300 + 1))\n"
       "        if i % 3 == 0: keep.pop(0)\n"
       "    b = bytearray()\n"
       "    for i in range(300): b += b'x' * i\n"  // grows in place or moves: realloc
       "ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
       "for t in ts: t.start()\n"
       "for t in ts: t.join()\n");
  const auto data = record("/usr/bin/python3 '" + (dir / "work.py").string() + "'", "py", dir, "PYTHONMALLOC=malloc");
  const Lines want = decompressed(data, dir);
  ASSERT_GT(want.allocs, 5000u);
  const Json j = importAndCheck(data.string(), false, want, dir / "py.gmt", dir);
  EXPECT_GT(j["meta"]["import"]["frees_paired_lifo_by_choice"].get<uint64_t>(), 0u);
  EXPECT_GE(j["meta"]["import"]["time_lines"].get<uint64_t>(), 1u);
  replays(dir / "py.gmt", dir);
}

TEST(ImportHeaptrackCli, BadInputNamesTheFileAndLine) {
  ScratchDir dir("import-heaptrack-bad");
  spit(dir / "bad.ht", "v 10400 3\nX ./prog\na 10 0\n+ 5\n");
  const RunResult r = gomalloc("import heaptrack '" + (dir / "bad.ht").string() + "' -o '" + (dir / "t.gmt").string() + "'", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("gomalloc: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("bad.ht"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "t.gmt"));
}

TEST(ImportHeaptrackCli, HelpListsEveryFormat) {
  ScratchDir dir("import-help");
  const RunResult r = gomalloc("import --help", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("go-allocfreetrace"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("heaptrack"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace gomalloc::testing
