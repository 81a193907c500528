// libgomalloc_recorder.so: the preload library of `gomalloc record` (docs/record.md). It interposes the C
// allocation functions and C++ operator new/delete, passes each call to the next definition (dlsym RTLD_NEXT)
// and appends a raw::Record to a buffer of the calling thread; full buffers, exiting threads, exit, _exit,
// exec and fatal signals write them with write(2) to DIR/PID-START.raw (raw_format.h), DIR from
// GOMALLOC_RECORD_DIR. Without that variable the library only passes calls on.
//
// Rules of this file: no malloc of its own (buffers are mmap'ed), no libstdc++ (std::atomic is header-only;
// built with -fno-exceptions), nothing on the hot path but thread-local loads, one time-stamp counter read and
// plain stores; everything that runs in a signal handler or after fork is async-signal-safe.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "traces/recorder/raw_format.h"

#define EXPORT extern "C" __attribute__((visibility("default")))
#define TLS __attribute__((tls_model("initial-exec"))) static __thread
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

extern char** environ;

namespace {

using namespace gomalloc::traces::raw;

constexpr uint32_t kCap = 4096;            // records per thread buffer (96 KiB)
constexpr size_t kMaxBuffers = 1 << 16;    // thread buffers are reused after their thread exits
constexpr size_t kBootstrapBytes = 1 << 16;
constexpr size_t kPathMax = 4096;

// ---- the next definitions ----

struct Real {
  void* (*malloc)(size_t);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void* (*reallocarray)(void*, size_t, size_t);
  void (*free)(void*);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  void (*exit_)(int);
  void (*Exit_)(int);
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
} real;

// Resolves name lazily (libstdc++ may be loaded after the recorder started: a dlopen'ed C++ module).
template <class Fn>
Fn next(Fn& slot, const char* name) {
  Fn f = __atomic_load_n(&slot, __ATOMIC_ACQUIRE);
  if (UNLIKELY(!f)) {
    f = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    __atomic_store_n(&slot, f, __ATOMIC_RELEASE);
  }
  return f;
}

// ---- state ----

enum State : int { kUnresolved, kResolving, kResolved, kReady, kInert };
std::atomic<int> gState{kUnresolved};
std::atomic<bool> gEnabled{false};    // recording in this process (false in an unfollowed fork child)
std::atomic<bool> gImmediate{false};  // after the final flush: every event is written at once
bool gFollow = false;
int gFd = -1;
uint64_t gPid = 0;
char gDir[kPathMax], gLib[kPathMax];
pthread_key_t gKey;

struct Counters {
  std::atomic<uint64_t> beforeReady{0}, bootstrap{0}, lostEvents{0}, failedWrites{0}, failedAllocs{0};
} gCount;

struct ThreadBuf {
  std::atomic<uint32_t> busy{0};  // held by whoever writes the records out
  std::atomic<uint32_t> n{0};     // records appended (the owner's release store publishes a record)
  uint32_t done = 0;              // records[0..done) already written (an outside flush), under busy
  uint32_t thread = 0;
  uint64_t seq = 0;               // the thread's sequence number of records[0], under busy
  ThreadBuf* nextFree = nullptr;
  Record recs[kCap];
};
ThreadBuf* gBufs[kMaxBuffers];
std::atomic<size_t> gNumBufs{0};
std::atomic<uint32_t> gNextThread{0};
std::atomic<uint32_t> gPoolLock{0};
ThreadBuf* gPool = nullptr;

TLS ThreadBuf* tBuf;
TLS int tDepth;             // > 0 inside the recorder or a real function it called: pass through
TLS bool tExited;           // the thread's key destructor ran: later events are written one by one
TLS uint32_t tExitedThread;
TLS uint64_t tExitedSeq;

uint64_t now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_nsec);
}

