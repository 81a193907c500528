// Memory limits (replay/limits.h): reading the machine, the auto limit, --memory-limit's values, the guards of
// every backend, and the default number of Ps for traces with many threads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/mheap.h"
#include "replay/basic_backends.h"
#include "replay/factory.h"
#include "replay/go_backend.h"
#include "replay/limits.h"
#include "replay/replayer.h"
#include "replay/synth.h"

namespace gomalloc::replay {
namespace {

namespace fs = std::filesystem;
using traces::ReplayProgram;

constexpr uint64_t kMiB = uint64_t{1} << 20, kGiB = uint64_t{1} << 30;

Options quiet(int procs, bool deterministic = true) {
  Options o;
  o.procs = procs;
  o.deterministic = deterministic;
  o.rssIntervalMs = 0;
  return o;
}

// A directory tree for fake cgroup files, removed at the end.
class FakeFs {
 public:
  FakeFs() : root_(fs::temp_directory_path() / ("gomalloc-limits-" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeFs() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }

 private:
  fs::path root_;
};

// Objects of `size` bytes allocated on thread 0 and never freed.
ReplayProgram neverFreed(int n, uint64_t size) {
  synth::ProgramBuilder b(1);
  for (int i = 0; i < n; i++) b.alloc(0, size);
  return b.build();
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// --- --memory-limit's values --------------------------------------------------------------------------

TEST(MemoryLimit, ParsesAutoAndSizes) {
  EXPECT_EQ(parseMemoryLimit("auto"), std::nullopt);
  EXPECT_EQ(parseMemoryLimit("64MiB"), 64 * kMiB);
  EXPECT_EQ(parseMemoryLimit("64M"), 64 * kMiB);
  EXPECT_EQ(parseMemoryLimit("2GiB"), 2 * kGiB);
  EXPECT_EQ(parseMemoryLimit("3G"), 3 * kGiB);
  EXPECT_EQ(parseMemoryLimit("1TiB"), kGiB * 1024);
  EXPECT_EQ(parseMemoryLimit("2048KiB"), 2 * kMiB);
  EXPECT_EQ(parseMemoryLimit("1048576"), kMiB);
  for (const char* bad : {"", "0", "off", "-1", "1.5GiB", "64 MiB", "64mib", "512KiB", "100", "GiB", "99999999TiB"})
    EXPECT_NE(errorOf([&] { parseMemoryLimit(bad); }).find("expected auto or a size"), std::string::npos) << bad;
}

TEST(MemoryLimit, MessagesNameTheSettingAndHowToChangeIt) {
  MemoryLimit given{64 * kMiB, "--memory-limit", ""};
  EXPECT_EQ(given.describe(), "64 MiB");
  EXPECT_EQ(given.exceeded("the trace holds up to 1 GiB live at once"),
            "the trace holds up to 1 GiB live at once, past --memory-limit (64 MiB); raise it with --memory-limit "
            "SIZE or replay fewer live objects");
  MemoryLimit heap{22 * kGiB, "max_heap_bytes", "the machine's memory: cgroup limit"};
  EXPECT_EQ(heap.exceeded("x"),
            "x, past max_heap_bytes (22 GiB, the machine's memory: cgroup limit); raise it with --set "
            "max_heap_bytes=SIZE or replay fewer live objects");
  EXPECT_EQ(bytesText(3 * kGiB / 2), "1.5 GiB");
  EXPECT_EQ(bytesText(128 * 1024), "128 KiB");
  EXPECT_EQ(bytesText(100), "100 bytes");
}

// --- reading the machine ------------------------------------------------------------------------------

TEST(MachineMemory, ParsesMeminfoAndStatus) {
  EXPECT_EQ(parseMemTotal("MemTotal:       24683772 kB\nMemFree:        22000000 kB\n"), uint64_t{24683772} * 1024);
  EXPECT_EQ(parseMemTotal("MemFree: 5 kB\n"), 0u);
  const std::string status = "Name:\tgomalloc\nVmPeak:\t  200000 kB\nVmSize:\t  123456 kB\nVmData:\t   4096 kB\n";
  EXPECT_EQ(parseStatusField(status, "VmSize"), uint64_t{123456} * 1024);
  EXPECT_EQ(parseStatusField(status, "VmData"), uint64_t{4096} * 1024);
  EXPECT_EQ(parseStatusField(status, "VmSwap"), 0u);
}

TEST(MachineMemory, CgroupV2TakesTheTightestLimitUpToTheMount) {
  FakeFs f;
  f.write("unified/a/b/memory.max", "max\n");
  f.write("unified/a/memory.max", "1073741824\n");
  f.write("unified/memory.max", "2147483648\n");  // (the mount's own file: also an ancestor)
  const std::string mountinfo = "41 31 0:38 / " + f.path("unified") + " rw,relatime - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(cgroupMemoryLimit("0::/a/b\n", mountinfo), kGiB);
  EXPECT_EQ(cgroupMemoryLimit("0::/\n", mountinfo), 2 * kGiB);
  // No limit anywhere: 0.
  f.write("unified/a/memory.max", "max\n");
  f.write("unified/memory.max", "max\n");
  EXPECT_EQ(cgroupMemoryLimit("0::/a/b\n", mountinfo), 0u);
}

TEST(MachineMemory, CgroupV1MemoryHierarchyWithAMountRootAndEscapes) {
  FakeFs f;
  // A memory hierarchy mounted from /outer (as in a container), at a path with a space in it.
  f.write("mem ory/q/memory.limit_in_bytes", "536870912\n");
  f.write("mem ory/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "unlimited"
  const std::string mountinfo =
      "32 31 0:29 / " + f.path("cpu") + " rw - cgroup cgroup rw,cpu\n" +
      "35 31 0:32 /outer " + f.path("mem\\040ory") + " rw,relatime - cgroup cgroup rw,memory\n";
  EXPECT_EQ(cgroupMemoryLimit("5:cpu:/outer/q\n4:memory:/outer/q\n", mountinfo), 512 * kMiB);
  // A v1 line of another controller, and a v2 line without a v2 mount, say nothing.
  EXPECT_EQ(cgroupMemoryLimit("5:cpu:/outer/q\n0::/\n", mountinfo), 0u);
  // A path outside the mount's root (a cgroup namespace): the mount point itself.
  f.write("mem ory/memory.limit_in_bytes", "268435456\n");
  EXPECT_EQ(cgroupMemoryLimit("4:memory:/\n", mountinfo), 256 * kMiB);
}

TEST(MachineMemory, ReadingThisMachineNeverThrows) {
  const MachineMemory m = readMachineMemory();
  EXPECT_GT(m.physical, 0u);  // Linux has /proc/meminfo
  EXPECT_GT(m.addressSpaceUsed, 0u);
}

// --- the auto limit -----------------------------------------------------------------------------------

TEST(MachineLimit, PhysicalMemoryLessAReserve) {
  MachineMemory m;
  m.physical = 24 * kGiB;
  const MemoryLimit l = machineLimit(m, 4, 1000);
  EXPECT_EQ(l.bytes, 24 * kGiB - 24 * kGiB / 16);
  EXPECT_EQ(l.origin, "the machine's memory: physical memory");
  EXPECT_EQ(l.setting, "--memory-limit");
  m.physical = 4 * kGiB;  // the reserve is at least 512 MiB
  EXPECT_EQ(machineLimit(m, 1, 0).bytes, 4 * kGiB - 512 * kMiB);
}

TEST(MachineLimit, CgroupBelowPhysicalMemoryWins) {
  MachineMemory m;
  m.physical = 24 * kGiB;
  m.cgroup = 8 * kGiB;
  const MemoryLimit l = machineLimit(m, 1, 0);
  EXPECT_EQ(l.bytes, 8 * kGiB - 512 * kMiB);
  EXPECT_EQ(l.origin, "the machine's memory: cgroup limit");
  m.cgroup = 64 * kGiB;  // a cgroup limit above physical memory changes nothing
  EXPECT_EQ(machineLimit(m, 1, 0).origin, "the machine's memory: physical memory");
}

TEST(MachineLimit, AddressSpaceAndDataLimitsLessWhatIsUsedAndTheReplaysOverhead) {
  MachineMemory m;
  m.physical = 24 * kGiB;
  m.addressSpace = uint64_t{2000000} * 1024;  // ulimit -v 2000000
  m.addressSpaceUsed = 100 * kMiB;
  const MemoryLimit l = machineLimit(m, 2, 1000);
  EXPECT_EQ(l.origin, "the machine's address-space limit: ulimit -v");
  EXPECT_LE(l.bytes + m.addressSpaceUsed + replayOverheadBytes(2, 1000), m.addressSpace);
  EXPECT_GE(l.bytes, kGiB);  // still room for a heap
  EXPECT_EQ(l.bytes % (64 * kMiB), 0u);
  m.data = 300 * kMiB;
  m.dataUsed = 10 * kMiB;
  const MemoryLimit d = machineLimit(m, 2, 1000);
  EXPECT_EQ(d.origin, "the machine's data-segment limit: ulimit -d");
  EXPECT_EQ(d.bytes, 64 * kMiB);  // no room left: the floor
  // More Ps and a larger object table need more room.
  EXPECT_GT(replayOverheadBytes(64, 0), replayOverheadBytes(2, 0));
  EXPECT_GT(replayOverheadBytes(2, 100'000'000), replayOverheadBytes(2, 0));
}

TEST(MachineLimit, NothingKnownIsNoLimit) {
  EXPECT_EQ(machineLimit(MachineMemory{}, 1, 0).bytes, 0u);
  const MemoryLimit here = resolveMemoryLimit("auto", 1, 0);
  EXPECT_GT(here.bytes, 0u);
  EXPECT_FALSE(here.origin.empty());
  const MemoryLimit given = resolveMemoryLimit("96MiB", 1, 0);
  EXPECT_EQ(given.bytes, 96 * kMiB);
  EXPECT_TRUE(given.origin.empty());
}

// --- the guards ---------------------------------------------------------------------------------------

TEST(MemoryGuard, ValidateProgramReturnsThePeakLiveInTraceOrder) {
  synth::ProgramBuilder b(2);
  const uint64_t a = b.alloc(0, 100);
  const uint64_t c = b.alloc(1, 300);
  b.free(0, a);
  b.alloc(0, 250);
  b.free(1, c);
  EXPECT_EQ(validateProgram(b.build()), 550u);
  EXPECT_EQ(validateProgram(ReplayProgram{}), 0u);
}

TEST(MemoryGuard, RunRefusesATraceWhoseLiveBytesPassTheLimitBeforeAllocating) {
  const ReplayProgram p = neverFreed(4, 512 * kMiB);  // 2 GiB live: never allocated here
  for (const char* name : {"go", "system", "null"}) {
    const MemoryLimit limit{64 * kMiB, "--memory-limit", ""};
    auto backend = makeBackend(name, 1, core::Config{}, limit);
    Options o = quiet(1);
    o.memoryLimit = backendMemoryLimit(name, core::Config{}, limit);
    const std::string err = errorOf([&] { run(p, *backend, o); });
    EXPECT_NE(err.find("the trace holds up to 2 GiB live at once, past "), std::string::npos) << name << ": " << err;
    const std::string want = std::string(name) == "go"
                                 ? "past max_heap_bytes (64 MiB, from --memory-limit); raise it with --set "
                                   "max_heap_bytes=SIZE"
                                 : "past --memory-limit (64 MiB); raise it with --memory-limit SIZE";
    EXPECT_NE(err.find(want), std::string::npos) << err;
    EXPECT_THROW(run(p, *backend, o), MemoryLimitError);
  }
}

TEST(MemoryGuard, SystemBackendCountsLargeObjects) {
  SystemBackend b(MemoryLimit{64 * kMiB, "--memory-limit", ""});
  void* x = b.malloc(0, 40 * kMiB, false);
  void* small = b.malloc(0, 1000, false);  // not counted
  const std::string err = errorOf([&] { b.malloc(0, 32 * kMiB, false); });
  EXPECT_NE(err.find("an object of 32 MiB would take the live objects of 128 KiB and more to 72 MiB, past "
                     "--memory-limit (64 MiB)"),
            std::string::npos)
      << err;
  b.free(0, x, 40 * kMiB);  // a free gives its bytes back
  void* y = b.malloc(0, 60 * kMiB, false);
  b.free(0, y, 60 * kMiB);
  b.free(0, small, 1000);
}

TEST(MemoryGuard, NullBackendCountsObjectsWithMappingsOfTheirOwn) {
  NullBackend b(1, NullBackend::kDefaultSmallRegionBytes, NullBackend::kDefaultLargeRegionBytes,
                MemoryLimit{16 * kMiB, "--memory-limit", ""});
  void* x = b.malloc(0, 12 * kMiB, false);
  for (int i = 0; i < 100; i++) b.malloc(0, 1 * kMiB, false);  // reuses the large region: not counted
  EXPECT_THROW(b.malloc(0, 8 * kMiB, false), MemoryLimitError);
  b.free(0, x, 12 * kMiB);
  b.free(0, b.malloc(0, 8 * kMiB, false), 8 * kMiB);
}

TEST(MemoryGuard, GoHeapStopsAtMaxHeapBytesWhichFollowsTheMemoryLimit) {
  auto backend = makeBackend("go", 1, core::Config{}, MemoryLimit{64 * kMiB, "--memory-limit", ""});
  auto& go = static_cast<GoBackend&>(*backend);
  EXPECT_EQ(go.heap().config().heapLimitBytes(), 64 * kMiB);
  EXPECT_EQ(go.heap().config().heapWindowBytes(), 64 * kMiB);
  // Reports print auto, not the figure (deterministic reports are the same on every machine).
  for (auto& [k, v] : backend->settings()) {
    if (k == "max_heap_bytes") {
      EXPECT_EQ(v, "auto");
    }
  }
  backend->malloc(0, 40 * kMiB, false);
  const std::string err = errorOf([&] { backend->malloc(0, 40 * kMiB, false); });
  EXPECT_NE(err.find("the heap would grow past max_heap_bytes (64 MiB, from --memory-limit): it has mapped 40 MiB and "
                     "needs 40 MiB more; raise it with --set max_heap_bytes=SIZE"),
            std::string::npos)
      << err;
  EXPECT_THROW(backend->malloc(0, 40 * kMiB, false), core::HeapLimitError);
  backend->malloc(0, 20 * kMiB, false);  // what fits still fits

  // An explicit max_heap_bytes wins over the memory limit.
  core::Config cfg;
  cfg.set("max_heap_bytes", "128MiB");
  const MemoryLimit m = backendMemoryLimit("go", cfg, MemoryLimit{64 * kMiB, "--memory-limit", ""});
  EXPECT_EQ(m.bytes, 128 * kMiB);
  EXPECT_EQ(m.describe(), "128 MiB");
  EXPECT_EQ(backendMemoryLimit("go", core::Config{}, MemoryLimit{1 * kGiB, "--memory-limit", "the machine's memory: "
                                                                 "cgroup limit"})
                .describe(),
            "1 GiB, the machine's memory: cgroup limit");
}

TEST(MemoryGuard, AConcurrentReplayPastTheLimitStopsWithTheLimitsMessage) {
  // The program-level check off (as if the trace order had stayed under it): the backend's guard stops it.
  const ReplayProgram p = neverFreed(3, 48 * kMiB);
  for (const char* name : {"go", "system", "null"}) {
    auto backend = makeBackend(name, 1, core::Config{}, MemoryLimit{64 * kMiB, "--memory-limit", ""});
    Options o = quiet(1, false);
    o.touch = TouchMode::None;
    const std::string err = errorOf([&] { run(p, *backend, o); });
    EXPECT_NE(err.find(std::string(name) == "go" ? "past max_heap_bytes (64 MiB" : "past --memory-limit (64 MiB)"),
              std::string::npos)
        << name << ": " << err;
  }
}

// --- Ps -----------------------------------------------------------------------------------------------

TEST(Procs, DefaultIsTheThreadCountUpToTheMaximum) {
  ReplayProgram p;
  p.threads.resize(65536);
  EXPECT_EQ(effectiveProcs(p, Options{}), kMaxProcs);
  p.threads.resize(3);
  EXPECT_EQ(effectiveProcs(p, Options{}), 3);
  p.threads.clear();
  EXPECT_EQ(effectiveProcs(p, Options{}), 1);
  Options o;
  o.procs = 7;
  EXPECT_EQ(effectiveProcs(p, o), 7);
  o.procs = kMaxProcs + 1;
  EXPECT_NE(errorOf([&] { effectiveProcs(p, o); }).find("1025 Ps requested; at most 1024"), std::string::npos);
}

TEST(Procs, ATraceWithMoreThreadsThanPsReplaysWithThreadsSharingPs) {
  const ReplayProgram p = synth::steady(6000, 1500, 2, 7);
  for (bool deterministic : {true, false}) {
    NullBackend b(kMaxProcs);
    Options o;
    o.rssIntervalMs = 0;
    o.deterministic = deterministic;
    const Result r = run(p, b, o);
    EXPECT_EQ(r.procs, kMaxProcs);
    EXPECT_EQ(r.events, p.events);
    EXPECT_EQ(r.procStats[0].threads.size(), 2u);  // threads 0 and 1024
  }
}

}  // namespace
}  // namespace gomalloc::replay
