#!/usr/bin/env bash
# The streaming recipe of docs/benchmarks.md ("Window size"): load + replay streamed (the default windows)
# against the replay alone (--window 100000000: the trace loaded whole first), the go backend, PAIRS pairs
# taken in turn on a steady trace of EVENTS events and 4 threads (generated once into DIR). Prints each pair's
# ratio, (load_seconds + wall_seconds) / the whole run's wall_seconds, and the median per mode.
#
#   bash scripts/stream-bench.sh [BUILD_DIR] [DIR] [PAIRS] [EVENTS]   (defaults: build, /tmp/gomalloc-bench, 5, 10000000)
set -euo pipefail
build=${1:-build}
dir=${2:-/tmp/gomalloc-bench}
pairs=${3:-5}
events=${4:-10000000}
gm="$build/gomalloc"
mkdir -p "$dir"
trace="$dir/steady-${events}-4t.gmt"
[ -f "$trace" ] || "$gm" gen steady --events "$events" --threads 4 --seed 1 -o "$trace" >/dev/null 2>&1

seconds() {  # load_seconds wall_seconds of one replay: seconds ARGS...
  "$gm" replay "$trace" --allocator go --quiet --format json "$@" |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["load_seconds"], s["wall_seconds"])'
}

for mode in --deterministic "--procs 1" "--procs 2"; do
  ratios=()
  for i in $(seq "$pairs"); do
    # shellcheck disable=SC2086
    read -r _ whole < <(seconds $mode --window 100000000)
    # shellcheck disable=SC2086
    read -r load wall < <(seconds $mode)
    r=$(python3 -c "print(f'{($load + $wall) / $whole:.3f}')")
    ratios+=("$r")
    printf '%-16s pair %d: streamed %.3f + %.3f s, replay alone %.3f s: %s\n' "$mode" "$i" "$load" "$wall" "$whole" "$r"
  done
  printf '%-16s median %s\n' "$mode" "$(printf '%s\n' "${ratios[@]}" | sort -n | python3 -c 'import sys; v=[float(x) for x in sys.stdin]; print(f"{v[len(v)//2]:.3f}")')"
done
