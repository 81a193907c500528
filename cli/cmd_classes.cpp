// gomalloc classes: prints the size-class table in effect.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/heap_options.h"

namespace gomalloc::cli {
namespace {

std::string render(const core::SizeClassTable& t, const std::string& format) {
  std::string out;
  if (format == "table") {
    // The layout of the comment at the top of Go's sizeclasses.go.
    out += "class  bytes/obj  bytes/span  objects  tail waste  max waste\n";
    for (size_t c = 1; c < t.numClasses(); c++) {
      auto& k = t[c];
      out += fmt::format("{:5d}  {:9d}  {:10d}  {:7d}  {:10d}  {:8.2f}%\n", c, k.size, k.npages * core::kPageSize,
                         k.nelems, k.tailWaste, 100 * k.maxWaste);
    }
  } else if (format == "csv") {
    out += "class,bytes_per_obj,bytes_per_span,objects,tail_waste,max_waste\n";
    for (size_t c = 1; c < t.numClasses(); c++) {
      auto& k = t[c];
      out += fmt::format("{},{},{},{},{},{:.4f}\n", c, k.size, k.npages * core::kPageSize, k.nelems, k.tailWaste,
                         k.maxWaste);
    }
  } else {
    nlohmann::json rows = nlohmann::json::array();
    for (size_t c = 1; c < t.numClasses(); c++) {
      auto& k = t[c];
      rows.push_back({{"class", c},
                      {"bytes_per_obj", k.size},
                      {"bytes_per_span", k.npages * core::kPageSize},
                      {"objects", k.nelems},
                      {"tail_waste", k.tailWaste},
                      {"max_waste", k.maxWaste}});
    }
    nlohmann::ordered_json j;
    j["schema"] = "gomalloc-classes";
    j["version"] = 1;
    j["classes"] = rows;
    out = j.dump(2) + "\n";
  }
  return out;
}

}  // namespace

void registerClasses(Registry& r) {
  struct Opts {
    HeapOptions heap;
    std::string format = "table";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = r.app.add_subcommand("classes", "Print the size-class table in effect");
  o->heap.addTo(sub, false);
  sub->add_option("--format", o->format, "table, csv or json")->check(CLI::IsMember({"table", "csv", "json"}));
  r.add(sub, [o] {
    core::Config cfg = o->heap.resolve();
    core::SizeClassTable t = cfg.sizeClassTable();
    writeOutput("-", render(t, o->format));
    return 0;
  });
}

}  // namespace gomalloc::cli
