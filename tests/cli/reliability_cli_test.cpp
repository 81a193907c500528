// The promises of docs/reliability.md, run as a user meets them: outputs never clobber what they must not
// (devices, FIFOs, symlinks, the inputs), every write to stdout is checked, no temporary file survives a
// signal, Ctrl-C while a trace loads stops at once with exit 130, and lenient repairs reach the report.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/cli/cli_test_util.h"

namespace gomalloc::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The temporary files (NAME.tmp.PID) left in dir.
std::vector<std::string> temporaries(const ScratchDir& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir.path()))
    if (contains(e.path().filename().string(), ".tmp.")) out.push_back(e.path().filename().string());
  return out;
}

// gomalloc started directly (no shell between, so signals reach it as sent), its stdio sent to dir's files.
pid_t spawn(const std::vector<std::string>& args, const ScratchDir& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open((dir / "spawn.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open((dir / "spawn.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1), ::dup2(err, 2);
    if (::chdir(dir.path().c_str()) != 0) ::_exit(99);
    for (int s = 1; s < NSIG; s++) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv{const_cast<char*>(GOMALLOC_BINARY)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(GOMALLOC_BINARY, argv.data());
    ::_exit(98);
  }
  return pid;
}

// Waits for a file whose name contains part to appear in dir (up to 20 s).
bool waitForFile(const ScratchDir& dir, const std::string& part) {
  for (int i = 0; i < 2000; i++) {
    for (auto& e : fs::directory_iterator(dir.path()))
      if (contains(e.path().filename().string(), part)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// ---- outputs ----

TEST(Reliability, EveryOutputRefusesAnEmptyPath) {
  ScratchDir dir("rel-empty");
  for (const char* cmd : {"replay examples/tiny.json -o ''", "gen steady --events 10 -o ''",
                          "convert examples/tiny.json ''", "compare examples/tiny.json --allocator null -o ''",
                          "info examples/tiny.json --format html -o ''"}) {
    RunResult r = gomalloc(cmd, dir);
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "output path is empty")) << cmd << ": " << r.err;
  }
}

TEST(Reliability, AnOutputThatIsAnInputIsRefusedAndTheInputKept) {
  ScratchDir dir("rel-same");
  const std::string trace = (dir / "t.json").string(), before = slurp(GOMALLOC_SOURCE_DIR "/examples/tiny.json");
  spit(trace, before);
  fs::create_hard_link(trace, dir / "hard.json");
  fs::create_symlink(trace, dir / "soft.json");
  ASSERT_EQ(gomalloc("replay examples/tiny.json --allocator null --deterministic --format json -o " +
                         (dir / "base.json").string(), dir).code, 0);
  const std::string base = (dir / "base.json").string();
  struct Case {
    std::string command, victim;
  };
  const std::vector<Case> cases = {
      {"replay " + trace + " --format json -o " + trace, trace},
      {"replay " + trace + " --format json -o " + (dir / "hard.json").string(), trace},  // same inode, other name
      {"replay " + trace + " --format json -o " + (dir / "soft.json").string(), trace},  // a link to it
      {"convert " + trace + " " + (dir / "hard.json").string(), trace},
      {"compare " + trace + " --allocator null -o " + trace, trace},
      {"info " + trace + " --format html -o " + (dir / "hard.json").string(), trace},
      {"gate " + base + " " + base + " -o " + base, base},
      {"gate " + base + " " + base + " --junit " + base, base},
  };
  for (const Case& c : cases) {
    const std::string kept = slurp(c.victim);
    RunResult r = gomalloc(c.command, dir);
    EXPECT_EQ(r.code, 2) << c.command << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "it is the input")) << c.command << ": " << r.err;
    EXPECT_EQ(slurp(c.victim), kept) << c.command;
  }
  EXPECT_TRUE(fs::is_symlink(dir / "soft.json"));
}

TEST(Reliability, OutputsNameWhyTheyCannotBeWritten) {
  ScratchDir dir("rel-why");
  fs::create_directory(dir / "adir");
  struct Case {
    std::string output, reason;
  };
  const std::vector<Case> cases = {
      {(dir / "adir").string(), "it is a directory"},
      {(dir / "nodir/r.json").string(), "the directory " + (dir / "nodir").string() + " does not exist"},
      {(dir / "stdout.txt/r.json").string(), "Not a directory"},
  };
  for (const Case& c : cases)
    for (const std::string cmd : {"replay examples/tiny.json --allocator null -o ", "gen steady --events 10 -o ",
                                  "info examples/tiny.json --format html -o ",
                                  "info no-such-trace.json -o "}) {  // the output is checked before the input
      RunResult r = gomalloc(cmd + c.output, dir);
      EXPECT_EQ(r.code, 2) << cmd << c.output << ": " << r.err;
      EXPECT_TRUE(contains(r.err, "cannot write " + c.output + ": ")) << r.err;
      EXPECT_TRUE(contains(r.err, c.reason)) << r.err;
      EXPECT_FALSE(contains(r.err, "Success")) << r.err;
      EXPECT_FALSE(contains(r.err, ".tmp.")) << r.err;  // the user never named a temporary file
    }
  if (::geteuid() != 0) {  // root writes anywhere: the permission case needs an ordinary user
    fs::create_directory(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    RunResult r = gomalloc("replay examples/tiny.json --allocator null -o " + (dir / "ro/r.json").string(), dir);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "cannot create a file in " + (dir / "ro").string() + ": Permission denied")) << r.err;
    fs::permissions(dir / "ro", fs::perms::owner_all);
  }
}

