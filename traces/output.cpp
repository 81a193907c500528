#include "traces/output.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

namespace gomalloc::traces {
namespace {

std::string errnoText(int e) { return std::strerror(e); }

std::string dirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The file path names once every symbolic link on the way is followed (the last component only: the
// directories are the kernel's business). A dangling link names the file it would create.
std::string followLinks(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; hops++) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::vector<char> buf(size_t(st.st_size > 0 ? st.st_size : 4095) + 1);
    const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
    if (n < 0 || size_t(n) >= buf.size()) throw OutputError("cannot write " + path + ": cannot read the symbolic link " + p);
    std::string target(buf.data(), size_t(n));
    p = target.front() == '/' ? target : dirOf(p) + "/" + target;
  }
  throw OutputError("cannot write " + path + ": too many levels of symbolic links");
}

// ---- temporaries, removable from a signal handler ----

struct TempSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled in, 2 a temporary file, 3 a temporary directory
  char path[4096];
};
constexpr size_t kTempSlots = 64;
TempSlot gTemps[kTempSlots];
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers read the slots");

std::atomic<int> gChild{0};

// Removes the files of a flat directory, then the directory, with system calls only (async-signal-safe).
void removeFlatDirectory(const char* path) noexcept {
  const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buf[4096];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long at = 0; at < n;) {
        // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name[]
        unsigned short reclen;
        std::memcpy(&reclen, buf + at + 16, sizeof reclen);
        const char* name = buf + at + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(fd, name, 0);
        at += reclen;
      }
    }
    ::close(fd);
  }
  ::rmdir(path);
}

extern "C" void onFatalSignal(int sig) { dieBySignal(sig); }

// ---- sinks ----

// A file descriptor written through a buffer. With a temporary, finish() renames it over the target.
class FdSink : public Sink {
 public:
  FdSink(int fd, std::string shown, std::string tmp, std::string target)
      : fd_(fd), shown_(std::move(shown)), tmp_(std::move(tmp)), target_(std::move(target)) {
    if (!tmp_.empty()) slot_ = registerTemporary(tmp_);
    buf_.reserve(kBuffer);
  }
  ~FdSink() override {
    if (fd_ >= 0) ::close(fd_);
    discardTemp();
  }
  void write(const char* data, size_t n) override {
    if (buf_.size() + n > kBuffer) {
      drain();
      if (n >= kBuffer) return writeAll(data, n);
    }
    buf_.insert(buf_.end(), data, data + n);
  }
  void finish() override {
    drain();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno);
    if (!tmp_.empty()) {
      if (::rename(tmp_.c_str(), target_.c_str()) != 0) fail(errno);
      unregisterTemporary(slot_);
      tmp_.clear();
    }
  }

 private:
  static constexpr size_t kBuffer = size_t{1} << 20;
  void drain() {
    writeAll(buf_.data(), buf_.size());
    buf_.clear();
  }
  void writeAll(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) fail(k < 0 ? errno : ENOSPC);
      p += k, n -= size_t(k);
    }
  }
  [[noreturn]] void fail(int e) {
    discardTemp();
    throw OutputError("cannot write " + shown_ + ": " + errnoText(e));
  }
  void discardTemp() {
    if (tmp_.empty()) return;
    ::unlink(tmp_.c_str());
    unregisterTemporary(slot_);
    tmp_.clear();
  }
  int fd_;
  std::string shown_, tmp_, target_;
  int slot_ = -1;
  std::vector<char> buf_;
};

class StdoutSink : public Sink {
 public:
  void write(const char* data, size_t n) override {
    if (n && std::fwrite(data, 1, n, stdout) != n) {
      const int e = errno;
      throw OutputError("cannot write to standard output: " + errnoText(e));
    }
  }
  void finish() override { checkStdout(); }
};

}  // namespace

void checkOutputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, fs::path>> seen;  // (as given, canonical) of the outputs so far
  for (const std::string& out : outputs) {
    if (out.empty()) throw OutputError("an output path is empty (write - for standard output)");
    if (out == "-") continue;
    const std::string target = followLinks(out);
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) throw OutputError("cannot write " + out + ": it is a directory");
      if (::access(target.c_str(), W_OK) != 0) throw OutputError("cannot write " + out + ": " + errnoText(errno));
      if (S_ISREG(st.st_mode)) {
        for (const std::string& in : inputs) {
          struct stat is {};
          if (in.empty() || in == "-" || ::stat(in.c_str(), &is) != 0) continue;
          if (is.st_dev == st.st_dev && is.st_ino == st.st_ino)
            throw OutputError("cannot write " + out + ": it is the input " + in +
                              " (refusing to overwrite it; name another output file)");
        }
        const std::string dir = dirOf(target);
        if (::access(dir.c_str(), W_OK | X_OK) != 0)
          throw OutputError("cannot write " + out + ": cannot create a file in " + dir + ": " + errnoText(errno));
      }
    } else if (errno == ENOENT) {
      const std::string dir = dirOf(target);
      struct stat ds {};
      if (::stat(dir.c_str(), &ds) != 0)
        throw OutputError("cannot write " + out + ": the directory " + dir +
                          (errno == ENOENT ? " does not exist" : ": " + errnoText(errno)));
      if (!S_ISDIR(ds.st_mode)) throw OutputError("cannot write " + out + ": " + dir + " is not a directory");
      if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw OutputError("cannot write " + out + ": cannot create a file in " + dir + ": " + errnoText(errno));
    } else {
      throw OutputError("cannot write " + out + ": " + errnoText(errno));
    }
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(target, ec);
    if (ec) canon = target;
    for (auto& [other, path] : seen)
      if (path == canon) throw OutputError("the outputs " + other + " and " + out + " are the same file");
    seen.emplace_back(out, canon);
  }
}

