#!/usr/bin/env bash
# The long crash soak: the crash test of the integration suite with many kills
# (default 100; about 11 s each, mostly the broker's wait for the killed
# member's session to expire). Builds first; prints the seed, the tally and,
# on a difference, every customer or alert that differs.
# Usage: scripts/crash-soak.sh [KILLS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-100}"
scripts/setup.sh build
export CRM_CRASH_KILLS="$kills"
[ -n "${2:-}" ] && export CRM_TEST_SEED="$2"
echo "crash-soak: $kills kills, about $((kills * 11 / 60 + 1)) minutes" >&2
build/tests/integration/crm_integration_tests --gtest_filter='CrashTest.*' 2>&1 |
  grep -vE '^[0-9]{4}-|CONFWARN' |
  grep -E 'seed=|crash test:|Failure|differ|missing|twice|only after|OK|FAILED'
