#!/usr/bin/env bash
# Compares two builds of the service on this machine by alternating runs of
# crm-bench (base, new, base, new, ...), so that drift of the machine falls on
# both alike, and prints each figure's runs and the ratio of the medians.
# Usage: scripts/bench-compare.sh BASE_BUILD NEW_BUILD [PAIRS] [PHASES]
#   each BUILD a build dir (bench/crm-bench, services/crm-scored,
#   tools/crm-devbroker); PAIRS default 3; PHASES default storage,ingest,lookups;
#   more crm-bench flags in CRM_BENCH_ARGS (e.g. "--touchpoints 20000").
set -euo pipefail
# shellcheck disable=SC2086
base="$1" new="$2" pairs="${3:-3}" phases="${4:-storage,ingest,lookups}"
out="$(mktemp -d)"
for ((i = 1; i <= pairs; i++)); do
  for side in base new; do
    dir="$base"
    [ "$side" = new ] && dir="$new"
    echo "bench-compare: run $i of $pairs, $side" >&2
    "$dir/bench/crm-bench" --phases "$phases" --scored "$dir/services/crm-scored" \
      --devbroker "$dir/tools/crm-devbroker" --json "$out/$side-$i.json" ${CRM_BENCH_ARGS:-} \
      >"$out/$side-$i.log" 2>&1
  done
done
python3 - "$out" "$pairs" <<'PY'
import json, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
runs = {side: [json.load(open(f"{out}/{side}-{i}.json")) for i in range(1, pairs + 1)]
        for side in ("base", "new")}
def figures(report, prefix=""):
    for key, value in report.items():
        if isinstance(value, dict):
            yield from figures(value, prefix + key + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield prefix + key, float(value)
names = [name for name, _ in figures(runs["base"][0])]
print(f"{'figure':<44} {'base (runs)':<30} {'new (runs)':<30} new/base")
for name in names:
    values = {side: [dict(figures(r)).get(name) for r in runs[side]] for side in runs}
    if any(v is None for side in values for v in values[side]):
        continue
    b, n = statistics.median(values["base"]), statistics.median(values["new"])
    ratio = f"{n / b:.3f}" if b else "-"
    show = lambda vs: ", ".join(f"{v:.4g}" for v in vs)
    print(f"{name:<44} {show(values['base']):<30} {show(values['new']):<30} {ratio}")
PY