// The records' clock (docs/record.md, "The clock"): the time-stamp counter on x86 (assumed constant-rate and
// synchronized across cores; the converter maps it to ns with the clock chunks and counts a thread's backward
// steps), CLOCK_MONOTONIC elsewhere. rdtscp reads the counter only once every earlier instruction has executed
// and earlier loads are globally visible, so an alloc's tick cannot be taken before the real call's loads nor a
// free's before the loads that handed the pointer over; later stores (the real free's, the caller's
// publishing a new object) retire after it.
inline uint64_t tick() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned aux;
  return __rdtscp(&aux);
#else
  return now();
#endif
}

// A calibration pair: the narrowest of three tries (a preempted try is wide).
RawClock clockPair() {
  RawClock best;
  uint64_t width = ~uint64_t{0};
  for (int i = 0; i < 3; i++) {
    const uint64_t t0 = tick(), ns = now(), t1 = tick();
    if (t1 - t0 < width) width = t1 - t0, best.tick = t0 + (t1 - t0) / 2, best.ns = ns;
  }
  return best;
}

void lock(std::atomic<uint32_t>& l) {
  while (l.exchange(1, std::memory_order_acquire)) sched_yield();
}
bool tryLock(std::atomic<uint32_t>& l, int spins) {
  for (int i = 0; i < spins; i++) {
    if (!l.exchange(1, std::memory_order_acquire)) return true;
    sched_yield();
  }
  return false;
}
void unlock(std::atomic<uint32_t>& l) { l.store(0, std::memory_order_release); }

// ---- writing ----

bool ourProcess() { return gEnabled.load(std::memory_order_acquire) && uint64_t(getpid()) == gPid; }

// Writes a chunk, preceded by a clock chunk (a calibration pair), with one write.
void writeChunk(uint32_t kind, uint32_t thread, uint64_t seq, const void* data, uint32_t count, size_t bytes) {
  struct {
    ChunkHeader h;
    RawClock c;
  } clock;
  clock.h.kind = kChunkClock, clock.h.count = sizeof clock.c, clock.c = clockPair();
  ChunkHeader h;
  h.kind = kind, h.thread = thread, h.count = count, h.seq = seq;
  iovec v[3] = {{&clock, sizeof clock}, {&h, sizeof h}, {const_cast<void*>(data), bytes}};
  size_t want = sizeof clock + sizeof h + bytes;
  ssize_t r;
  do r = writev(gFd, v, bytes ? 3 : 2);
  while (r < 0 && errno == EINTR);
  if (r != ssize_t(want)) {
    gCount.failedWrites.fetch_add(1, std::memory_order_relaxed);
    if (kind == kChunkEvents) gCount.lostEvents.fetch_add(count, std::memory_order_relaxed);
  }
}

// Writes records [done, upTo) of b (caller holds b->busy).
void writeOut(ThreadBuf* b, uint32_t upTo) {
  if (upTo > b->done) {
    if (ourProcess())
      writeChunk(kChunkEvents, b->thread, b->seq + b->done, b->recs + b->done, upTo - b->done,
                 sizeof(Record) * (upTo - b->done));
    b->done = upTo;
  }
}

void flushOwn(ThreadBuf* b) {
  int saved = errno;
  lock(b->busy);
  uint32_t n = b->n.load(std::memory_order_relaxed);
  writeOut(b, n);
  b->seq += n;
  b->done = 0;
  b->n.store(0, std::memory_order_relaxed);
  unlock(b->busy);
  errno = saved;
}

// Another thread's buffer, or this thread's from a signal handler: what it has published so far.
void flushOther(ThreadBuf* b) {
  if (!tryLock(b->busy, 1000)) {  // its owner is writing it out (or was interrupted doing so)
    uint32_t n = b->n.load(std::memory_order_acquire);
    gCount.lostEvents.fetch_add(n > b->done ? n - b->done : 0, std::memory_order_relaxed);
    return;
  }
  writeOut(b, b->n.load(std::memory_order_acquire));
  unlock(b->busy);
}

void writeEnd(uint32_t reason, int sig) {
  RawEnd e;
  e.reason = reason, e.signal = uint32_t(sig), e.ts = now();
  e.threads = gNextThread.load();
  e.beforeReady = gCount.beforeReady.load(), e.bootstrap = gCount.bootstrap.load();
  e.lostEvents = gCount.lostEvents.load(), e.failedWrites = gCount.failedWrites.load();
  e.failedAllocs = gCount.failedAllocs.load();
  writeChunk(kChunkEnd, 0, 0, &e, sizeof e, sizeof e);
}

