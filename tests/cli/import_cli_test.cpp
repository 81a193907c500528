// gomalloc import go-allocfreetrace on traces recorded at test time from a program no one here wrote: Go 1.19's
// own gofmt formatting files of Go's standard library, with GODEBUG=allocfreetrace=1. The import's counts are
// checked against the records' own, counted here independently of the importer.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/sizeclasses.h"
#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

using Json = nlohmann::json;

const char* kGo = "/usr/lib/go-1.19";
const std::string kGofmt = std::string(kGo) + "/bin/gofmt";
const std::string kHttp = std::string(kGo) + "/src/net/http/";

bool haveGo() { return std::filesystem::exists(kGofmt) && std::filesystem::exists(kHttp + "status.go"); }

#define REQUIRE_GO()                                                                                     \
  if (!haveGo()) GTEST_SKIP() << "Go 1.19 is not installed (" << kGofmt << "): run bash scripts/setup.sh"

// What the runtime printed, counted from the text: allocs per Go 1.19 size class of their rounded size.
struct Records {
  std::map<std::string, uint64_t> classes;
  uint64_t allocs = 0, frees = 0, gcs = 0;
};

Records countRecords(const std::string& text) {
  const auto table = core::SizeClassTable::go119();
  Records r;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("tracealloc(0x", 0) == 0) {
      const size_t comma = line.find(", 0x");
      const uint64_t size = std::stoull(line.substr(comma + 4), nullptr, 16);
      r.allocs++;
      r.classes[size > 32768 ? "large" : std::to_string(table.sizeToClass(size))]++;
    } else if (line.rfind("tracefree(0x", 0) == 0) {
      r.frees++;
    } else if (line == "tracegc()") {
      r.gcs++;
    }
  }
  return r;
}

