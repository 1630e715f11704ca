#!/usr/bin/env bash
# clang-tidy (.clang-tidy: every warning an error) on the C++ sources of core/,
# services/, tools/ and bench/ that changed since BASE (a commit; default:
# the files of the last 24 hours of commits, or of HEAD alone), compiled as
# build-clang compiles them (scripts/check-threads.sh makes it).
# Usage: scripts/tidy.sh [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-$(git rev-list -n 1 --before='24 hours ago' HEAD 2>/dev/null || true)}"
[ -n "$base" ] || base="HEAD~1"
git rev-parse -q --verify "$base^{commit}" >/dev/null || base="$(git rev-list --max-parents=0 HEAD)"
[ -f build-clang/compile_commands.json ] || scripts/check-threads.sh
mapfile -t files < <(git diff --name-only --diff-filter=d "$base" HEAD -- \
  'core/*.cc' 'services/*.cc' 'tools/*.cc' 'bench/*.cc')
if ((${#files[@]} == 0)); then
  echo "tidy: no C++ source changed since $base" >&2
  exit 0
fi
echo "tidy: ${#files[@]} file(s) changed since $(git rev-parse --short "$base")" >&2
status=0
output="$(run-clang-tidy-14 -quiet -p build-clang -j "$(nproc)" "${files[@]}" 2>&1)" || status=$?
grep -v '^Suppressed\|^Use -header-filter\|warnings\? generated\|^clang-tidy-14 ' <<<"$output" || true
exit "$status"
