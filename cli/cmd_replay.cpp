// Placeholder: replay is registered here (replay work in progress).
#include "cli/app.h"

namespace gomalloc::cli {
void registerReplay(Registry&) {}
}  // namespace gomalloc::cli
