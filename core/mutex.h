// The one instrumented mutex type every allocator lock goes through. See malloc.h for the overview.
//
// It counts acquisitions, contended acquisitions (the lock was held when we asked), the total and maximum
// time spent waiting, and the total time held. Timestamps come from the TSC (rdtsc, converted to ns with
// a once-calibrated factor), so an uncontended lock costs two TSC reads on top of the atomic exchange.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace gomalloc::core {

struct LockStats {
  std::string name;
  uint64_t acquisitions = 0;
  uint64_t contended = 0;
  uint64_t waitNs = 0;
  uint64_t maxWaitNs = 0;
  uint64_t holdNs = 0;
  LockStats& operator+=(const LockStats& o);
};

// Nanoseconds on a monotonic clock, from the TSC.
uint64_t nanotime();

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock();
  void unlock();
  bool try_lock();
  // Statistics so far; exact when no thread holds or waits for the lock.
  LockStats stats(std::string name) const;
  void resetStats();

 private:
  std::mutex mu_;
  // Guarded by mu_ (written only by the holder).
  uint64_t acquisitions_ = 0, contended_ = 0, waitNs_ = 0, maxWaitNs_ = 0, holdNs_ = 0;
  uint64_t acquiredAt_ = 0;
};

}  // namespace gomalloc::core
