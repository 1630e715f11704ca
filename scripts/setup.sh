#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages, only those missing) and
# builds crm-scored with CMake. Idempotent: a second run only rebuilds what
# changed. Usage: scripts/setup.sh [BUILD_DIR] (default: build), with
# CMAKE_BUILD_TYPE and CMAKE_ARGS taken from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${1:-build}"
packages=(
  build-essential cmake ninja-build pkg-config ccache git curl
  librdkafka-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  librocksdb-dev prometheus-cpp-dev libcivetweb-dev libabsl-dev libcli11-dev libnlopt-cxx-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-format prometheus docker-compose python3-yaml
  chromium chromium-driver python3-selenium
)
# shellcheck disable=SC2206
packages+=(${CRM_EXTRA_PACKAGES:-})  # e.g. the fuzz build's clang

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  ${CMAKE_ARGS:-} >/dev/null
echo "setup: building in $build_dir" >&2
# shellcheck disable=SC2086
cmake --build "$build_dir" -j "$(nproc)" ${CRM_SETUP_TARGET:+--target $CRM_SETUP_TARGET}
