#!/usr/bin/env bash
# The whole test suite built with AddressSanitizer and UndefinedBehaviorSanitizer
# (GCC) in build-asan, and run: a memory error, a leak or undefined behaviour
# fails the test that hit it. The crash test runs with CRM_CRASH_KILLS (default
# here 3) kills. Usage: scripts/sanitize.sh [BUILD_DIR] (default: build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build-asan}"
CMAKE_BUILD_TYPE=RelWithDebInfo CMAKE_ARGS="-DCRM_SANITIZE=address,undefined" \
  scripts/setup.sh "$build_dir"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export CRM_CRASH_KILLS="${CRM_CRASH_KILLS:-3}"
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j 2