// Exit, _exit, exec, a fatal signal: every thread's published records, then an end chunk. Events after this
// are written one by one (gImmediate), so the frees of later destructors are not lost either.
void finalFlush(uint32_t reason, int sig) {
  if (gState.load() != kReady || !ourProcess()) return;
  int saved = errno;
  tDepth++;
  gImmediate.store(true);
  size_t n = gNumBufs.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; i++) flushOther(gBufs[i]);
  writeEnd(reason, sig);
  tDepth--;
  errno = saved;
}

// ---- threads ----

void threadExit(void* p) {
  auto* b = static_cast<ThreadBuf*>(p);
  flushOwn(b);
  tExited = true, tExitedThread = b->thread, tExitedSeq = b->seq;
  tBuf = nullptr;
  lock(gPoolLock);
  b->nextFree = gPool, gPool = b;
  unlock(gPoolLock);
}

ThreadBuf* attachThread() {
  lock(gPoolLock);
  ThreadBuf* b = gPool;
  if (b) gPool = b->nextFree;
  unlock(gPoolLock);
  if (!b) {
    size_t i = gNumBufs.load();
    if (i >= kMaxBuffers) return nullptr;
    void* m = mmap(nullptr, sizeof(ThreadBuf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    b = new (m) ThreadBuf;
    i = gNumBufs.fetch_add(1);
    if (i >= kMaxBuffers) return nullptr;
    gBufs[i] = b;
  }
  lock(b->busy);
  b->thread = gNextThread.fetch_add(1), b->seq = 0, b->done = 0;
  b->n.store(0);
  unlock(b->busy);
  tBuf = b;
  pthread_setspecific(gKey, b);  // no allocation for the first 32 keys
  return b;
}

// ---- events ----

// emit's slow path: the thread's first event, a full buffer, after the thread's key destructor, after the
// final flush.
__attribute__((noinline)) void emitSlow(ThreadBuf* b, const Record& r) {
  if (!b) {
    if (tExited) {  // after this thread's key destructor: straight to the file
      if (ourProcess()) writeChunk(kChunkEvents, tExitedThread, tExitedSeq, &r, 1, sizeof r);
      tExitedSeq++;
      return;
    }
    if (!(b = attachThread())) {
      gCount.lostEvents.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  uint32_t i = b->n.load(std::memory_order_relaxed);
  if (i == kCap) {
    flushOwn(b);
    i = 0;
  }
  b->recs[i] = r;
  b->n.store(i + 1, std::memory_order_release);
  if (gImmediate.load(std::memory_order_relaxed)) flushOwn(b);
}

// The hot path: the record's fields stored straight into the buffer (a record built on the stack and copied
// was a store-forwarding stall).
inline void emit(uint8_t entry, const void* p, uint64_t size, unsigned alignLog2, uint64_t ts) {
  ThreadBuf* b = tBuf;
  uint32_t i;
  if (UNLIKELY(!b || (i = b->n.load(std::memory_order_relaxed)) == kCap ||
               gImmediate.load(std::memory_order_relaxed)))
    return emitSlow(b, Record{ts, uint64_t(p), Record::pack(size, alignLog2, entry)});
  Record& r = b->recs[i];
  r.ts = ts, r.ptr = uint64_t(p), r.info = Record::pack(size, alignLog2, entry);
  b->n.store(i + 1, std::memory_order_release);
}

__attribute__((noinline, cold)) bool notReady() {
  if (gState.load() < kReady) gCount.beforeReady.fetch_add(1, std::memory_order_relaxed);
  return false;
}

inline bool recording() {
  if (tDepth) return false;
  if (UNLIKELY(gState.load(std::memory_order_relaxed) != kReady)) return notReady();
  return gEnabled.load(std::memory_order_relaxed);
}

struct Depth {
  Depth() { tDepth++; }
  ~Depth() { tDepth--; }
};

unsigned log2Of(size_t align) { return align ? unsigned(__builtin_ctzll(align)) : 0; }

template <class F>
void* recordAlloc(uint8_t entry, uint64_t size, unsigned alignLog2, F call) {
  if (!recording()) return call();
  Depth d;
  void* p = call();
  if (p) emit(entry, p, size, alignLog2, tick());
  else gCount.failedAllocs.fetch_add(1, std::memory_order_relaxed);
  return p;
}

template <class F>
void recordFree(uint8_t entry, void* p, F call) {
  if (!p || !recording()) return call();
  Depth d;
  emit(entry, p, 0, 0, tick());
  call();
}

// ---- the bootstrap arena: dlsym may allocate before the real functions are known ----

alignas(64) char gArena[kBootstrapBytes];
std::atomic<size_t> gArenaUsed{0};

bool inArena(const void* p) { return p >= gArena && p < gArena + kBootstrapBytes; }
size_t arenaSize(const void* p) { return *reinterpret_cast<const size_t*>(static_cast<const char*>(p) - 16); }
void* arenaAlloc(size_t n) {
  size_t need = 16 + ((n + 15) & ~size_t{15});
  size_t at = gArenaUsed.fetch_add(need);
  if (at + need > kBootstrapBytes) return nullptr;
  gCount.bootstrap.fetch_add(1);
  gCount.beforeReady.fetch_add(1);
  *reinterpret_cast<size_t*>(gArena + at) = n;
  return gArena + at + 16;  // static storage: already zero
}

void resolve();
bool resolved() {
  if (UNLIKELY(gState.load(std::memory_order_acquire) < kResolved)) resolve();
  return gState.load(std::memory_order_acquire) >= kResolved;
}

// ---- setup ----

void copyStr(char* dst, const char* src, size_t cap) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = 0;
}
char* appendNum(char* p, uint64_t v) {
  char tmp[24];
  int k = 0;
  do tmp[k++] = char('0' + v % 10), v /= 10;
  while (v);
  while (k) *p++ = tmp[--k];
  return p;
}

void resolve() {
  int expected = kUnresolved;
  if (!gState.compare_exchange_strong(expected, kResolving)) {
    while (gState.load() == kResolving) sched_yield();  // another thread resolves (calls in between: arena)
    return;
  }
#define NEXT(f, name) real.f = reinterpret_cast<decltype(real.f)>(dlsym(RTLD_NEXT, name))
  NEXT(malloc, "malloc"), NEXT(calloc, "calloc"), NEXT(realloc, "realloc"), NEXT(free, "free");
  NEXT(reallocarray, "reallocarray"), NEXT(posix_memalign, "posix_memalign"), NEXT(aligned_alloc, "aligned_alloc");
  NEXT(memalign, "memalign"), NEXT(valloc, "valloc"), NEXT(pvalloc, "pvalloc");
  NEXT(exit_, "_exit"), NEXT(Exit_, "_Exit"), NEXT(execve, "execve"), NEXT(execvpe, "execvpe");
  NEXT(fexecve, "fexecve");
#undef NEXT
  gState.store(kResolved);
}

// Removes the recorder from this process's environment (not following: exec'd programs are not recorded).
void stripEnvironment() {
  unsetenv("GOMALLOC_RECORD_DIR");
  unsetenv("GOMALLOC_RECORD_FOLLOW");
  unsetenv("GOMALLOC_RECORD_LIB");
  char* pre = getenv("LD_PRELOAD");
  size_t len = strlen(gLib);
  if (!pre || !len) return;
  // Cut every occurrence of the library (and a separator after it) out of the value, in place.
  for (char* at; (at = strstr(pre, gLib));) {
    char* end = at + len;
    if ((at != pre && at[-1] != ':' && at[-1] != ' ') || (*end && *end != ':' && *end != ' ')) break;
    if (*end) end++;
    memmove(at, end, strlen(end) + 1);
  }
  if (!*pre) unsetenv("LD_PRELOAD");
}

void onSignal(int sig);
constexpr int kSignals[] = {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV,
                            SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ};

void installSignals() {
  for (int sig : kSignals) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigaction(sig, &sa, nullptr);
  }
}

void onSignal(int sig) {
  finalFlush(kEndSignal, sig);
  signal(sig, SIG_DFL);
  raise(sig);  // SA_NODEFER: delivered now, with the default action
}

// Opens DIR/PID-START.raw and writes the process chunk.
bool openRawFile(uint64_t forked) {
  RawProcess p;
  p.pid = uint64_t(getpid()), p.ppid = uint64_t(getppid()), p.forked = forked;
  timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  p.startTs = now();
  p.startReal = uint64_t(rt.tv_sec) * 1000000000u + uint64_t(rt.tv_nsec);
  char path[kPathMax + 64];
  size_t dl = strlen(gDir);
  memcpy(path, gDir, dl);
  char* q = path + dl;
  *q++ = '/';
  q = appendNum(q, p.pid);
  *q++ = '-';
  q = appendNum(q, p.startTs);
  memcpy(q, ".raw", 5);
  gFd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (gFd < 0) return false;
  gPid = p.pid;
  struct {
    RawProcess p;
    char cmd[4096];
  } payload;
  payload.p = p;
  size_t cmdLen = 0;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r;
    while (cmdLen < sizeof payload.cmd &&
           (r = read(fd, payload.cmd + cmdLen, sizeof payload.cmd - cmdLen)) > 0)
      cmdLen += size_t(r);
    close(fd);
  }
  const size_t padded = (cmdLen + 7) & ~size_t{7};  // (the cmd buffer's size is a multiple of 8)
  memset(payload.cmd + cmdLen, 0, padded - cmdLen);
  payload.p.cmdBytes = cmdLen;
  writeChunk(kChunkProcess, 0, 0, &payload, uint32_t(sizeof p + padded), sizeof p + padded);
  return true;
}

void onForkChild() {
  if (gState.load() != kReady) return;
  gPoolLock.store(0);
  if (!gFollow || !gEnabled.load()) {
    gEnabled.store(false);
    if (gFd >= 0) close(gFd), gFd = -1;
    return;
  }
  // Following: a fresh file; only this thread exists; the parent's records are the parent's.
  close(gFd);
  gNextThread.store(0);
  gPool = nullptr;
  ThreadBuf* mine = tBuf;
  for (size_t i = 0, n = gNumBufs.load(); i < n; i++) {
    ThreadBuf* b = gBufs[i];
    b->busy.store(0), b->n.store(0), b->done = 0, b->seq = 0;
    if (b != mine) b->nextFree = gPool, gPool = b;
  }
  if (mine) mine->thread = gNextThread.fetch_add(1);
  tExited = false;
  gImmediate.store(false);
  if (!openRawFile(1)) gEnabled.store(false);
}

__attribute__((constructor(101))) void init() {
  tDepth++;
  resolve();
  const char* dir = getenv("GOMALLOC_RECORD_DIR");
  if (!dir || !*dir || strlen(dir) >= kPathMax) {
    gState.store(kInert);
    tDepth--;
    return;
  }
  copyStr(gDir, dir, kPathMax);
  if (const char* lib = getenv("GOMALLOC_RECORD_LIB")) copyStr(gLib, lib, kPathMax);
  const char* follow = getenv("GOMALLOC_RECORD_FOLLOW");
  gFollow = follow && follow[0] == '1';
  if (!gFollow) stripEnvironment();
  if (pthread_key_create(&gKey, threadExit) != 0 || !openRawFile(0)) {
    gState.store(kInert);
    tDepth--;
    return;
  }
  pthread_atfork(nullptr, nullptr, onForkChild);
  installSignals();
  gEnabled.store(true);
  gState.store(kReady);
  tDepth--;
}

__attribute__((destructor(101))) void fini() { finalFlush(kEndExit, 0); }

// ---- exec: flush first; the environment goes on only when following ----

bool envIs(const char* entry, const char* name) {
  size_t n = strlen(name);
  return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

// envp as the exec'd program gets it, in out (cap entries): when following, the recorder's variables are put
// back if the program dropped them; otherwise they are left out.
char* const* execEnvironment(char* const* envp, char** out, size_t cap, char* preload, size_t preloadCap) {
  if (gState.load() != kReady) return envp;
  size_t k = 0;
  bool haveDir = false, havePreload = false;
  for (size_t i = 0; envp && envp[i] && k + 4 < cap; i++) {
    const char* e = envp[i];
    bool ours = envIs(e, "GOMALLOC_RECORD_DIR") || envIs(e, "GOMALLOC_RECORD_FOLLOW") || envIs(e, "GOMALLOC_RECORD_LIB");
    if (ours && !gFollow) continue;
    haveDir |= envIs(e, "GOMALLOC_RECORD_DIR");
    if (envIs(e, "LD_PRELOAD") && *gLib && strstr(e, gLib)) {
      if (!gFollow) continue;  // (the library alone is what record puts there)
      havePreload = true;
    }
    out[k++] = const_cast<char*>(e);
  }
  if (gFollow && !havePreload && *gLib) {
    static const char kKey[] = "LD_PRELOAD=";
    if (sizeof kKey + strlen(gLib) < preloadCap) {
      memcpy(preload, kKey, sizeof kKey - 1);
      copyStr(preload + sizeof kKey - 1, gLib, preloadCap - sizeof kKey);
      out[k++] = preload;
    }
  }
  if (gFollow && !haveDir) {
    static char dirEntry[kPathMax + 32], followEntry[] = "GOMALLOC_RECORD_FOLLOW=1", libEntry[kPathMax + 32];
    memcpy(dirEntry, "GOMALLOC_RECORD_DIR=", 20), copyStr(dirEntry + 20, gDir, kPathMax);
    memcpy(libEntry, "GOMALLOC_RECORD_LIB=", 20), copyStr(libEntry + 20, gLib, kPathMax);
    out[k++] = dirEntry, out[k++] = followEntry, out[k++] = libEntry;
  }
  out[k] = nullptr;
  return out;
}

template <class F>
int execWith(char* const* envp, F call) {
  if (ourProcess()) finalFlush(kEndExec, 0);
  char* env[1024];
  char preload[kPathMax + 16];
  int r = call(execEnvironment(envp, env, 1024, preload, sizeof preload));
  gImmediate.store(false);  // the exec failed: carry on buffering
  return r;
}

}  // namespace

// ---- the C entry points ----

EXPORT void* malloc(size_t n) noexcept {
  if (UNLIKELY(!resolved())) return arenaAlloc(n);
  return recordAlloc(kMalloc, n, 0, [&] { return real.malloc(n); });
}

EXPORT void* calloc(size_t n, size_t size) noexcept {
  if (UNLIKELY(!resolved())) return __builtin_mul_overflow(n, size, &n) ? nullptr : arenaAlloc(n);
  return recordAlloc(kCalloc, uint64_t(n) * size, 0, [&] { return real.calloc(n, size); });
}

EXPORT void free(void* p) noexcept {
  if (UNLIKELY(inArena(p))) return;
  if (UNLIKELY(!resolved())) return;  // (a pointer from elsewhere while dlsym runs: leaked)
  recordFree(kFree, p, [&] { real.free(p); });
}

namespace {
// realloc and reallocarray: the old block's free (ts before the call) and the new block's alloc (ts after).
template <class F>
void* recordRealloc(void* old, uint64_t size, F call) {
  if (!recording()) return call();
  Depth d;
  uint64_t before = old ? tick() : 0;
  void* p = call();
  uint64_t after = tick();
  if (p) {
    if (old) emit(kReallocFree, old, 0, 0, before);
    emit(kReallocAlloc, p, size, 0, after);
  } else if (old && size == 0) {
    emit(kReallocFree, old, 0, 0, before);  // glibc: realloc(p, 0) frees p and returns NULL
  } else if (size) {
    gCount.failedAllocs.fetch_add(1, std::memory_order_relaxed);
  }
  return p;
}
void* fromArena(void* old, size_t n) {
  void* p = malloc(n);
  if (p) memcpy(p, old, arenaSize(old) < n ? arenaSize(old) : n);
  return p;
}
}  // namespace

EXPORT void* realloc(void* old, size_t n) noexcept {
  if (UNLIKELY(!resolved())) return inArena(old) || !old ? arenaAlloc(n) : nullptr;
  if (UNLIKELY(inArena(old))) return fromArena(old, n);
  return recordRealloc(old, n, [&] { return real.realloc(old, n); });
}

EXPORT void* reallocarray(void* old, size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (UNLIKELY(!resolved() || inArena(old))) return realloc(old, bytes);
  return recordRealloc(old, bytes, [&] { return real.reallocarray(old, n, size); });
}

EXPORT int posix_memalign(void** out, size_t align, size_t n) noexcept {
  if (UNLIKELY(!resolved())) return ENOMEM;
  int r = 0;
  recordAlloc(kAligned, n, log2Of(align), [&] {
    r = real.posix_memalign(out, align, n);
    return r == 0 ? *out : nullptr;
  });
  return r;
}

EXPORT void* aligned_alloc(size_t align, size_t n) noexcept {
  if (UNLIKELY(!resolved())) return nullptr;
  return recordAlloc(kAligned, n, log2Of(align), [&] { return real.aligned_alloc(align, n); });
}

EXPORT void* memalign(size_t align, size_t n) noexcept {
  if (UNLIKELY(!resolved())) return nullptr;
  return recordAlloc(kAligned, n, log2Of(align), [&] { return real.memalign(align, n); });
}

EXPORT void* valloc(size_t n) noexcept {
  if (UNLIKELY(!resolved())) return nullptr;
  return recordAlloc(kAligned, n, 12, [&] { return real.valloc(n); });
}

EXPORT void* pvalloc(size_t n) noexcept {
  if (UNLIKELY(!resolved())) return nullptr;
  return recordAlloc(kAligned, n, 12, [&] { return real.pvalloc(n); });
}

// ---- exit and exec ----

EXPORT void _exit(int code) {  // (unistd.h declares it without __THROW)
  finalFlush(kEndUnderscoreExit, 0);
  resolved();
  real.exit_(code);
  __builtin_unreachable();
}

EXPORT void _Exit(int code) noexcept {
  finalFlush(kEndUnderscoreExit, 0);
  resolved();
  real.Exit_(code);
  __builtin_unreachable();
}

EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
  resolved();
  return execWith(envp, [&](char* const* env) { return real.execve(path, argv, env); });
}

EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
  resolved();
  return execWith(envp, [&](char* const* env) { return real.execvpe(file, argv, env); });
}

EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
  resolved();
  return execWith(envp, [&](char* const* env) { return real.fexecve(fd, argv, env); });
}

EXPORT int execv(const char* path, char* const argv[]) noexcept { return execve(path, argv, environ); }
EXPORT int execvp(const char* file, char* const argv[]) noexcept { return execvpe(file, argv, environ); }

namespace {
// execl, execle, execlp: the arguments as an array on the stack.
constexpr int kMaxListArgs = 4096;
#define COLLECT_ARGS(first, ap, argv)                      \
  char* argv[kMaxListArgs];                                \
  int argc = 0;                                            \
  argv[argc++] = const_cast<char*>(first);                 \
  while (argc < kMaxListArgs && (argv[argc] = va_arg(ap, char*))) argc++; \
  if (argc == kMaxListArgs) {                              \
    errno = E2BIG;                                         \
    return -1;                                             \
  }
}  // namespace

EXPORT int execl(const char* path, const char* arg, ...) noexcept {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execve(path, argv, environ);
}

EXPORT int execlp(const char* file, const char* arg, ...) noexcept {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execvpe(file, argv, environ);
}

EXPORT int execle(const char* path, const char* arg, ...) noexcept {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv)
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}

