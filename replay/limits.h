// How much memory a replay may take: `--memory-limit SIZE|auto`, one setting for every backend.
//
// auto (the default) follows the machine: the least of physical memory (/proc/meminfo MemTotal) and the
// cgroup limit (cgroup v2 memory.max, v1 memory.limit_in_bytes, of the process's cgroup and its ancestors),
// less 1/16 for the rest of the system (at least 512 MiB), and of RLIMIT_AS and RLIMIT_DATA less what the
// process already uses (VmSize, VmData) and a margin for the replay's own structures (its object table, one
// thread stack and one malloc arena per P). The figure is rounded down to 64 MiB.
//
// What counts against the limit (docs/config.md): the go backend's heap maps at most max_heap_bytes of arena
// memory, and max_heap_bytes defaults to the memory limit; the malloc backends (system, null, and the
// preloaded ones, which run system in a child) count live requested bytes. Before a replay starts, the
// trace's peak of live bytes (in trace order) is checked against the limit; during it, the go heap checks on
// growth, and the malloc backends count objects of kTrackedObjectBytes and more as they come and go (a
// concurrent replay may run ahead of the trace order; small objects cost nothing on the hot path).
//
// This is replay's code, not core's: core has no I/O, so the machine is read here and the resolved figure is
// passed into core::Config (autoMaxHeapBytes).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gomalloc::replay {

// A limit on the memory a replay may take, and where it came from (for the error when it would be passed).
struct MemoryLimit {
  uint64_t bytes = 0;                    // 0: no limit
  std::string setting = "--memory-limit";  // the setting that holds it: --memory-limit or max_heap_bytes
  std::string origin;                    // where the figure came from when the user did not give it
                                         // ("the machine's memory: cgroup limit"); empty: the user gave it

  // "22 GiB, the machine's memory: cgroup limit" (or just the size).
  std::string describe() const;
  // The error text: "<what>, past --memory-limit (64 MiB); raise it with --memory-limit SIZE or replay fewer
  // live objects".
  std::string exceeded(const std::string& what) const;
};

// A replay would pass its memory limit (a resource limit: exit status 1, not bad input).
struct MemoryLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What the machine allows; 0 = no such limit (or unknown).
struct MachineMemory {
  uint64_t physical = 0;          // /proc/meminfo MemTotal
  uint64_t cgroup = 0;            // the tightest memory limit of the process's cgroup and its ancestors
  uint64_t addressSpace = 0;      // RLIMIT_AS (ulimit -v)
  uint64_t addressSpaceUsed = 0;  // VmSize: address space the process already has
  uint64_t data = 0;              // RLIMIT_DATA (ulimit -d)
  uint64_t dataUsed = 0;          // VmData
};

// Reads /proc/meminfo, /proc/self/cgroup, /proc/self/mountinfo, the cgroup files, /proc/self/status and the
// rlimits. Never throws: what cannot be read counts as no limit.
MachineMemory readMachineMemory();

// The parts of readMachineMemory, on text (for tests).
uint64_t parseMemTotal(std::string_view meminfo);                       // bytes; 0 if absent
uint64_t parseStatusField(std::string_view status, std::string_view key);  // "VmSize" -> bytes; 0 if absent
// The tightest memory limit of the cgroups /proc/self/cgroup names (v2 "0::/path", v1 "N:...memory...:/path")
// and their ancestors, found through the cgroup mounts in mountinfo; 0 if none.
uint64_t cgroupMemoryLimit(std::string_view procSelfCgroup, std::string_view mountinfo);

// The margin the replay itself needs in the address space (and data segment) besides the heap: its object
// table (slots), a thread stack and a malloc arena per P, and 256 MiB for the rest.
uint64_t replayOverheadBytes(int procs, uint64_t slots);

// The machine's limit for a replay with procs Ps and an object table of slots (see the top of this file).
// Never 0: at least 64 MiB.
MemoryLimit machineLimit(const MachineMemory& m, int procs, uint64_t slots);

// "auto" -> nullopt; a size ("64MiB", "2GiB", "512M", "1048576") -> bytes (at least 1 MiB).
// Throws std::invalid_argument saying what a limit looks like.
std::optional<uint64_t> parseMemoryLimit(const std::string& text);

// --memory-limit's value resolved: a size as given, or auto as machineLimit(readMachineMemory(), ...).
MemoryLimit resolveMemoryLimit(const std::string& text, int procs, uint64_t slots);

// "64 MiB", "22 GiB", "1.5 GiB", "123456 bytes".
std::string bytesText(uint64_t bytes);

// Objects at least this large are counted against the limit as the malloc backends allocate and free them.
inline constexpr size_t kTrackedObjectBytes = size_t{128} << 10;

// The live bytes of the tracked objects of a malloc backend, against its limit; any thread.
class LiveBytesGuard {
 public:
  explicit LiveBytesGuard(MemoryLimit limit) : limit_(std::move(limit)) {}
  // An object of n bytes is about to be allocated. Throws MemoryLimitError if the live bytes would pass the limit.
  void add(uint64_t n) {
    const uint64_t now = live_.fetch_add(n, std::memory_order_relaxed) + n;
    if (limit_.bytes != 0 && now > limit_.bytes) [[unlikely]] refuse(n, now);
  }
  void sub(uint64_t n) { live_.fetch_sub(n, std::memory_order_relaxed); }
  const MemoryLimit& limit() const { return limit_; }
  // The allocation of n bytes failed (malloc returned null, mmap failed): throws a message naming the limit.
  [[noreturn]] void outOfMemory(const char* what, uint64_t n) const;

 private:
  [[noreturn]] void refuse(uint64_t n, uint64_t now);
  MemoryLimit limit_;
  std::atomic<uint64_t> live_{0};
};

}  // namespace gomalloc::replay
