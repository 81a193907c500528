#include "replay/rss.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace gomalloc::replay {
namespace {

// Reads a small /proc file into buf (NUL-terminated) without allocating. Returns the length, or -1.
ssize_t readSmall(const char* path, char* buf, size_t cap) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = ::read(fd, buf + len, cap - 1 - len);
    if (n <= 0) break;
    len += size_t(n);
  }
  ::close(fd);
  buf[len] = '\0';
  return ssize_t(len);
}

}  // namespace

uint64_t currentRssBytes() {
  char buf[256];
  if (readSmall("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  // "size resident shared text lib data dt", in pages.
  char* p = buf;
  std::strtoull(p, &p, 10);
  uint64_t resident = std::strtoull(p, &p, 10);
  return resident * uint64_t(::sysconf(_SC_PAGESIZE));
}

uint64_t peakRssBytes() {
  char buf[4096];
  if (readSmall("/proc/self/status", buf, sizeof buf) <= 0) return 0;
  const char* line = std::strstr(buf, "VmHWM:");
  if (!line) return 0;
  return std::strtoull(line + 6, nullptr, 10) * 1024;  // "VmHWM:   1234 kB"
}

bool resetPeakRss() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace gomalloc::replay
