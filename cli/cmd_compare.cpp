// Placeholder: compare is registered here (work in progress).
#include "cli/app.h"

namespace gomalloc::cli {
void registerCompare(Registry&) {}
}  // namespace gomalloc::cli
