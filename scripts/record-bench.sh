#!/usr/bin/env bash
# gomalloc record's overhead (docs/record.md, "Overhead"): a malloc-heavy python3 program (two threads building
# and dropping small dicts, lists, tuples and strings; PYTHONMALLOC=malloc, so every object is a malloc), run
# plain, under `gomalloc record` and with the recorder preloaded alone, RUNS times each, alternately; prints the
# median wall times and, for the plain and the preloaded runs, the median CPU times (user + sys, /usr/bin/time:
# on a shared machine the figure to compare), their ratios, the events recorded and the .gmt's bytes per event.
# Usage: scripts/record-bench.sh [BUILD_DIR]   (RUNS=7, ITER=150000 per thread by default)
set -euo pipefail
build=${1:-build}
runs=${RUNS:-7}
iter=${ITER:-150000}
gomalloc=$(cd "$build" && pwd)/gomalloc
python=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/gomalloc-record-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/bench.py" <<PY
import threading
def work(n):
    keep = []
    for i in range(n):
        d = {"k": [i, str(i)], "t": (i, i + 1)}
        keep.append(d)
        if len(keep) > 1000:
            del keep[:500]
ts = [threading.Thread(target=work, args=($iter,)) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
PY

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# CPU time (user + sys, ms) of the command run last under cputime.
cputime() { /usr/bin/time -f '%U %S' -o "$work/time" "$@"; }
cpums() { awk '{printf "%d", ($1 + $2) * 1000}' "$work/time"; }

plain=() recorded=() program=() plaincpu=() programcpu=()
for ((i = 0; i < runs; i++)); do
  t0=$(now); PYTHONMALLOC=malloc cputime "$python" "$work/bench.py"; t1=$(now)
  plain+=($(( (t1 - t0) / 1000000 ))) plaincpu+=($(cpums))
  t0=$(now); PYTHONMALLOC=malloc "$gomalloc" record -o "$work/bench.gmt" -- "$python" "$work/bench.py" 2>"$work/err"; t1=$(now)
  recorded+=($(( (t1 - t0) / 1000000 )))
  # The program alone under the recorder (no conversion): what the recorded program itself is slowed by.
  mkdir -p "$work/raw"; rm -f "$work/raw"/*
  t0=$(now)
  cputime env PYTHONMALLOC=malloc LD_PRELOAD="$(dirname "$gomalloc")/libgomalloc_recorder.so" \
    GOMALLOC_RECORD_DIR="$work/raw" "$python" "$work/bench.py"
  t1=$(now)
  program+=($(( (t1 - t0) / 1000000 ))) programcpu+=($(cpums))
done
p=$(printf '%s\n' "${plain[@]}" | median)
r=$(printf '%s\n' "${recorded[@]}" | median)
g=$(printf '%s\n' "${program[@]}" | median)
pc=$(printf '%s\n' "${plaincpu[@]}" | median)
gc=$(printf '%s\n' "${programcpu[@]}" | median)
info=$("$gomalloc" info "$work/bench.gmt" --format json)
events=$(echo "$info" | "$python" -c 'import json,sys; j=json.load(sys.stdin); print(j["events"]["total"])')
bytes=$(echo "$info" | "$python" -c 'import json,sys; j=json.load(sys.stdin); print(j["file_bytes"])')
rawbytes=$(du -cb "$work/raw"/*.raw | tail -1 | cut -f1)
echo "runs: $runs each, alternately; python3 $(basename "$python") two threads x $iter iterations, PYTHONMALLOC=malloc"
echo "plain run:                      median ${p} ms   (${plain[*]})"
echo "program under the recorder:     median ${g} ms   (${program[*]})   $(awk "BEGIN {printf \"%.2fx\", $g / $p}")"
echo "CPU time (user + sys): plain median ${pc} ms (${plaincpu[*]}); under the recorder median ${gc} ms (${programcpu[*]})   $(awk "BEGIN {printf \"%.2fx\", $gc / $pc}")"
echo "gomalloc record (with convert): median ${r} ms   (${recorded[*]})   $(awk "BEGIN {printf \"%.2fx\", $r / $p}")"
echo "events: $events; .gmt: $bytes bytes, $(awk "BEGIN {printf \"%.2f\", $bytes / $events}") bytes/event; raw: $rawbytes bytes"
