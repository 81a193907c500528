#include "core/config.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <type_traits>

#include "core/pagealloc.h"

namespace gomalloc::core {
namespace {

[[noreturn]] void bad(const std::string& key, const std::string& value, const std::string& want) {
  throw std::invalid_argument("setting " + key + "=" + value + ": " + want);
}

long long parseInt(const std::string& key, const std::string& v, long long lo, long long hi) {
  long long x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi)
    bad(key, v, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

// A list of integers in [lo, hi], separated by commas or spaces ("8,16, 24").
std::vector<long long> parseIntList(const std::string& key, const std::string& v, long long lo, long long hi) {
  std::vector<long long> out;
  size_t i = 0;
  while (i < v.size()) {
    size_t j = v.find_first_of(", ", i);
    if (j == std::string::npos) j = v.size();
    if (j > i) out.push_back(parseInt(key, v.substr(i, j - i), lo, hi));
    i = j + 1;
  }
  return out;
}

size_t parseBytes(const std::string& key, const std::string& v) {
  size_t mult = 1;
  std::string num = v;
  auto ends = [&](const char* s) {
    std::string suf(s);
    if (num.size() > suf.size() && num.compare(num.size() - suf.size(), suf.size(), suf) == 0) {
      num.resize(num.size() - suf.size());
      return true;
    }
    return false;
  };
  if (ends("GiB") || ends("G")) mult = size_t{1} << 30;
  else if (ends("MiB") || ends("M")) mult = size_t{1} << 20;
  else if (ends("KiB") || ends("K")) mult = size_t{1} << 10;
  return size_t(parseInt(key, num, 1, (1LL << 50) / (long long)mult)) * mult;
}

bool parseBool(const std::string& key, const std::string& v) {
  if (v == "true" || v == "on" || v == "1") return true;
  if (v == "false" || v == "off" || v == "0") return false;
  bad(key, v, "expected true/false (or on/off, 1/0)");
}

std::string bytesText(size_t b) {
  if (b == 0) return "0";
  if (b % (size_t{1} << 30) == 0) return std::to_string(b >> 30) + "GiB";
  if (b % (size_t{1} << 20) == 0) return std::to_string(b >> 20) + "MiB";
  return std::to_string(b);
}

std::string numText(double x) {
  char buf[32];
  auto [q, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, q) : std::string("?");
}

// "64 MiB", "22 GiB", "1.5 GiB": for messages.
std::string humanBytes(size_t b) {
  constexpr size_t kMiB = size_t{1} << 20, kGiB = size_t{1} << 30;
  auto tenths = [](size_t x, size_t unit) {
    const size_t t = (x * 10 + unit / 2) / unit;
    return std::to_string(t / 10) + (t % 10 ? "." + std::to_string(t % 10) : "");
  };
  if (b >= kGiB) return tenths(b, kGiB) + " GiB";
  return tenths(b, kMiB) + " MiB";
}

constexpr size_t kChunkBytes = kPallocChunkBytes;  // the heap grows by multiples of it

}  // namespace

const std::vector<std::string>& Config::keys() {
  static const std::vector<std::string> k = {"preset",  "gogc",      "procs",     "arena_bytes", "max_heap_bytes",
                                             "page_cache", "scavenger", "scavenger_pace", "tiny_alloc", "zeroing", "free_mode", "mcentral",
                                             "size_classes", "pacer", "gc_cons_mark", "gc_stacks_bytes", "gc_globals_bytes",
                                             "gc_baseline_bytes", "gc_baseline_scan_bytes", "gc_mark_utilization",
                                             "gc_mark_events", "gc_cons_marks", "gc_mark_starts"};
  return k;
}

Config Config::preset_(const std::string& name) {
  Config c;
  if (name == "go1.19") return c;
  if (name == "go1.13") {
    c.preset = name;
    c.mcentral = McentralDesign::Locked;
    c.pageCache = false;  // the per-P page cache arrived with the bitmap page allocator in Go 1.14
    c.pacer = Pacer::Instant;  // Go 1.13's trigger-ratio pacer is not modelled; the instant pacer stands in
    return c;
  }
  throw std::invalid_argument("unknown preset '" + name + "' (expected go1.19 or go1.13)");
}

void Config::set(const std::string& key, const std::string& v) {
  Config next = *this;  // all or nothing: a rejected setting leaves the config as it was
  next.apply(key, v);
  next.validate();
  *this = std::move(next);
}

void Config::apply(const std::string& key, const std::string& v) {
  if (key == "preset") {
    Config p = preset_(v);
    p.gogc = gogc;
    p.procs = procs;
    *this = p;
  } else if (key == "gogc") {
    gogc = v == "off" ? -1 : int(parseInt(key, v, 0, 1'000'000));  // off, not -1 (docs/config.md: >= 0 or off)
  } else if (key == "procs") {
    procs = int(parseInt(key, v, 1, 1024));
  } else if (key == "arena_bytes") {
    arenaBytes = parseBytes(key, v);
  } else if (key == "max_heap_bytes") {
    maxHeapBytes = v == "auto" ? 0 : parseBytes(key, v);
  } else if (key == "page_cache") {
    pageCache = parseBool(key, v);
  } else if (key == "scavenger") {
    scavenger = parseBool(key, v);
  } else if (key == "scavenger_pace") {
    scavengerPace = int(parseInt(key, v, 0, 1 << 20));
  } else if (key == "tiny_alloc") {
    tinyAlloc = parseBool(key, v);
  } else if (key == "zeroing") {
    zeroing = parseBool(key, v);
  } else if (key == "free_mode") {
    if (v == "deferred") freeMode = FreeMode::Deferred;
    else if (v == "immediate") {
      // Span sets cannot take a span back out of their middle, which an immediate free needs: the
      // immediate mode runs on the locked mcentral lists.
      freeMode = FreeMode::Immediate;
      mcentral = McentralDesign::Locked;
    }
    else bad(key, v, "expected deferred or immediate");
  } else if (key == "mcentral") {
    if (v == "spanset") mcentral = McentralDesign::SpanSet;
    else if (v == "locked") mcentral = McentralDesign::Locked;
    else bad(key, v, "expected spanset or locked");
  } else if (key == "pacer") {
    if (v == "go1.19") pacer = Pacer::Go119;
    else if (v == "instant") pacer = Pacer::Instant;
    else bad(key, v, "expected go1.19 or instant");
  } else if (key == "gc_cons_mark") {
    double x = 0;
    auto [q, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || q != v.data() + v.size() || !(x >= 0 && x <= 1000)) bad(key, v, "expected a number in [0, 1000]");
    gcConsMark = x;
  } else if (key == "gc_mark_utilization") {
    double x = 0;
    auto [q, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || q != v.data() + v.size() || !(x >= 0.01 && x <= 1)) bad(key, v, "expected a number in [0.01, 1]");
    gcMarkUtilization = x;
  } else if (key == "gc_mark_events") {
    std::vector<uint64_t> n;
    for (long long x : parseIntList(key, v, 0, int64_t{1} << 40)) n.push_back(uint64_t(x));
    if (n.size() == 1 && n[0] == 0) n.clear();  // 0: off
    for (uint64_t x : n)
      if (x == 0) bad(key, v, "expected counts of events of at least 1 (or 0 alone: off)");
    gcMarkEvents = std::move(n);
  } else if (key == "gc_mark_starts") {
    std::vector<uint64_t> n;
    for (long long x : parseIntList(key, v, 0, int64_t{1} << 40)) n.push_back(uint64_t(x));
    if (n.size() == 1 && n[0] == 0) n.clear();  // 0: off
    if (!std::is_sorted(n.begin(), n.end())) bad(key, v, "expected event indices in ascending order");
    gcMarkStarts = std::move(n);
  } else if (key == "gc_cons_marks") {
    std::vector<double> n;
    size_t i = 0;
    while (i < v.size()) {
      size_t j = v.find_first_of(", ", i);
      if (j == std::string::npos) j = v.size();
      if (j > i) {
        double x = 0;
        const char* b = v.data() + i;
        if (*b == '+') b++;  // Go's runtime prints floats with a sign: +3.770000e+000
        auto [q, ec] = std::from_chars(b, v.data() + j, x);
        if (ec != std::errc() || q != v.data() + j || !(x >= -1000 && x <= 1000))
          bad(key, v, "expected numbers in [-1000, 1000], comma-separated (or 0 alone: off)");
        n.push_back(x);
      }
      i = j + 1;
    }
    if (n.size() == 1 && n[0] == 0) n.clear();  // 0: off
    gcConsMarks = std::move(n);
  } else if (key == "gc_stacks_bytes") {
    gcStacksBytes = v == "0" ? 0 : parseBytes(key, v);
  } else if (key == "gc_globals_bytes") {
    gcGlobalsBytes = v == "0" ? 0 : parseBytes(key, v);
  } else if (key == "gc_baseline_bytes") {
    gcBaselineBytes = v == "0" ? 0 : parseBytes(key, v);
  } else if (key == "gc_baseline_scan_bytes") {
    gcBaselineScanBytes = v == "0" ? 0 : parseBytes(key, v);
  } else if (key == "size_classes") {
    std::vector<uint32_t> s;
    for (long long x : parseIntList(key, v, 1, kMaxSmallSize)) s.push_back(uint32_t(x));
    SizeClassTable::custom(s);  // throws with the broken rule
    sizeClasses = std::move(s);
  } else {
    std::string known;
    for (auto& k : keys()) known += (known.empty() ? "" : ", ") + k;
    throw std::invalid_argument("unknown setting '" + key + "' (known: " + known + ")");
  }
}

void Config::validate() const {
  if (freeMode == FreeMode::Immediate && mcentral == McentralDesign::SpanSet)
    bad("mcentral", "spanset", "free_mode=immediate needs mcentral=locked (a span set cannot give back a span from its middle)");
  if (arenaBytes < (size_t{4} << 20) || (arenaBytes & (arenaBytes - 1)) != 0)
    bad("arena_bytes", bytesText(arenaBytes), "must be a power of two of at least 4MiB");
  if (maxHeapBytes % kChunkBytes != 0)  // (0 is auto)
    bad("max_heap_bytes", bytesText(maxHeapBytes), "must be auto or a multiple of 4MiB (the heap grows 4 MiB at a time)");
}

std::vector<std::pair<std::string, std::string>> Config::entries() const {
  // A list's text, comma-separated; `none` when it is empty.
  auto list = [](const auto& v, const std::string& none) {
    std::string out;
    for (auto x : v) {
      if (!out.empty()) out += ",";
      if constexpr (std::is_floating_point_v<decltype(x)>) out += numText(x);
      else out += std::to_string(x);
    }
    return out.empty() ? none : out;
  };
  const std::string classes = list(sizeClasses, preset), markEvents = list(gcMarkEvents, "0"),
                    markStarts = list(gcMarkStarts, "0"), consMarks = list(gcConsMarks, "0");
  return {{"preset", preset},
          {"gogc", gogc < 0 ? "off" : std::to_string(gogc)},
          {"procs", std::to_string(procs)},
          {"arena_bytes", bytesText(arenaBytes)},
          {"max_heap_bytes", maxHeapBytes == 0 ? "auto" : bytesText(maxHeapBytes)},
          {"page_cache", pageCache ? "true" : "false"},
          {"scavenger", scavenger ? "true" : "false"},
          {"scavenger_pace", std::to_string(scavengerPace)},
          {"tiny_alloc", tinyAlloc ? "true" : "false"},
          {"zeroing", zeroing ? "true" : "false"},
          {"free_mode", freeMode == FreeMode::Deferred ? "deferred" : "immediate"},
          {"mcentral", mcentral == McentralDesign::SpanSet ? "spanset" : "locked"},
          {"size_classes", classes},
          {"pacer", pacer == Pacer::Go119 ? "go1.19" : "instant"},
          {"gc_cons_mark", numText(gcConsMark)},
          {"gc_stacks_bytes", bytesText(gcStacksBytes)},
          {"gc_globals_bytes", bytesText(gcGlobalsBytes)},
          {"gc_baseline_bytes", bytesText(gcBaselineBytes)},
          {"gc_baseline_scan_bytes", bytesText(gcBaselineScanBytes)},
          {"gc_mark_utilization", numText(gcMarkUtilization)},
          {"gc_mark_events", markEvents},
          {"gc_cons_marks", consMarks},
          {"gc_mark_starts", markStarts}};
}

uint64_t Config::givenMark(uint64_t k, uint64_t at) const {
  if (gcMarkStarts.empty()) return k;
  const auto after = std::upper_bound(gcMarkStarts.begin(), gcMarkStarts.end(), at);  // the first start past at
  if (after == gcMarkStarts.begin()) return 0;
  const auto before = after - 1;
  const bool later = after != gcMarkStarts.end() && *after - at < at - *before;
  return uint64_t((later ? after : before) - gcMarkStarts.begin());
}

size_t Config::heapLimitBytes() const {
  const size_t b = maxHeapBytes ? maxHeapBytes : autoMaxHeapBytes;
  return std::max(b / kChunkBytes * kChunkBytes, kChunkBytes);
}

size_t Config::heapWindowBytes() const {
  const size_t b = heapLimitBytes();
  return (b + arenaBytes - 1) / arenaBytes * arenaBytes;
}

std::string Config::maxHeapText() const {
  std::string t = "max_heap_bytes (" + humanBytes(heapLimitBytes());
  if (maxHeapBytes == 0) t += ", " + (autoMaxHeapOrigin.empty() ? std::string("auto") : autoMaxHeapOrigin);
  return t + ")";
}

SizeClassTable Config::sizeClassTable() const {
  if (!sizeClasses.empty()) return SizeClassTable::custom(sizeClasses);
  return preset == "go1.13" ? SizeClassTable::go113() : SizeClassTable::go119();
}

}  // namespace gomalloc::core
