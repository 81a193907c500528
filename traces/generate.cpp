#include "traces/generate.h"

#include <cmath>
#include <deque>
#include <memory>
#include <stdexcept>

namespace gomalloc::traces {
namespace {

// xoshiro256** seeded with splitmix64 (both public-domain algorithms by Blackman and Vigna).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      w = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3], s_[2] ^= t, s_[3] = rotl(s_[3], 45);
    return r;
  }
  uint64_t below(uint64_t n) {  // [0, n): the high half of a 64x64-bit product
    __extension__ using U128 = unsigned __int128;
    return n ? uint64_t(U128(next()) * n >> 64) : 0;
  }
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }                   // [lo, hi]
  bool chance(double p) { return double(next() >> 11) * 0x1.0p-53 < p; }
  // Log-uniform in [lo, hi].
  uint64_t logRange(uint64_t lo, uint64_t hi) {
    double u = double(next() >> 11) * 0x1.0p-53;
    auto v = uint64_t(std::exp(std::log(double(lo)) + u * (std::log(double(hi) + 1) - std::log(double(lo)))));
    return std::min(hi, std::max(lo, v));
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

constexpr uint64_t kNoGc = 0;

const std::vector<GenKind> kKinds = {
    {"steady", "Go-like size mix at a fixed live set: a long-running service in steady state", 4, 100000},
    {"web", "request-scoped short-lived objects on many goroutines plus a slowly growing cache", 8, 100000},
    {"producer-consumer", "objects allocated on producer threads and freed on consumer threads (channels, queues)",
     4, 100000},
    {"fragmentation", "fill a size class, free every other object, then allocate a larger class", 1, 100000},
    {"large", "objects over 32 KiB (buffers, big slices and maps) at a small live set", 2, 100000},
    {"larson", "the Larson server benchmark: random-size blocks replaced at random, arrays handed between threads",
     4, kNoGc},
};

// The state every generator shares: the clock, ids and the output.
struct Gen {
  Gen(const GenOptions& o, uint32_t threads, const std::function<void(const Event&)>& sink)
      : rng(o.seed), threads(threads), out(sink) {}
  Rng rng;
  uint32_t threads;
  const std::function<void(const Event&)>& out;
  uint64_t clock = 1000, nextId = 1;

  uint64_t tick() { return clock += 1 + rng.below(64); }
  uint16_t anyThread() { return uint16_t(rng.below(threads)); }
  void alloc(uint16_t t, uint64_t id, uint64_t size, bool scan) {
    out(Event::alloc(t, id, size, scan).at(tick()));
  }
  uint64_t alloc(uint16_t t, SizeDraw d) {
    uint64_t id = nextId++;
    alloc(t, id, d.size, d.scan);
    return id;
  }
  void free(uint16_t t, uint64_t id) { out(Event::free(t, id).at(tick())); }
  SizeDraw size() { return goSize(rng.next(), rng.next()); }
};

// Each kind is a state machine whose step() writes exactly one event.
class Kind {
 public:
  virtual ~Kind() = default;
  virtual void step() = 0;
};

struct Live {
  uint64_t id;
  uint16_t thread;
};

// Removes and returns a random element (order does not matter).
template <class T>
T takeRandom(std::vector<T>& v, Rng& rng) {
  size_t i = size_t(rng.below(v.size()));
  T x = v[i];
  v[i] = v.back();
  v.pop_back();
  return x;
}

// steady: a live set that stays near its target; each step allocates (below the target, or half the time at
// it) or frees a random live object, usually on the thread that allocated it (Go's sweeper frees on others).
class Steady : public Kind {
 public:
  Steady(Gen& g, uint64_t events) : g_(g), target_(std::clamp<uint64_t>(events / 50, 64, 200000)) {}
  void step() override {
    if (live_.size() < target_ || live_.empty() || g_.rng.chance(0.5)) {
      uint16_t t = g_.anyThread();
      live_.push_back({g_.alloc(t, g_.size()), t});
    } else {
      Live o = takeRandom(live_, g_.rng);
      g_.free(g_.rng.chance(0.9) ? o.thread : g_.anyThread(), o.id);
    }
  }

 private:
  Gen& g_;
  uint64_t target_;
  std::vector<Live> live_;
};

// web: every thread (a P running handler goroutines) serves one request at a time: the request allocates 4 to
// 64 objects with the Go size mix, then frees them all when it ends; requests on all threads interleave. At the
// end of a request, 10% of the time an entry (256 B to 8 KiB, with pointers) is added to a shared cache, and
// 5% of the time the oldest entry is evicted, by whichever thread ends the request: the cache grows slowly.
class Web : public Kind {
 public:
  explicit Web(Gen& g) : g_(g), reqs_(g.threads) {}
  void step() override {
    uint16_t t = g_.anyThread();
    Request& r = reqs_[t];
    if (r.toAlloc == 0 && r.live.empty()) {  // start the next request
      r.toAlloc = g_.rng.range(4, 64);
      r.cachePut = g_.rng.chance(0.10);
      r.cacheEvict = g_.rng.chance(0.05);
    }
    if (r.toAlloc > 0) {
      r.live.push_back(g_.alloc(t, g_.size()));
      r.toAlloc--;
    } else if (r.cachePut) {
      cache_.push_back(g_.alloc(t, SizeDraw{g_.rng.logRange(256, 8192), true}));
      r.cachePut = false;
    } else if (r.cacheEvict && !cache_.empty()) {
      g_.free(t, cache_.front());
      cache_.pop_front();
      r.cacheEvict = false;
    } else {
      r.cacheEvict = false;
      g_.free(t, takeRandom(r.live, g_.rng));
    }
  }

 private:
  struct Request {
    uint64_t toAlloc = 0;
    bool cachePut = false, cacheEvict = false;
    std::vector<uint64_t> live;
  };
  Gen& g_;
  std::vector<Request> reqs_;
  std::deque<uint64_t> cache_;
};

// producer-consumer: the first half of the threads produce messages (a 48 B header with pointers, or a 64 B to
// 4 KiB payload), the others consume them in FIFO order from a queue of at most 1024 and free them.
class ProducerConsumer : public Kind {
 public:
  explicit ProducerConsumer(Gen& g) : g_(g), producers_(std::max<uint32_t>(1, g.threads / 2)) {}
  void step() override {
    uint32_t consumers = g_.threads > producers_ ? g_.threads - producers_ : 1;
    bool produce = queue_.empty() || (queue_.size() < kDepth && g_.rng.chance(0.5));
    if (produce) {
      auto t = uint16_t(g_.rng.below(producers_));
      SizeDraw d = g_.rng.chance(0.3) ? SizeDraw{48, true} : SizeDraw{g_.rng.logRange(64, 4096), false};
      queue_.push_back(g_.alloc(t, d));
    } else {
      auto t = uint16_t(g_.threads > producers_ ? producers_ + g_.rng.below(consumers) : 0);
      g_.free(t, queue_.front());
      queue_.pop_front();
    }
  }

 private:
  static constexpr size_t kDepth = 1024;
  Gen& g_;
  uint32_t producers_;
  std::deque<uint64_t> queue_;
};

// fragmentation: cycles of (1) allocate n objects of one size class, (2) free every other one, (3) allocate
// n/2 objects of a larger class (which cannot use the holes), (4) free everything; the classes step through
// 16, 32, 48, ... 1024 bytes. Threads take turns.
class Fragmentation : public Kind {
 public:
  Fragmentation(Gen& g, uint64_t events) : g_(g), n_(std::clamp<uint64_t>(events / 16, 16, 65536) & ~uint64_t{1}) {}
  void step() override {
    static constexpr uint64_t kSizes[] = {16, 32, 48, 64, 96, 128, 256, 512, 1024, 2048};
    constexpr size_t kN = sizeof kSizes / sizeof kSizes[0];
    uint64_t small = kSizes[cycle_ % (kN - 1)], large = kSizes[cycle_ % (kN - 1) + 1];
    uint16_t t = uint16_t(i_ % g_.threads);
    switch (phase_) {
      case 0:
        objs_.push_back(g_.alloc(t, SizeDraw{small, cycle_ % 2 == 0}));
        if (++i_ == n_) next();
        break;
      case 1:
        g_.free(t, objs_[2 * i_]);
        objs_[2 * i_] = 0;
        if (++i_ == n_ / 2) next();
        break;
      case 2:
        objs_.push_back(g_.alloc(t, SizeDraw{large, cycle_ % 2 == 0}));
        if (++i_ == n_ / 2) next();
        break;
      default:
        while (objs_[j_] == 0) j_++;
        g_.free(t, objs_[j_++]);
        if (++i_ == n_) {  // n/2 survivors + n/2 larger objects
          objs_.clear();
          j_ = 0;
          cycle_++;
          next();
        }
        break;
    }
  }

 private:
  void next() {
    phase_ = (phase_ + 1) % 4;
    i_ = 0;
  }
  Gen& g_;
  uint64_t n_;
  std::vector<uint64_t> objs_;
  int phase_ = 0;
  uint64_t i_ = 0, j_ = 0, cycle_ = 0;
};

// large: objects of 32 KiB + 1 to 4 MiB (log-uniform; a quarter of them whole pages), 20% with pointers, at
// a live set of about 32 objects.
class Large : public Kind {
 public:
  explicit Large(Gen& g) : g_(g) {}
  void step() override {
    if (live_.size() < 32 || g_.rng.chance(0.5)) {
      uint64_t size = g_.rng.logRange(32769, 4 << 20);
      if (g_.rng.chance(0.25)) size = (size + 8191) / 8192 * 8192;
      uint16_t t = g_.anyThread();
      live_.push_back({g_.alloc(t, SizeDraw{size, g_.rng.chance(0.2)}), t});
    } else {
      Live o = takeRandom(live_, g_.rng);
      g_.free(o.thread, o.id);
    }
  }

 private:
  Gen& g_;
  std::vector<Live> live_;
};

// larson (Larson and Krishnan, "Memory allocation for long-running server applications", 1998): every thread
// owns an array of slots holding blocks of 8 to 512 bytes; a step picks a random slot of a random thread,
// frees its block and allocates a new one of a random size. After each round (4 × slots steps of a thread) the
// thread hands its array to the next thread (in the benchmark, to a newly created thread), so blocks are freed
// by other threads than the ones that allocated them. Ids are addresses reused after a free, as in native traces.
class Larson : public Kind {
 public:
  Larson(Gen& g, uint64_t events)
      : g_(g), slots_(std::clamp<uint64_t>(events / (8 * uint64_t(g.threads)), 8, 1000)), arrays_(g.threads) {
    for (auto& a : arrays_) a.assign(slots_, 0);
    steps_.assign(g.threads, 0);
  }
  void step() override {
    if (pending_) {  // the replacement of the block freed in the previous step
      pending_ = false;
      allocInto(pendingThread_, pendingSlot_);
      return;
    }
    uint16_t t = g_.anyThread();
    uint64_t i = g_.rng.below(slots_);
    uint64_t& id = arrays_[t][i];
    if (id == 0) {
      allocInto(t, i);
      return;
    }
    g_.free(t, id);
    freeIds_.push_back(id);
    id = 0;
    pending_ = true, pendingThread_ = t, pendingSlot_ = i;
  }

 private:
  void allocInto(uint16_t t, uint64_t i) {
    uint64_t id;
    if (!freeIds_.empty()) {
      id = freeIds_.back();
      freeIds_.pop_back();
    } else {
      id = 0xc000000000 + 16 * g_.nextId++;
    }
    g_.alloc(t, id, g_.rng.range(8, 512), false);
    arrays_[t][i] = id;
    if (++steps_[t] % (4 * slots_) == 0) std::swap(arrays_[t], arrays_[(t + 1) % g_.threads]);
  }
  Gen& g_;
  uint64_t slots_;
  std::vector<std::vector<uint64_t>> arrays_;
  std::vector<uint64_t> steps_;
  std::vector<uint64_t> freeIds_;
  bool pending_ = false;
  uint16_t pendingThread_ = 0;
  uint64_t pendingSlot_ = 0;
};

uint32_t threadsOf(const GenOptions& o, const GenKind& k) {
  uint32_t t = o.threads.value_or(k.defaultThreads);
  if (t < 1 || t > kMaxThreads) throw std::invalid_argument("--threads must be from 1 to 65536");
  return t;
}

const GenKind& kindOf(const GenOptions& o) {
  const GenKind* k = findGenKind(o.kind);
  if (!k) {
    std::string names;
    for (auto& x : kKinds) names += (names.empty() ? "" : ", ") + std::string(x.name);
    throw std::invalid_argument("unknown generator kind \"" + o.kind + "\": expected one of " + names);
  }
  return *k;
}

}  // namespace