// ---- C++ operator new and delete ----
// libstdc++'s operators call malloc, aligned_alloc and free through the PLT, so those calls alone would be
// recorded (as malloc and free); the recorder defines the operators too, to tell new from malloc
// (meta.record.entries). They allocate with the real malloc or aligned_alloc, as libstdc++'s do; only when that
// fails is libstdc++'s own operator called (found lazily), for its new-handler loop and its std::bad_alloc,
// and its retry is recorded as a malloc. So the recorder needs no libstdc++ and no exception support.

namespace {
struct Cxx {
  void* (*nw)(size_t);
  void* (*nwNothrow)(size_t, const std::nothrow_t&);
  void* (*nwAl)(size_t, std::align_val_t);
  void* (*nwAlNothrow)(size_t, std::align_val_t, const std::nothrow_t&);
} cxx;

// What libstdc++'s operator new does on its first try.
void* newTry(size_t n, size_t align) {
  if (!align) return real.malloc(n ? n : 1);
  return real.aligned_alloc(align, (n + align - 1) & ~(align - 1));
}

template <class Fn, class... A>
void* newVia(Fn& slot, const char* name, uint8_t entry, size_t n, size_t align, A... a) {
  if (UNLIKELY(!resolved())) return arenaAlloc(n);
  if (void* p = recordAlloc(entry, n, log2Of(align), [&] { return newTry(n, align); })) return p;
  Fn f = next(slot, name);  // the new-handler loop, std::bad_alloc (or nullptr for nothrow)
  return f ? f(n, a...) : nullptr;
}

void deleteVia(uint8_t entry, void* p) {
  if (UNLIKELY(inArena(p) || !resolved())) return;
  recordFree(entry, p, [&] { real.free(p); });
}
}  // namespace

