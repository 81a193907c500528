#include "replay/limits.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace gomalloc::replay {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20, kGiB = uint64_t{1} << 30;
constexpr uint64_t kRound = 64 * kMiB;  // auto limits are multiples of this (one heap arena)
// cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything this large is none.
constexpr uint64_t kNoLimit = uint64_t{1} << 60;

std::string slurpSmall(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (true) {
    const size_t j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

bool parseU64(std::string_view s, uint64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "Key:   123 kB" lines (meminfo, status): the value in bytes, 0 if the key is absent.
uint64_t kbField(std::string_view text, std::string_view key) {
  for (std::string_view line : split(text, '\n')) {
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    std::string_view v = trim(line.substr(key.size() + 1));
    uint64_t mult = 1;
    if (v.size() > 3 && v.substr(v.size() - 3) == " kB") {
      v = trim(v.substr(0, v.size() - 3));
      mult = 1024;
    }
    uint64_t n = 0;
    return parseU64(v, n) ? n * mult : 0;
  }
  return 0;
}

// mountinfo escapes spaces and the like as \ooo.
std::string unescapeMount(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    auto octal = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct CgroupMount {
  bool v2 = false;
  std::string root, point;
};

std::vector<CgroupMount> cgroupMounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (std::string_view line : split(mountinfo, '\n')) {
    const size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const std::vector<std::string_view> pre = split(line.substr(0, dash), ' ');
    const std::vector<std::string_view> post = split(line.substr(dash + 3), ' ');
    if (pre.size() < 5 || post.size() < 3) continue;
    CgroupMount m{false, unescapeMount(pre[3]), unescapeMount(pre[4])};
    if (post[0] == "cgroup2") {
      m.v2 = true;
    } else if (post[0] == "cgroup") {
      const std::vector<std::string_view> opts = split(post[2], ',');
      if (std::find(opts.begin(), opts.end(), "memory") == opts.end()) continue;
    } else {
      continue;
    }
    out.push_back(std::move(m));
  }
  return out;
}

// The tightest limit in the file `name` of dir and its ancestors up to the mount point; 0 if none.
uint64_t tightestUp(std::string dir, const std::string& point, const char* name) {
  uint64_t best = 0;
  while (true) {
    const std::string text(trim(slurpSmall(dir + "/" + name)));
    uint64_t v = 0;
    if (parseU64(text, v) && v < kNoLimit && (best == 0 || v < best)) best = v;
    if (dir.size() <= point.size()) break;
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < point.size()) break;
    dir.resize(std::max(slash, point.size()));
  }
  return best;
}

}  // namespace

std::string bytesText(uint64_t b) {
  if (b >= kGiB) return b % kGiB == 0 ? fmt::format("{} GiB", b / kGiB) : fmt::format("{:.1f} GiB", double(b) / double(kGiB));
  if (b >= kMiB) return b % kMiB == 0 ? fmt::format("{} MiB", b / kMiB) : fmt::format("{:.1f} MiB", double(b) / double(kMiB));
  if (b >= 1024 && b % 1024 == 0) return fmt::format("{} KiB", b / 1024);
  return fmt::format("{} bytes", b);
}

std::string MemoryLimit::describe() const { return bytesText(bytes) + (origin.empty() ? "" : ", " + origin); }

std::string MemoryLimit::exceeded(const std::string& what) const {
  const std::string how = setting == "--memory-limit" ? "--memory-limit SIZE" : "--set " + setting + "=SIZE";
  return fmt::format("{}, past {} ({}); raise it with {} or replay fewer live objects", what, setting, describe(), how);
}

uint64_t parseMemTotal(std::string_view meminfo) { return kbField(meminfo, "MemTotal"); }

uint64_t parseStatusField(std::string_view status, std::string_view key) { return kbField(status, key); }

uint64_t cgroupMemoryLimit(std::string_view procSelfCgroup, std::string_view mountinfo) {
  const std::vector<CgroupMount> mounts = cgroupMounts(mountinfo);
  uint64_t best = 0;
  for (std::string_view line : split(procSelfCgroup, '\n')) {
    const size_t c1 = line.find(':'), c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path(trim(line.substr(c2 + 1)));
    const bool v2 = line.substr(0, c1) == "0" && controllers.empty();
    if (!v2) {
      const std::vector<std::string_view> cs = split(controllers, ',');
      if (std::find(cs.begin(), cs.end(), "memory") == cs.end()) continue;
    }
    for (const CgroupMount& m : mounts) {
      if (m.v2 != v2) continue;
      // The cgroup's directory: its path below the mount's root (a path outside it, as in a cgroup
      // namespace, is the mount point itself).
      std::string rel;
      if (m.root == "/") rel = path;
      else if (path.compare(0, m.root.size(), m.root) == 0 &&
               (path.size() == m.root.size() || path[m.root.size()] == '/'))
        rel = path.substr(m.root.size());
      if (rel == "/") rel.clear();
      const uint64_t v = tightestUp(m.point + rel, m.point, v2 ? "memory.max" : "memory.limit_in_bytes");
      if (v != 0 && (best == 0 || v < best)) best = v;
    }
  }
  return best;
}

MachineMemory readMachineMemory() {
  MachineMemory m;
  m.physical = parseMemTotal(slurpSmall("/proc/meminfo"));
  m.cgroup = cgroupMemoryLimit(slurpSmall("/proc/self/cgroup"), slurpSmall("/proc/self/mountinfo"));
  const std::string status = slurpSmall("/proc/self/status");
  m.addressSpaceUsed = parseStatusField(status, "VmSize");
  m.dataUsed = parseStatusField(status, "VmData");
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) m.addressSpace = rl.rlim_cur;
  if (::getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) m.data = rl.rlim_cur;
  return m;
}

