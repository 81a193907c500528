#!/usr/bin/env bash
# Quick start, step 2 (and .ci/run): install, build and run every test:
#   1. the release build's GoogleTest suites (ctest),
#   2. the same suites under AddressSanitizer + UndefinedBehaviorSanitizer (clang 14),
#   3. the multi-threaded stress tests under ThreadSanitizer (clang 14),
#   4. the libFuzzer targets for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$SECONDS
bash scripts/build.sh build
(cd build && ctest --output-on-failure -j2)

CLANG=(-DCMAKE_CXX_COMPILER=clang++-14 -DGOMALLOC_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
bash scripts/build.sh build-asan "${CLANG[@]}" -DGOMALLOC_SANITIZE=address,undefined
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2)

# Only the suites with multi-threaded tests; ctest runs those whose names say so.
TARGETS="core_tests replay_tests" bash scripts/build.sh build-tsan "${CLANG[@]}" -DGOMALLOC_SANITIZE=thread
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2 -R 'Stress|Concurrent|Barrier')

if [ -d fuzz ] && ls fuzz/*_fuzz.cpp >/dev/null 2>&1; then
  TARGETS="$(for f in fuzz/*_fuzz.cpp; do basename "$f" .cpp; done)" \
    bash scripts/build.sh build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DGOMALLOC_FUZZ=ON -DGOMALLOC_TESTS=OFF -DGOMALLOC_BENCH=OFF
  for f in build-fuzz/fuzz/*_fuzz; do
    corpus="fuzz/corpus/$(basename "$f" _fuzz)"
    mkdir -p /tmp/gomalloc-fuzz-$$; cp -r "$corpus"/. /tmp/gomalloc-fuzz-$$/ 2>/dev/null || true
    "$f" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 /tmp/gomalloc-fuzz-$$ 2>&1 | tail -2
    rm -rf /tmp/gomalloc-fuzz-$$
  done
fi
echo "test.sh: all stages passed in $((SECONDS - start)) s"
