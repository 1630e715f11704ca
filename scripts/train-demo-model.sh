#!/usr/bin/env bash
# Regenerates models/demo.json, the model the demo runs: 540 simulated days of
# the demo population (5,000 customers, seed 1) written by crm-demo, then
# crm-train with the last 90 days as labels (churn: no purchase in 90 days;
# appetence: which products were bought), with Pareto/NBD as the purchase model
# (under which a customer long silent is lost, as the built-in model).
#   scripts/train-demo-model.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$build/tools/crm-demo" --history-out "$work/history.jsonl" --customers 5000 --seed 1 \
  --history-days 540
"$build/tools/crm-train" --input "$work/history.jsonl" \
  --calibration-end "$(date -u -d '-90 days' +%F)" --time-unit day --horizon-days 90 \
  --purchase-model pareto-nbd --model-version demo-2 --output models/demo.json
