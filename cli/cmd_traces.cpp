// Placeholder: validate, info, gen and convert are registered here (traces work in progress).
#include "cli/app.h"

namespace gomalloc::cli {
void registerTraceCommands(Registry&) {}
}  // namespace gomalloc::cli
