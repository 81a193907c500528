#!/usr/bin/env bash
# Quick start, step 1: install, build, and replay a bundled example trace through the Go model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
./build/gomalloc replay examples/web.json
