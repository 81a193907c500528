#!/usr/bin/env bash
# Installs what gomalloc needs from Debian's packages. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(
  cmake g++ make ninja-build pkg-config
  libcli11-dev libfmt-dev nlohmann-json3-dev libbenchmark-dev libgtest-dev libgmock-dev
  libzstd-dev zlib1g-dev
  libsimdjson-dev  # traces_benchmark only: the A/B of the JSON reader against simdjson (optional, docs/benchmarks.md)
  clang-14 libclang-rt-14-dev
  libjemalloc2 libgoogle-perftools4 libmimalloc2.0
  chromium
  golang-1.19-go
  heaptrack zstd
  pngquant
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
