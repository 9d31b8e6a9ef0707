#!/usr/bin/env bash
# Installs every Debian package yolo4 needs (idempotent), then configures and builds, and
# installs the Python package (yolo4, yolo4.dask) into the user site-packages of /usr/bin/python3
# (~/.local/lib/python3.X/site-packages; cmake -DYOLO4_PYTHON_SITE=DIR chooses another place).
# Usage: scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true

PACKAGES=(
  build-essential cmake git pkg-config clang-format clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopencv-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libsimdjson-dev
  python3 python3-numpy python3-torch python3-opencv
  libcpp-httplib-dev nlohmann-json3-dev
  chromium nodejs wrk
  python3-dev pybind11-dev python3-pytest python3-dask python3-distributed python3-pandas
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs needs its npm package; other nodejs builds (e.g. NodeSource) bring npm along.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test drives Debian's chromium through npm playwright-core, at the version
# tests/browser/package-lock.json pins (installed again only when that changes).
lock_version() { node -p "require('./tests/browser/$1').$2" 2>/dev/null || true; }
if [[ "$(lock_version package-lock.json "packages['node_modules/playwright-core'].version")" != \
      "$(lock_version node_modules/playwright-core/package.json version)" ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
if grep -q '^YOLO4_BUILD_PYTHON:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  cmake --install "$BUILD_DIR" --component python >/dev/null
  echo "setup: the yolo4 Python package is in $(sed -n 's/^YOLO4_PYTHON_SITE:PATH=//p' "$BUILD_DIR/CMakeCache.txt")"
fi
