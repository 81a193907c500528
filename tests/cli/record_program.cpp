// The program tests/cli/record_cli_test.cpp records (built without sanitizers: it runs with the recorder
// preloaded). Modes:
//   threads   kThreads threads; thread t allocates kObjects objects of each of the sizes 1000+t (new[]),
//             2000+t (malloc), 4000+t (posix_memalign 64), 5000+t (aligned new[] 128), 6000+t (calloc), and hands
//             them to thread t+1 (mod kThreads), which frees them (delete[], free, aligned delete[], free);
//             it also reallocs kReallocs blocks of 3000+t bytes to 3100+t and frees them itself.
//   fork      allocates 7001 bytes, forks; the child allocates 7002 bytes and exits; the parent waits.
//   _exit     allocates 7003 bytes and leaves by _exit(3).
//   signal    allocates 7004 bytes and dies by SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <new>

namespace {

constexpr int kThreads = 4, kObjects = 500, kReallocs = 100;

struct Handoff {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  char* newed[kObjects];
  void* malloced[kObjects];
  void* aligned[kObjects];
  char* alignedNew[kObjects];
  void* calloced[kObjects];
};
Handoff gTo[kThreads];
pthread_barrier_t gBarrier;

void* worker(void* arg) {
  const int t = int(reinterpret_cast<long>(arg));
  Handoff& to = gTo[(t + 1) % kThreads];
  pthread_mutex_lock(&to.mu);
  for (int i = 0; i < kObjects; i++) {
    to.newed[i] = new char[1000 + t];
    to.malloced[i] = malloc(2000 + t);
    if (posix_memalign(&to.aligned[i], 64, 4000 + t) != 0) abort();
    to.alignedNew[i] = new (std::align_val_t(128)) char[5000 + t];
    to.calloced[i] = calloc(1, 6000 + t);
  }
  pthread_mutex_unlock(&to.mu);
  for (int i = 0; i < kReallocs; i++) {
    void* p = malloc(3000 + t);
    static_cast<volatile char*>(p)[0] = 1;
    void* q = realloc(p, 3100 + t);
    static_cast<volatile char*>(q)[0] = 2;
    free(q);
  }
  pthread_barrier_wait(&gBarrier);
  Handoff& mine = gTo[t];
  pthread_mutex_lock(&mine.mu);
  for (int i = 0; i < kObjects; i++) {
    delete[] mine.newed[i];
    free(mine.malloced[i]);
    free(mine.aligned[i]);
    operator delete[](mine.alignedNew[i], std::align_val_t(128));
    free(mine.calloced[i]);
  }
  pthread_mutex_unlock(&mine.mu);
  return nullptr;
}

void* keep(size_t n) {
  void* p = malloc(n);
  static_cast<volatile char*>(p)[0] = 1;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "threads";
  if (!strcmp(mode, "threads")) {
    pthread_barrier_init(&gBarrier, nullptr, kThreads);
    pthread_t th[kThreads];
    for (long t = 0; t < kThreads; t++) pthread_create(&th[t], nullptr, worker, reinterpret_cast<void*>(t));
    for (auto& x : th) pthread_join(x, nullptr);
    return 0;
  }
  if (!strcmp(mode, "fork")) {
    free(keep(7001));
    pid_t pid = fork();
    if (pid == 0) {
      free(keep(7002));
      exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  if (!strcmp(mode, "_exit")) {
    keep(7003);
    _exit(3);
  }
  if (!strcmp(mode, "signal")) {
    keep(7004);
    raise(SIGTERM);
    return 0;
  }
  fprintf(stderr, "usage: record_program [threads|fork|_exit|signal]\n");
  return 2;
}
