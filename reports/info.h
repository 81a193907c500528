// What `gomalloc info` shows of a trace's statistics (traces/stats.h), shared by its table, JSON and HTML: the
// allocations bucketed by Go 1.19's size classes and the lifetimes' power-of-two buckets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "traces/stats.h"

namespace gomalloc::reports {

// A trace's format as info names it: "json", "gmt.zst"...
std::string formatName(traces::Format f);

struct InfoClassRow {
  std::string label;  // class number, "zero" (0-byte objects) or "large"
  uint64_t bytes;     // object size of the class (0: varies)
  uint64_t objects = 0, requested = 0;
};

// The classes with at least one allocation, in class order; zero first, large last.
std::vector<InfoClassRow> infoClassRows(const traces::TraceStats& s);

// The bucket of lifetimes [2^k, 2^(k+1)) in events: "1", "2-3", "4-7"...
std::string lifetimeLabel(size_t k);

// The HTML page of `info --format html` (reports/html.cpp): the figures, the size and lifetime histograms.
std::string renderInfoHtml(const traces::TraceStats& s, const std::optional<traces::ReadTiming>& time);

}  // namespace gomalloc::reports
