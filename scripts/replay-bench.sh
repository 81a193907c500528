#!/usr/bin/env bash
# The replay speed recipe of docs/benchmarks.md: generates the 10-million-event steady and web traces (once,
# into DIR), replays each on one P with every backend, and prints summary.ns_per_event, best of RUNS runs.
# Then the go backend again without zeroing and without touching, which splits its time into Go's own work.
#
#   bash scripts/replay-bench.sh [BUILD_DIR] [DIR] [RUNS]     (defaults: build, /tmp/gomalloc-bench, 3)
set -euo pipefail
build=${1:-build}
dir=${2:-/tmp/gomalloc-bench}
runs=${3:-3}
gm="$build/gomalloc"
mkdir -p "$dir"

best() {  # best ns/event of $runs replays: best TRACE ARGS...
  local trace=$1
  shift
  local b=""
  for _ in $(seq "$runs"); do
    local v
    v=$("$gm" replay "$trace" --procs 1 --quiet --format json "$@" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["ns_per_event"])')
    b=$(python3 -c "print(min(float('$v'), float('${b:-inf}')))")
  done
  printf '%.1f' "$b"
}

backends="null system jemalloc tcmalloc mimalloc go"
printf '%-8s' trace
for a in $backends; do printf '%10s' "$a"; done
printf '%12s%14s%18s\n' 'go/fastest' 'go zeroing=0' 'go zero=0 touch=0'
for kind in steady web; do
  trace="$dir/${kind}10m.gmt"
  [ -f "$trace" ] || "$gm" gen "$kind" --events 10000000 --threads 1 -o "$trace" >/dev/null 2>&1
  printf '%-8s' "$kind"
  fastest=inf
  declare -A v=()
  for a in $backends; do
    v[$a]=$(best "$trace" --allocator "$a")
    printf '%10s' "${v[$a]}"
    case $a in null | go) ;; *) fastest=$(python3 -c "print(min(float('$fastest'), ${v[$a]}))") ;; esac
  done
  printf '%12s' "$(python3 -c "print(f'{${v[go]} / $fastest:.2f}x')")"
  printf '%14s' "$(best "$trace" --allocator go --set zeroing=false)"
  printf '%18s\n' "$(best "$trace" --allocator go --set zeroing=false --touch none)"
done
