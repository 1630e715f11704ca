#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, with ASan and UBSan, everything they
# run compiled for coverage) in build-fuzz and fuzzes for SECONDS in all
# (default 60), split between them:
#   touchpoint_fuzzer (2/3): decode (protobuf and JSON) → validate → apply →
#     look → commit, from tests/fuzz/corpus/touchpoint;
#   request_fuzzer (1/3): the gRPC edge's requests (ids, as_of, filters) →
#     Validate → status, and scoring at an accepted as_of, from
#     tests/fuzz/corpus/request.
# Seeds are copied: new inputs stay in build-fuzz/corpus/<name>. Both targets
# run whatever happens to the first; a crash leaves its input in
# build-fuzz/artifacts/<target>-* (it reproduces alone:
# build-fuzz/tests/fuzz/<target> FILE) and fails the script.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
CMAKE_ARGS="-DCRM_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14" \
  CRM_EXTRA_PACKAGES="clang-14 libclang-rt-14-dev" \
  CRM_SETUP_TARGET="touchpoint_fuzzer request_fuzzer" scripts/setup.sh build-fuzz
mkdir -p build-fuzz/artifacts

# fuzz TARGET SEEDS SECONDS MAX_LEN: one target's run; its status is libFuzzer's.
fuzz() {
  local target=$1 seeds=$2 budget=$3 max_len=$4 corpus="build-fuzz/corpus/$2"
  mkdir -p "$corpus"
  cp -n "tests/fuzz/corpus/$seeds"/* "$corpus"/
  echo "fuzz: $target, $budget s from $(ls "tests/fuzz/corpus/$seeds" | wc -l) seeds" >&2
  "build-fuzz/tests/fuzz/$target" -max_total_time="$budget" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$target-" -max_len="$max_len" "$corpus" 2>&1 |
    grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)' | tail -25
}

request_seconds=$((seconds / 3 > 0 ? seconds / 3 : 1))
failed=()
fuzz touchpoint_fuzzer touchpoint $((seconds - request_seconds > 0 ? seconds - request_seconds : 1)) \
  4096 || failed+=(touchpoint_fuzzer)
fuzz request_fuzzer request "$request_seconds" 4096 || failed+=(request_fuzzer)
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in build-fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: both targets ran without a finding" >&2
