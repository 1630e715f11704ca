#!/usr/bin/env bash
# Fails when a tracked C++ file is not as clang-format (.clang-format) would
# write it, naming each; fails too when clang-format is missing, so that a
# machine without it cannot pass the check by skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
echo "check-format: every C++ file is formatted" >&2
