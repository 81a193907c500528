#include "reports/info.h"

#include <fmt/format.h>

#include "core/sizeclasses.h"

namespace gomalloc::reports {

std::string formatName(traces::Format f) {
  std::string s(traces::encodingName(f.encoding));
  if (f.compression != traces::Compression::None) s += "." + std::string(traces::compressionName(f.compression));
  return s;
}

std::vector<InfoClassRow> infoClassRows(const traces::TraceStats& s) {
  auto table = core::SizeClassTable::go119();
  std::vector<InfoClassRow> rows;
  rows.push_back({"zero", 0});
  for (size_t c = 1; c < table.numClasses(); c++) rows.push_back({std::to_string(c), table[c].size});
  rows.push_back({"large", 0});
  rows[0].objects = s.smallSizes[0];
  for (size_t size = 1; size <= traces::kMaxSmallSize; size++) {
    if (!s.smallSizes[size]) continue;
    InfoClassRow& r = rows[table.sizeToClass(size)];
    r.objects += s.smallSizes[size];
    r.requested += s.smallSizes[size] * size;
  }
  rows.back().objects = s.largeAllocs;
  rows.back().requested = s.largeBytes;
  std::vector<InfoClassRow> used;
  for (auto& r : rows)
    if (r.objects) used.push_back(r);
  return used;
}

std::string lifetimeLabel(size_t k) {
  if (k == 0) return "1";
  uint64_t lo = uint64_t{1} << k;
  return fmt::format("{}-{}", lo, lo * 2 - 1);
}

}  // namespace gomalloc::reports
