// Placeholder: gate is registered here (work in progress).
#include "cli/app.h"

namespace gomalloc::cli {
void registerGate(Registry&) {}
}  // namespace gomalloc::cli
