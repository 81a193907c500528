#!/usr/bin/env bash
# Quick start, step 1: install, build, and run the main job on a bundled example trace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
./build/gomalloc classes