SizeDraw goSize(uint64_t r1, uint64_t r2) {
  // r1 picks the bucket (per 10000), r2 the size inside it and the pointer bit.
  uint64_t b = r1 % 10000, u = r2 >> 8;
  bool scan = (r2 & 0xff) < 140;  // about 55% of objects hold pointers
  if (b < 4400) {
    if ((r2 & 0xff) < 100) return {1 + u % 15, false};  // tiny requests: pointer-free, under 16 bytes
    return {16, scan};
  }
  if (b < 7200) return {17 + u % 16, scan};
  if (b < 9300) return {33 + u % 32, scan};
  if (b < 9600) return {65 + u % 64, scan};
  if (b < 9990) {  // 129 B to 32 KiB, log-uniform
    double x = double(u % 1000000) / 1e6;
    return {std::min<uint64_t>(32768, uint64_t(129 * std::pow(32768.0 / 129, x))), scan};
  }
  double x = double(u % 1000000) / 1e6;  // large: 32 KiB + 1 to 1 MiB
  return {uint64_t(32769 * std::pow(32.0, x)), scan};
}

const std::vector<GenKind>& genKinds() { return kKinds; }

const GenKind* findGenKind(std::string_view name) {
  for (auto& k : kKinds)
    if (k.name == name) return &k;
  return nullptr;
}

