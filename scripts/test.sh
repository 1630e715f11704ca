#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit and integration,
# on the real Kafka protocol, RocksDB and gRPC) with ctest.
# Usage: scripts/test.sh [BUILD_DIR] (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
scripts/setup.sh "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j 2