TEST(Reliability, ADeviceOrAFifoIsWrittenInPlaceNeverReplaced) {
  ScratchDir dir("rel-dev");
  RunResult r = gomalloc("replay examples/tiny.json --allocator null --format json -o /dev/null", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_FALSE(fs::exists("/dev/null.tmp." + std::to_string(::getpid())));

  const fs::path fifo = dir / "report.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::string got;
  std::thread reader([&] { got = slurp(fifo); });  // opening blocks until gomalloc opens the other end
  r = gomalloc("replay examples/tiny.json --allocator null --deterministic --format json -o " + fifo.string(), dir);
  reader.join();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(got)["trace"]["events"], 5);
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(temporaries(dir).empty());
}

TEST(Reliability, ASymlinkIsFollowedAndAReplacedFileKeepsItsMode) {
  ScratchDir dir("rel-link");
  spit(dir / "report.json", "old");
  fs::permissions(dir / "report.json", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  fs::create_symlink("report.json", dir / "link.json");
  RunResult r = gomalloc("replay examples/tiny.json --allocator null --format json -o " + (dir / "link.json").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir / "link.json"));
  EXPECT_EQ(Json::parse(slurp(dir / "report.json"))["trace"]["events"], 5);
  EXPECT_EQ(fs::status(dir / "report.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  // A dangling link names the file to create.
  fs::create_symlink("new.json", dir / "dangling.json");
  r = gomalloc("replay examples/tiny.json --allocator null --format json -o " + (dir / "dangling.json").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir / "dangling.json"));
  EXPECT_TRUE(fs::is_regular_file(dir / "new.json"));
  EXPECT_TRUE(temporaries(dir).empty());
}

TEST(Reliability, AFullStdoutIsAnErrorInEveryCommand) {
  ScratchDir dir("rel-full");
  ASSERT_EQ(gomalloc("replay examples/tiny.json --allocator null --deterministic --format json -o " +
                         (dir / "base.json").string(), dir).code, 0);
  const std::string base = (dir / "base.json").string();
  const std::vector<std::string> commands = {
      "replay examples/tiny.json --allocator null", "replay examples/tiny.json --format json",
      "replay examples/tiny.json --allocator null -o -", "replay examples/tiny.json --allocator null --format csv",
      "info examples/tiny.json", "info examples/tiny.json --format json", "validate examples/tiny.json", "classes",
      "gate " + base + " " + base, "compare examples/tiny.json --allocator null", "--help", "replay --help"};
  for (const std::string& cmd : commands) {
    RunResult r = runShell("( '" GOMALLOC_BINARY "' " + cmd + " >/dev/full )", dir);
    EXPECT_EQ(r.code, 3) << cmd << ": " << r.err;  // 3: could not finish (1 means a regression only)
    EXPECT_TRUE(contains(r.err, "cannot write to standard output")) << cmd << ": " << r.err;
  }
}

// ---- signals ----

TEST(Reliability, NoTemporaryFileSurvivesASignal) {
  ScratchDir dir("rel-sig");
  struct Case {
    std::vector<std::string> args;
    int sig;
  };
  const std::vector<Case> cases = {
      {{"gen", "steady", "--events", "200000000", "-o", "big.gmt"}, SIGINT},
      {{"gen", "web", "--events", "200000000", "-o", "big.jsonl.zst"}, SIGTERM},
      {{"gen", "steady", "--events", "200000000", "-o", "big.json.gz"}, SIGHUP},
      {{"gen", "steady", "--events", "200000000", "-o", "big.jsonl"}, SIGQUIT},
  };
  for (const Case& c : cases) {
    const pid_t pid = spawn(c.args, dir);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(waitForFile(dir, ".tmp.")) << c.args[5];
    ::kill(pid, c.sig);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == c.sig) << c.args[5] << ": status " << status;
    EXPECT_TRUE(temporaries(dir).empty()) << c.args[5] << " left " << temporaries(dir).front();
    EXPECT_FALSE(fs::exists(dir / c.args[5])) << c.args[5];
  }
}