uint64_t replayOverheadBytes(int procs, uint64_t slots) {
  const uint64_t p = uint64_t(std::max(procs, 1));
  const uint64_t arenas = std::min<uint64_t>(p, 8 * uint64_t(std::max(1u, std::thread::hardware_concurrency())));
  const uint64_t slotTable = (slots * 16 + 2 * kMiB - 1) & ~(2 * kMiB - 1);
  return 256 * kMiB + slotTable + p * 8 * kMiB + arenas * 64 * kMiB;
}

MemoryLimit machineLimit(const MachineMemory& m, int procs, uint64_t slots) {
  bool any = false;
  uint64_t best = 0;
  std::string origin;
  auto consider = [&](uint64_t v, const char* why) {
    if (!any || v < best) best = v, origin = why;
    any = true;
  };
  auto less = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  if (m.physical || m.cgroup) {
    const bool cg = m.cgroup && (!m.physical || m.cgroup < m.physical);
    const uint64_t mem = cg ? m.cgroup : m.physical;
    // The rest of the system (and of this process) keeps 1/16, at least 512 MiB.
    consider(less(mem, std::max(mem / 16, 512 * kMiB)),
             cg ? "the machine's memory: cgroup limit" : "the machine's memory: physical memory");
  }
  const uint64_t overhead = replayOverheadBytes(procs, slots);
  if (m.addressSpace)
    consider(less(m.addressSpace, m.addressSpaceUsed + overhead), "the machine's address-space limit: ulimit -v");
  if (m.data) consider(less(m.data, m.dataUsed + overhead), "the machine's data-segment limit: ulimit -d");
  if (!any) return MemoryLimit{0, "--memory-limit", "auto: the machine sets no limit"};
  return MemoryLimit{std::max(best / kRound * kRound, kRound), "--memory-limit", origin};
}

std::optional<uint64_t> parseMemoryLimit(const std::string& text) {
  if (text == "auto") return std::nullopt;
  std::string_view num = text;
  uint64_t mult = 1;
  static constexpr std::pair<const char*, uint64_t> kSuffixes[] = {
      {"TiB", uint64_t{1} << 40}, {"GiB", kGiB}, {"MiB", kMiB}, {"KiB", 1024},
      {"T", uint64_t{1} << 40},   {"G", kGiB},   {"M", kMiB},   {"K", 1024}};
  for (auto [suf, m] : kSuffixes) {
    const std::string_view s(suf);
    if (num.size() > s.size() && num.substr(num.size() - s.size()) == s) {
      num.remove_suffix(s.size());
      mult = m;
      break;
    }
  }
  uint64_t n = 0;
  if (!parseU64(num, n) || n == 0 || n > (uint64_t{1} << 50) / mult || n * mult < kMiB)
    throw std::invalid_argument("--memory-limit " + text +
                                ": expected auto or a size of at least 1MiB, such as 512MiB, 8GiB or 1073741824");
  return n * mult;
}

MemoryLimit resolveMemoryLimit(const std::string& text, int procs, uint64_t slots) {
  if (auto bytes = parseMemoryLimit(text)) return MemoryLimit{*bytes, "--memory-limit", ""};
  return machineLimit(readMachineMemory(), procs, slots);
}

void LiveBytesGuard::refuse(uint64_t n, uint64_t now) {
  live_.fetch_sub(n, std::memory_order_relaxed);
  throw MemoryLimitError(limit_.exceeded(
      fmt::format("an object of {} would take the live objects of {} and more to {}", bytesText(n),
                  bytesText(kTrackedObjectBytes), bytesText(now))));
}

void LiveBytesGuard::outOfMemory(const char* what, uint64_t n) const {
  std::string text = fmt::format("{} of {} failed: the machine is out of memory", what, bytesText(n));
  if (limit_.bytes)
    text += fmt::format(" below {} ({}); lower it with --memory-limit SIZE or replay fewer live objects",
                        limit_.setting, limit_.describe());
  throw MemoryLimitError(text);
}

}  // namespace gomalloc::replay