TraceHeader genHeader(const GenOptions& o) {
  const GenKind& k = kindOf(o);
  uint32_t threads = threadsOf(o, k);
  TraceHeader h;
  h.threads = threads;
  h.meta = nlohmann::ordered_json::object();
  h.meta["source"] = "gomalloc gen " + std::string(k.name);
  h.meta["clock"] = "ns";
  h.meta["generator"] = {{"kind", k.name},
                         {"events", o.events},
                         {"threads", threads},
                         {"seed", o.seed},
                         {"gc_every", o.gcEvery.value_or(k.defaultGcEvery)}};
  return h;
}

void generate(const GenOptions& o, const std::function<void(const Event&)>& sink) {
  const GenKind& k = kindOf(o);
  uint32_t threads = threadsOf(o, k);
  uint64_t gcEvery = o.gcEvery.value_or(k.defaultGcEvery);
  Gen g(o, threads, sink);
  std::unique_ptr<Kind> kind;
  if (k.name == "steady") kind = std::make_unique<Steady>(g, o.events);
  else if (k.name == "web") kind = std::make_unique<Web>(g);
  else if (k.name == "producer-consumer") kind = std::make_unique<ProducerConsumer>(g);
  else if (k.name == "fragmentation") kind = std::make_unique<Fragmentation>(g, o.events);
  else if (k.name == "large") kind = std::make_unique<Large>(g);
  else kind = std::make_unique<Larson>(g, o.events);
  for (uint64_t n = 0; n < o.events; n++) {
    if (gcEvery && (n + 1) % gcEvery == 0) {
      sink(Event::gc(uint16_t(g.rng.below(threads))).at(g.tick()));
    } else {
      kind->step();
    }
  }
}

void generate(const GenOptions& o, TraceWriter& w) {
  generate(o, [&](const Event& e) { w.write(e); });
}

}  // namespace gomalloc::traces
