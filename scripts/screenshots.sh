#!/usr/bin/env bash
# Regenerates the screenshots of every HTML page gomalloc writes, shown in README.md: docs/img/replay.png,
# compare.png, suite.png (compare of several traces), info.png and, where the go-runtime backend runs (Go 1.19
# installed), fidelity.png. The pages are of a generated steady-state trace (1M events, GC cycles from the
# pacer) and the bundled examples, as headless Chromium draws them (1100 px wide, the top of each page).
# Usage: scripts/screenshots.sh [BUILD_DIR]   (default: build; gomalloc is built there if missing)
# Needs chromium (scripts/setup.sh installs it); pngquant, when installed, makes the PNGs smaller.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -x "$build/gomalloc" ] || TARGETS=gomalloc bash scripts/build.sh "$build"
command -v chromium >/dev/null || { echo "screenshots: chromium is not installed (bash scripts/setup.sh)" >&2; exit 1; }
gomalloc="$(realpath "$build/gomalloc")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp examples/web.json examples/producer-consumer.json examples/tiny.json "$tmp/"

# Run in the scratch directory so that the pages name the traces without a directory.
fidelity=0
(
  cd "$tmp"
  "$gomalloc" gen steady --events 1000000 --gc-every 0 --seed 1 -o steady.gmt 2>/dev/null
  "$gomalloc" replay steady.gmt --rss-interval 2 --quiet --format html -o replay.html
  "$gomalloc" compare steady.gmt --allocator go --variant gogc50:gogc=50 --allocator mimalloc --repeat 5 \
    --quiet --format html -o compare.html
  "$gomalloc" compare web.json producer-consumer.json --allocator go --variant gogc50:gogc=50 \
    --allocator mimalloc --deterministic --quiet --format html -o suite.html
  "$gomalloc" info steady.gmt --format html -o info.html
)
if "$gomalloc" replay "$tmp/tiny.json" --allocator go-runtime --procs 1 --quiet --format json -o /dev/null 2>/dev/null; then
  # Exit 1 (a bound exceeded) still writes the page.
  (cd "$tmp" && "$gomalloc" fidelity producer-consumer.json --runs 3 --quiet --format html -o fidelity.html) || [ $? -eq 1 ]
  fidelity=1
else
  echo "screenshots: the go-runtime backend does not run here (Go 1.19): docs/img/fidelity.png kept as it is" >&2
fi

# shot NAME HEIGHT: a 1100-pixel-wide screenshot of the top of NAME.html, no network.
shot() {
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --host-resolver-rules='MAP * ~NOTFOUND' \
    --user-data-dir="$tmp/profile-$1" --window-size="1100,$2" --screenshot="$tmp/$1.png" "file://$tmp/$1.html" \
    >/dev/null 2>&1
  if command -v pngquant >/dev/null; then
    pngquant --force --quality=60-90 --output "$tmp/$1.small.png" "$tmp/$1.png" && mv "$tmp/$1.small.png" "$tmp/$1.png"
  fi
  mkdir -p docs/img
  cp "$tmp/$1.png" "docs/img/$1.png"
  echo "screenshots: docs/img/$1.png ($(stat -c %s "docs/img/$1.png") bytes)"
}
shot replay 1400
shot compare 1300
shot suite 1000
shot info 1100
[ "$fidelity" = 0 ] || shot fidelity 800