// Records gofmt on files of net/http; stderr goes to out (through zstd when out ends in .zst).
void record(const std::string& env, const std::string& files, const std::filesystem::path& out, const ScratchDir& dir) {
  std::string args;
  std::istringstream f(files);
  for (std::string name; f >> name;) args += " '" + kHttp + name + "'";
  const std::string sink = out.extension() == ".zst" ? "2>&1 >/dev/null | zstd -q -c >'" + out.string() + "'"
                                                     : ">/dev/null 2>'" + out.string() + "'";
  const RunResult r = runShell("(env " + env + " '" + kGofmt + "'" + args + " " + sink + ")", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_GT(std::filesystem::file_size(out), 1000u);
}

Json infoJson(const std::filesystem::path& trace, const ScratchDir& dir) {
  const RunResult r = gomalloc("info '" + trace.string() + "' --format json", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  return Json::parse(r.out);
}

// Imports, validates, and checks the import against the records; replays on go and system.
// input: a file, or a shell command whose output is piped to "-" (standard input).
void checkImport(const std::string& input, bool piped, const std::string& text, const std::filesystem::path& out,
                 const ScratchDir& dir) {
  const std::string args = " -o '" + out.string() + "'";
  const RunResult imp = piped ? runShell("(" + input + " | '" GOMALLOC_BINARY "' import go-allocfreetrace -" + args + ")", dir)
                              : gomalloc("import go-allocfreetrace '" + input + "'" + args, dir);
  ASSERT_EQ(imp.code, 0) << imp.err;
  ASSERT_NE(imp.err.find("imported"), std::string::npos) << imp.err;
  const RunResult val = gomalloc("validate '" + out.string() + "'", dir);
  ASSERT_EQ(val.code, 0) << val.err;

  const Records want = countRecords(text);
  const Json j = infoJson(out, dir);
  const Json& im = j["meta"]["import"];
  EXPECT_EQ(j["events"]["alloc"], want.allocs);
  EXPECT_EQ(j["events"]["free"].get<uint64_t>(), want.frees - im["untraced_frees_dropped"].get<uint64_t>());
  EXPECT_EQ(j["events"]["gc"], want.gcs);
  EXPECT_EQ(im["allocs"], want.allocs);
  EXPECT_EQ(im["scan_guessed"].get<uint64_t>() + im["scan_settled_later"].get<uint64_t>() +
                im["scan_from_span"].get<uint64_t>() + im["scan_from_type"].get<uint64_t>() +
                im["scan_from_tiny_size"].get<uint64_t>(),
            want.allocs);
  std::map<std::string, uint64_t> got;
  for (const Json& c : j["size_classes"]) got[c["class"].get<std::string>()] = c["objects"].get<uint64_t>();
  EXPECT_EQ(got, want.classes) << "allocations per size class differ from the tracealloc records'";

  const RunResult go = gomalloc("replay '" + out.string() + "' --allocator go --deterministic --quiet --format json", dir);
  ASSERT_EQ(go.code, 0) << go.err;
  const RunResult sys = gomalloc("replay '" + out.string() + "' --allocator system --quiet --format json", dir);
  ASSERT_EQ(sys.code, 0) << sys.err;
}

// The recording imported from its file and from stdin (through cat): both check out, and give the same trace.
void checkFileAndStdin(const std::filesystem::path& in, const std::string& text,
                       const std::filesystem::path& fromFile, const std::filesystem::path& fromStdin,
                       const ScratchDir& dir) {
  checkImport(in.string(), false, text, fromFile, dir);
  checkImport("cat '" + in.string() + "'", true, text, fromStdin, dir);
  EXPECT_EQ(infoJson(fromFile, dir)["digest"], infoJson(fromStdin, dir)["digest"]);
}

TEST(ImportCli, GofmtDefaultGogcPlainAndStdin) {
  REQUIRE_GO();
  ScratchDir dir("import-gofmt");
  const auto in = dir / "gofmt.trace";
  record("GOMAXPROCS=1 GODEBUG=allocfreetrace=1", "jar.go method.go", in, dir);
  checkFileAndStdin(in, slurp(in), dir / "gofmt.gmt", dir / "stdin.jsonl.zst", dir);
}

TEST(ImportCli, GofmtSmallGogcCompressedHasGcAndFrees) {
  REQUIRE_GO();
  ScratchDir dir("import-gofmt-gogc");
  const auto in = dir / "gofmt.trace.zst";
  record("GOMAXPROCS=1 GOGC=1 GODEBUG=allocfreetrace=1", "status.go", in, dir);
  const RunResult text = runShell("zstd -dc '" + in.string() + "'", dir);
  ASSERT_EQ(text.code, 0);
  const Records want = countRecords(text.out);
  EXPECT_GE(want.gcs, 1u);
  EXPECT_GT(want.frees, 0u);
  checkFileAndStdin(in, text.out, dir / "gofmt.json", dir / "stdin.gmt", dir);  // compressed, also on stdin
}

// With gctrace and several Ps, the runtime's gc lines land inside records: every record is still imported.
TEST(ImportCli, GofmtWithGctraceOnTwoPs) {
  REQUIRE_GO();
  ScratchDir dir("import-gofmt-gctrace");
  const auto in = dir / "gofmt.trace";
  record("GOMAXPROCS=2 GOGC=1 GODEBUG=allocfreetrace=1,gctrace=1", "jar.go method.go", in, dir);
  const std::string text = slurp(in);
  uint64_t headers = 0, gctraces = 0;
  for (size_t at = text.find("tracealloc(0x"); at != std::string::npos; at = text.find("tracealloc(0x", at + 1)) headers++;
  for (size_t at = text.find(" MB goal"); at != std::string::npos; at = text.find(" MB goal", at + 1)) gctraces++;
  const auto out = dir / "gofmt.gmt";
  const RunResult imp = gomalloc("import go-allocfreetrace '" + in.string() + "' -o '" + out.string() + "'", dir);
  ASSERT_EQ(imp.code, 0) << imp.err;
  ASSERT_EQ(gomalloc("validate '" + out.string() + "'", dir).code, 0);
  const Json j = infoJson(out, dir);
  const Json& im = j["meta"]["import"];
  EXPECT_EQ(j["events"]["alloc"], headers);
  EXPECT_GE(gctraces, 1u);
  EXPECT_EQ(im["foreign_lines_skipped"].get<uint64_t>() + im["foreign_text_cut_from_lines"].get<uint64_t>(), gctraces);
  ASSERT_EQ(gomalloc("replay '" + out.string() + "' --allocator go --deterministic --quiet --format json", dir).code, 0);
}

TEST(ImportCli, BadInputNamesTheFileAndLine) {
  ScratchDir dir("import-bad");
  spit(dir / "bad.trace", "hello\ntracealloc(0xc000010000, size)\n");
  const RunResult r = gomalloc("import go-allocfreetrace '" + (dir / "bad.trace").string() + "' -o '" +
                                   (dir / "t.gmt").string() + "'",
                               dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad.trace"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "t.gmt"));
}

}  // namespace
}  // namespace gomalloc::testing
