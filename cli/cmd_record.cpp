// gomalloc record: runs a program with the recorder preloaded (traces/recorder/) and turns what it wrote into a
// trace (traces/record.h; docs/record.md).
#include <fmt/format.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <tuple>
#include <memory>

#include "cli/app.h"
#include "traces/error.h"
#include "traces/output.h"
#include "traces/record.h"

extern char** environ;

namespace gomalloc::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRecorderFile = "libgomalloc_recorder.so";

struct RecordOptions {
  std::vector<std::string> command;
  std::string output;
  bool followForks = false;
};

std::string recorderLibrary() {
  const fs::path lib = fs::path(selfExe()).parent_path() / kRecorderFile;
  if (!fs::exists(lib))
    throw UsageError(fmt::format("cannot record: the recorder library {} is missing (it is built with gomalloc, "
                                 "target gomalloc_recorder)",
                                 lib.string()),
                     kExitFailed);
  return lib.string();
}

// The environment of the recorded program: the recorder in front of any LD_PRELOAD, and where to write.
std::vector<std::string> recordEnvironment(const std::string& lib, const std::string& dir, bool follow) {
  std::vector<std::string> env;
  std::string preload = lib;
  for (char** e = environ; *e; e++) {
    std::string_view v(*e);
    if (v.starts_with("LD_PRELOAD=")) {
      if (v.size() > 11) preload += ":" + std::string(v.substr(11));
    } else if (!v.starts_with("GOMALLOC_RECORD_")) {
      env.emplace_back(v);
    }
  }
  env.push_back("LD_PRELOAD=" + preload);
  env.push_back("GOMALLOC_RECORD_DIR=" + dir);
  env.push_back("GOMALLOC_RECORD_LIB=" + lib);
  if (follow) env.push_back("GOMALLOC_RECORD_FOLLOW=1");
  return env;
}

// Runs the command (PATH searched) and returns its exit status as a shell gives it (128 + signal if killed).
int runRecorded(const std::vector<std::string>& command, std::vector<std::string> env, pid_t& pid) {
  std::vector<std::string> args = command;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  SigintGuard guard(false);  // Ctrl-C reaches the program (same process group); we write what it recorded
  if (int err = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data()))
    throw UsageError(fmt::format("cannot start {}: {}", command[0], std::strerror(err)), 2);
  return waitChild(pid);
}

// out for the main process; OUT's stem + ".PID" (+ "-N" for a later exec in the same process) + its suffixes.
std::string outputFor(const std::string& out, uint64_t pid, int image) {
  const fs::path p(out);
  std::string name = p.filename().string();
  const size_t dot = name.find('.', 1);
  const std::string stem = name.substr(0, dot), suffix = dot == std::string::npos ? "" : name.substr(dot);
  std::string tag = fmt::format(".{}{}", pid, image > 1 ? fmt::format("-{}", image) : "");
  return (p.parent_path() / (stem + tag + suffix)).string();
}

int runRecord(const RecordOptions& o) {
  const std::string lib = recorderLibrary();
  std::string out = o.output.empty() ? fs::path(o.command[0]).filename().string() + ".gmt" : o.output;
  if (!traces::formatFromSuffix(out))
    throw UsageError(fmt::format("{}: unknown trace suffix (use .json, .jsonl, .ndjson or .gmt, optionally + .zst or "
                                 ".gz)",
                                 out),
                     2);
  checkOutputs({out}, {});
  ScratchDirectory dir("record");
  pid_t pid = 0;
  const int code = runRecorded(o.command, recordEnvironment(lib, dir.path().string(), o.followForks), pid);

  // One raw file per process image: the program's first, then its own later images and (following) children.
  std::vector<traces::RawRecording> recs;
  for (auto& f : fs::directory_iterator(dir.path()))
    if (f.path().extension() == ".raw") try {
        recs.push_back(traces::readRawRecording(f.path().string()));
      } catch (const traces::TraceError& e) {
        throw UsageError(e.what(), kExitFailed);
      }
  std::sort(recs.begin(), recs.end(), [&](const auto& a, const auto& b) {
    auto rank = [&](const traces::RawRecording& r) { return r.process.pid == uint64_t(pid) ? 0 : 1; };
    return std::tuple(rank(a), a.process.startTs) < std::tuple(rank(b), b.process.startTs);
  });
  if (recs.empty() || recs[0].process.pid != uint64_t(pid))
    throw UsageError(fmt::format("{} wrote no recording: it did not load {} (a statically linked or setuid "
                                 "program ignores LD_PRELOAD){}",
                                 o.command[0], kRecorderFile,
                                 code ? fmt::format("; it exited with status {}", code) : ""),
                     kExitFailed);
  std::map<uint64_t, int> images;
  for (size_t i = 0; i < recs.size(); i++) {
    const int image = ++images[recs[i].process.pid];
    const std::string path = i == 0 ? out : outputFor(out, recs[i].process.pid, image);
    if (i) checkOutputs({path}, {});
    traces::RecordStats s;
    try {
      s = traces::convertRecording(recs[i], path);
    } catch (const traces::TraceError& e) {
      throw UsageError(e.what(), 2);
    }
    std::cerr << fmt::format("recorded {}{}: {} events ({} allocs, {} frees), {} thread{}, {:.3f} s, end: {}; wrote {}\n",
                             traces::shellJoin(s.command), i ? fmt::format(" (pid {})", s.pid) : "", s.events,
                             s.allocs, s.frees, s.threads, s.threads == 1 ? "" : "s", double(s.durationNs) / 1e9,
                             s.end, path);
    if (s.end == "none")
      warn(fmt::format("warning: {}: the process ended without the recorder's final flush (killed by SIGKILL?): the "
                       "events still in its buffers then are lost, not counted",
                       path));
    if (s.lostEvents || s.unreadableBytes)
      warn(fmt::format("warning: {}: {} events lost ({} failed writes), {} bytes of the raw recording unreadable", path,
                       s.lostEvents, s.failedWrites, s.unreadableBytes));
  }
  if (code) warn(fmt::format("{} exited with status {}", o.command[0], code));
  return code;
}

}  // namespace

void registerRecord(Registry& r) {
  auto o = std::make_shared<RecordOptions>();
  auto* sub = r.app.add_subcommand("record", "Run a program and record its allocations as a trace "
                                             "(gomalloc record -o app.gmt -- ./app args)");
  sub->add_option("-o,--output", o->output,
                  "Output trace (.json, .jsonl, .gmt; optionally .zst or .gz; default: the program's name + .gmt)");
  sub->add_flag("--follow-forks", o->followForks,
                "Record the program's children (fork) and exec'd programs too, each to a trace of its own "
                "(OUT's name + .PID)");
  sub->add_option("command", o->command, "The program and its arguments (after --)")->required();
  r.add(sub, [o] { return runRecord(*o); });
}

}  // namespace gomalloc::cli
