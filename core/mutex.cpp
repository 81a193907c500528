#include "core/mutex.h"

#include <x86intrin.h>

#include <chrono>
#include <thread>

namespace gomalloc::core {
namespace {

// TSC ticks per ns, measured once against steady_clock over ~2 ms.
double tscPerNs() {
  static const double ratio = [] {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto t1 = std::chrono::steady_clock::now();
    uint64_t c1 = __rdtsc();
    double ns = double(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    return ns > 0 ? double(c1 - c0) / ns : 1.0;
  }();
  return ratio;
}

}  // namespace

uint64_t nanotime() { return uint64_t(double(__rdtsc()) / tscPerNs()); }

LockStats& LockStats::operator+=(const LockStats& o) {
  acquisitions += o.acquisitions;
  contended += o.contended;
  waitNs += o.waitNs;
  maxWaitNs = std::max(maxWaitNs, o.maxWaitNs);
  holdNs += o.holdNs;
  return *this;
}

void Mutex::lock() {
  if (mu_.try_lock()) {
    acquisitions_++;
    acquiredAt_ = nanotime();
    return;
  }
  uint64_t t0 = nanotime();
  mu_.lock();
  uint64_t t1 = nanotime();
  acquisitions_++;
  contended_++;
  waitNs_ += t1 - t0;
  if (t1 - t0 > maxWaitNs_) maxWaitNs_ = t1 - t0;
  acquiredAt_ = t1;
}

bool Mutex::try_lock() {
  if (!mu_.try_lock()) return false;
  acquisitions_++;
  acquiredAt_ = nanotime();
  return true;
}

void Mutex::unlock() {
  holdNs_ += nanotime() - acquiredAt_;
  mu_.unlock();
}

LockStats Mutex::stats(std::string name) const {
  return LockStats{std::move(name), acquisitions_, contended_, waitNs_, maxWaitNs_, holdNs_};
}

void Mutex::resetStats() { acquisitions_ = contended_ = waitNs_ = maxWaitNs_ = holdNs_ = 0; }

}  // namespace gomalloc::core