TEST(Reliability, SigtermToCompareEndsItsChildAndRemovesItsScratchDirectory) {
  ScratchDir dir("rel-compare");
  const fs::path scratch = dir / "tmp";
  fs::create_directory(scratch);
  ASSERT_EQ(gomalloc("gen steady --events 3000000 --seed 1 -o " + (dir / "sigterm-compare.gmt").string(), dir).code, 0);
  // TMPDIR points compare's scratch directory (gomalloc-compare-XXXXXX) into the test's own.
  ::setenv("TMPDIR", scratch.c_str(), 1);
  const pid_t pid = spawn({"compare", "sigterm-compare.gmt", "--allocator", "null", "--allocator", "system", "--repeat", "50", "--quiet"}, dir);
  ::unsetenv("TMPDIR");
  ASSERT_GT(pid, 0);
  bool started = false;  // the scratch directory exists and a child is at work
  for (int i = 0; i < 2000 && !started; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    started = !fs::is_empty(scratch);
  }
  ASSERT_TRUE(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_TRUE(fs::is_empty(scratch)) << fs::directory_iterator(scratch)->path();
  // No child outlives it: no gomalloc process still reads the trace ([g] keeps pgrep's own shell out).
  RunResult ps = runShell("(pgrep -f '[g]omalloc (compare|replay) sigterm-compare.gmt' || true)", dir);
  EXPECT_TRUE(ps.out.empty()) << ps.out;
}

TEST(Reliability, AFileSizeLimitIsAnErrorNotASignal) {
  ScratchDir dir("rel-fsize");
  // ulimit -f counts 1024-byte blocks in bash and 512-byte ones in some shells: either way far below the trace.
  RunResult r = runShell("ulimit -f 64 && '" GOMALLOC_BINARY "' gen steady --events 1000000 -o " +
                             (dir / "big.gmt").string(), dir);
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot write " + (dir / "big.gmt").string() + ": File too large")) << r.err;
  EXPECT_TRUE(temporaries(dir).empty());
  EXPECT_FALSE(fs::exists(dir / "big.gmt"));
}

TEST(Reliability, CtrlCWhileATraceLoadsStopsWithExit130) {
  ScratchDir dir("rel-load");
  // The trace comes through a FIFO, so the test decides how far loading has got when Ctrl-C comes.
  const fs::path fifo = dir / "t.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const pid_t pid = spawn({"replay", "t.jsonl", "--allocator", "null", "--quiet", "--format", "json", "-o", "r.json"}, dir);
  ASSERT_GT(pid, 0);
  const int fd = ::open(fifo.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  auto put = [&](uint64_t from, uint64_t to) {
    std::string s;
    for (uint64_t i = from; i < to; i++) s += "{\"op\":\"alloc\",\"thread\":0,\"id\":" + std::to_string(i) + ",\"size\":16}\n";
    ASSERT_EQ(::write(fd, s.data(), s.size()), ssize_t(s.size()));
  };
  const std::string header = "{\"format\":\"gomalloc-trace\",\"version\":1}\n";
  ASSERT_EQ(::write(fd, header.data(), header.size()), ssize_t(header.size()));
  put(0, 5000);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(pid, SIGINT);
  // Loading goes on only as far as its next check: keep it fed until the process lets go of the FIFO.
  ::signal(SIGPIPE, SIG_IGN);
  for (uint64_t i = 5000; i < 5'000'000; i += 2000) {
    std::string s;
    for (uint64_t k = i; k < i + 2000; k++) s += "{\"op\":\"alloc\",\"thread\":0,\"id\":" + std::to_string(k) + ",\"size\":16}\n";
    if (::write(fd, s.data(), s.size()) < 0) break;
  }
  ::close(fd);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string err = slurp(dir / "spawn.err");
  EXPECT_TRUE(contains(err, "interrupted while loading the trace; nothing was replayed")) << err;
  EXPECT_FALSE(fs::exists(dir / "r.json"));
  EXPECT_TRUE(temporaries(dir).empty());
}

// ---- lenient repairs reach the report ----

TEST(Reliability, LenientRepairsAreInTheReportEvenWhenQuiet) {
  ScratchDir dir("rel-lenient");
  spit(dir / "t.json", R"({"format":"gomalloc-trace","version":1,"events":[
    {"op":"alloc","id":1,"size":16,"thread":0,"ts":10},
    {"op":"alloc","id":2,"size":32,"thread":0,"ts":5},
    {"op":"free","id":7,"thread":0,"ts":11},
    {"op":"free","id":1,"thread":0,"ts":12}]})");
  RunResult r = gomalloc("replay " + (dir / "t.json").string() + " --lenient --quiet --allocator null --format json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const Json t = Json::parse(r.out)["trace"];
  EXPECT_EQ(t["skipped_frees"], 1);
  EXPECT_EQ(t["ts_backwards"], 1);
  ASSERT_EQ(t["warnings"].size(), 2u) << t.dump();
  EXPECT_TRUE(contains(t["warnings"].dump(), "skipped 1 free")) << t.dump();
  EXPECT_TRUE(contains(t["warnings"].dump(), "ts")) << t.dump();
  r = gomalloc("replay " + (dir / "t.json").string() + " --lenient --quiet --allocator null", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "warning   ")) << r.out;
}

}  // namespace
}  // namespace gomalloc::testing
