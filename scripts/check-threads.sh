#!/usr/bin/env bash
# The service, its tools and benchmarks built with clang-14 in build-clang,
# warnings as errors, -Wthread-safety among them: a member read or written
# without the mutex its ABSL_GUARDED_BY names fails the build.
# Usage: scripts/check-threads.sh [BUILD_DIR] (default: build-clang).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build-clang}"
CMAKE_ARGS="-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DCRM_BUILD_TESTS=OFF \
-DCRM_WERROR=ON" CRM_EXTRA_PACKAGES="clang-14 clang-tidy-14" scripts/setup.sh "$build_dir"
echo "check-threads: every guarded member is used under its mutex" >&2
