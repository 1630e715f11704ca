#!/usr/bin/env bash
# Builds the libFuzzer target (clang-14, with ASan and UBSan, everything it
# runs compiled for coverage) in build-fuzz and fuzzes decode → validate →
# apply → look → commit for SECONDS (default 60), from the seed corpus in
# tests/fuzz/corpus/touchpoint (copied: new inputs stay in build-fuzz). A
# crash leaves its input in build-fuzz/artifacts and fails the script.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
CMAKE_ARGS="-DCRM_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14" \
  CRM_EXTRA_PACKAGES="clang-14 libclang-rt-14-dev" CRM_SETUP_TARGET=touchpoint_fuzzer \
  scripts/setup.sh build-fuzz
corpus=build-fuzz/corpus
mkdir -p "$corpus" build-fuzz/artifacts
cp -n tests/fuzz/corpus/touchpoint/* "$corpus"/
echo "fuzz: $seconds s from $(ls tests/fuzz/corpus/touchpoint | wc -l) seeds" >&2
build-fuzz/tests/fuzz/touchpoint_fuzzer -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix=build-fuzz/artifacts/ -max_len=4096 "$corpus" 2>&1 |
  grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)' | tail -25