std::unique_ptr<Sink> fileSink(const std::string& path) {
  installTempCleanup();
  if (path.empty()) throw OutputError("an output path is empty (write - for standard output)");
  if (path == "-") return std::make_unique<StdoutSink>();
  const std::string target = followLinks(path);
  struct stat st {};
  const bool exists = ::stat(target.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) throw OutputError("cannot write " + path + ": it is a directory");
  if (exists && !S_ISREG(st.st_mode)) {  // a device, a FIFO: written in place, never replaced
    const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) throw OutputError("cannot write " + path + ": " + errnoText(errno));
    return std::make_unique<FdSink>(fd, path, "", target);
  }
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  int fd = -1;
  for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) ::unlink(tmp.c_str());  // left by an earlier process with our pid
  }
  if (fd < 0) {
    const int e = errno;
    const std::string dir = dirOf(target);
    if (e == ENOENT) throw OutputError("cannot write " + path + ": the directory " + dir + " does not exist");
    throw OutputError("cannot write " + path + ": cannot create a file in " + dir + ": " + errnoText(e));
  }
  auto sink = std::make_unique<FdSink>(fd, path, tmp, target);
  if (exists) {  // the replacement keeps the file's mode and, where we may, its owner
    if (::geteuid() == 0) (void)!::fchown(fd, st.st_uid, st.st_gid);
    ::fchmod(fd, st.st_mode & 07777);
  }
  return sink;
}

void writeFile(const std::string& path, const std::string& text) {
  auto sink = fileSink(path);
  sink->write(text.data(), text.size());
  sink->finish();
}

void checkStdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int e = errno;
    std::clearerr(stdout);
    throw OutputError(e ? "cannot write to standard output: " + errnoText(e)
                        : std::string("cannot write to standard output: a write failed, the output is incomplete"));
  }
}

int registerTemporary(const std::string& path, bool directory) {
  if (path.size() >= sizeof(TempSlot::path)) return -1;
  for (size_t i = 0; i < kTempSlots; i++) {
    int free = 0;
    if (!gTemps[i].state.compare_exchange_strong(free, 1)) continue;
    std::memcpy(gTemps[i].path, path.c_str(), path.size() + 1);
    gTemps[i].state.store(directory ? 3 : 2);
    return int(i);
  }
  return -1;  // more than kTempSlots at once: this one is still removed on the normal paths, not by signals
}

void unregisterTemporary(int handle) {
  if (handle >= 0 && size_t(handle) < kTempSlots) gTemps[handle].state.store(0);
}

void forwardSignalsTo(int pid) { gChild.store(pid); }

void removeTemporaries() noexcept {
  for (auto& t : gTemps) {
    const int state = t.state.load();
    if (state == 2) ::unlink(t.path);
    if (state == 3) removeFlatDirectory(t.path);
  }
}

void dieBySignal(int sig) noexcept {
  if (const int child = gChild.exchange(0); child > 0) {  // it ends (and cleans up) before we remove its files
    ::kill(child, sig);
    int status;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  removeTemporaries();
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);  // a signal whose default action does not end the process
}

void installTempCleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const int kFatal[] = {SIGHUP,  SIGINT,  SIGQUIT,   SIGTERM, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2,
                                 SIGXCPU, SIGVTALRM, SIGPROF, SIGPOLL, SIGPWR,  SIGSYS,  SIGABRT, SIGSEGV,
                                 SIGBUS,  SIGFPE,  SIGILL,    SIGTRAP};
    for (int sig : kFatal) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
      struct sigaction sa {};
      sa.sa_handler = onFatalSignal;
      sigfillset(&sa.sa_mask);  // one handler at a time: a second signal waits until the first has ended us
      ::sigaction(sig, &sa, nullptr);
    }
    struct sigaction old {};
    if (::sigaction(SIGXFSZ, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction sa {};
      sa.sa_handler = SIG_IGN;
      sigemptyset(&sa.sa_mask);
      ::sigaction(SIGXFSZ, &sa, nullptr);
    }
  });
}

}  // namespace gomalloc::traces