#define VIS __attribute__((visibility("default")))
VIS void* operator new(size_t n) { return newVia(cxx.nw, "_Znwm", kNew, n, 0); }
VIS void* operator new[](size_t n) { return newVia(cxx.nw, "_Znwm", kNew, n, 0); }
VIS void* operator new(size_t n, const std::nothrow_t& t) noexcept {
  return newVia(cxx.nwNothrow, "_ZnwmRKSt9nothrow_t", kNew, n, 0, t);
}
VIS void* operator new[](size_t n, const std::nothrow_t& t) noexcept {
  return newVia(cxx.nwNothrow, "_ZnwmRKSt9nothrow_t", kNew, n, 0, t);
}
VIS void* operator new(size_t n, std::align_val_t a) {
  return newVia(cxx.nwAl, "_ZnwmSt11align_val_t", kNewAligned, n, size_t(a), a);
}
VIS void* operator new[](size_t n, std::align_val_t a) {
  return newVia(cxx.nwAl, "_ZnwmSt11align_val_t", kNewAligned, n, size_t(a), a);
}
VIS void* operator new(size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return newVia(cxx.nwAlNothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t", kNewAligned, n, size_t(a), a, t);
}
VIS void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return newVia(cxx.nwAlNothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t", kNewAligned, n, size_t(a), a, t);
}
// Every delete form is a free (the size and nothrow add nothing to the trace).
VIS void operator delete(void* p) noexcept { deleteVia(kDelete, p); }
VIS void operator delete[](void* p) noexcept { deleteVia(kDelete, p); }
VIS void operator delete(void* p, size_t) noexcept { deleteVia(kDelete, p); }
VIS void operator delete[](void* p, size_t) noexcept { deleteVia(kDelete, p); }
VIS void operator delete(void* p, const std::nothrow_t&) noexcept { deleteVia(kDelete, p); }
VIS void operator delete[](void* p, const std::nothrow_t&) noexcept { deleteVia(kDelete, p); }
VIS void operator delete(void* p, std::align_val_t) noexcept { deleteVia(kDeleteAligned, p); }
VIS void operator delete[](void* p, std::align_val_t) noexcept { deleteVia(kDeleteAligned, p); }
VIS void operator delete(void* p, size_t, std::align_val_t) noexcept { deleteVia(kDeleteAligned, p); }
VIS void operator delete[](void* p, size_t, std::align_val_t) noexcept { deleteVia(kDeleteAligned, p); }
VIS void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deleteVia(kDeleteAligned, p); }
VIS void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deleteVia(kDeleteAligned, p); }
