#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts crm-scored on its
# embedded Kafka broker, feeds it live with the demo generator's customers and
# shows a refreshing view of throughput and scores. Ctrl-C stops both.
# Environment: DEMO_RATE (touchpoints/s, default 500), DEMO_CUSTOMERS (2000),
# DEMO_DURATION (seconds, 0 = until Ctrl-C), DEMO_DIR (state and logs), DEMO_MODEL
# (model file, default models/demo.json: see scripts/train-demo-model.sh), DEMO_HTTP
# (the desk's and HTTP API's address, default 127.0.0.1:8080; port 0: any free one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

demo_dir="${DEMO_DIR:-$(mktemp -d /tmp/crm-demo-XXXXXX)}"
mkdir -p "$demo_dir"
log="$demo_dir/crm-scored.log"
build/services/crm-scored --data-dir "$demo_dir/data" --model "${DEMO_MODEL:-models/demo.json}" \
  --grpc-listen 127.0.0.1:0 --http-listen "${DEMO_HTTP:-127.0.0.1:8080}" --clock event \
  --metrics-listen 127.0.0.1:0 --kafka fetch.wait.max.ms=10 >"$log" 2>&1 &
service=$!
trap 'kill -TERM $service 2>/dev/null; wait $service 2>/dev/null || true' EXIT

field() {  # waits for the log line with $1 and prints what follows it
  for _ in $(seq 1 300); do
    if line=$(grep -m1 -o "$1[^ ]*" "$log"); then
      echo "${line#"$1"}"
      return 0
    fi
    kill -0 "$service" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "demo: crm-scored did not log '$1'; see $log" >&2
  exit 1
}
brokers=$(field "bootstrap=")
grpc=$(field "gRPC listening on ")
metrics=$(field "metrics listening on ")
desk=$(field "agents' desk at ")
echo "demo: crm-scored on broker $brokers, gRPC $grpc, metrics $metrics (log: $log)" >&2
echo "demo: the agents' desk is at $desk (open it in a browser)" >&2
echo "demo: look in from another terminal: build/tools/crm-score --server $grpc at-risk" \
  "(or: get declining-000030, or: watch)" >&2

build/tools/crm-demo --brokers "$brokers" --grpc "$grpc" --metrics "$metrics" --desk "$desk" \
  --rate "${DEMO_RATE:-500}" --customers "${DEMO_CUSTOMERS:-2000}" \
  --duration "${DEMO_DURATION:-0}"
