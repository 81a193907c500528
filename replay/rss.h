// Memory figures from the kernel (Linux /proc): what replay reports as RSS.
#pragma once

#include <cstdint>

namespace gomalloc::replay {

// Resident set size now: /proc/self/statm's resident pages times the page size. 0 if unreadable.
uint64_t currentRssBytes();
// The kernel's high-water mark of the resident set (VmHWM in /proc/self/status). 0 if unreadable.
uint64_t peakRssBytes();
// Resets the high-water mark to the current RSS (writes "5" to /proc/self/clear_refs). False if the kernel
// or the sandbox does not allow it.
bool resetPeakRss();

}  // namespace gomalloc::replay
