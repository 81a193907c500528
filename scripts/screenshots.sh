#!/usr/bin/env bash
# Regenerates the screenshots in docs/: docs/img/replay.png and docs/img/compare.png, the HTML reports of a
# generated steady-state trace (1M events, GC cycles from the pacer) as headless Chromium draws them.
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

# Run in the scratch directory so that the pages name the trace "steady.gmt".
(
  cd "$tmp"
  "$gomalloc" gen steady --events 1000000 --gc-every 0 --seed 1 -o steady.gmt 2>/dev/null
  "$gomalloc" replay steady.gmt --rss-interval 2 --quiet --format html -o replay.html
  "$gomalloc" compare steady.gmt --allocator go --variant gogc50:gogc=50 --allocator mimalloc --repeat 5 \
    --quiet --format html -o compare.html
)

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
shot replay 1900
shot compare 1700
