#!/usr/bin/env bash
# Writes the request_fuzzer's seeds (tests/fuzz/corpus/request): a few valid
# and invalid requests of each type, each a selector byte (request_fuzzer.cc)
# and the request in protobuf binary from its text form (protoc --encode).
# Usage: tests/fuzz/make_request_corpus.sh (from anywhere; rewrites the seeds)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus/request
mkdir -p "$out"

# seed NAME SELECTOR MESSAGE TEXT [RAW]: SELECTOR as two hex digits; with RAW
# (bit 7 of the selector set) the encoding is length-prefixed and RAW follows.
seed() {
  local name=$1 selector=$2 message=$3 text=$4 raw=${5-} tmp
  tmp=$(mktemp)
  printf '%s' "$text" | protoc -Iproto -I/usr/include --encode="crm.v1.$message" \
    proto/crm/v1/scoring.proto >"$tmp"
  {
    printf "\\x$selector"
    if ((0x$selector & 0x80)); then
      local size
      size=$(stat -c %s "$tmp")
      printf "\\x$(printf %02x $((size & 255)))\\x$(printf %02x $((size >> 8)))"
    fi
    cat "$tmp"
    if [ -n "$raw" ]; then printf '%b' "$raw"; fi
  } >"$out/$name"
  rm -f "$tmp"
}

seed scores-ok 00 GetCustomerScoresRequest 'customer_id: "c-42"'
seed scores-as-of 00 GetCustomerScoresRequest 'customer_id: "Zoë" as_of { seconds: 1767225600 nanos: 5000 }'
seed scores-as-of-1900 00 GetCustomerScoresRequest 'customer_id: "c1" as_of { seconds: -2208988800 }'
seed scores-as-of-9999 00 GetCustomerScoresRequest 'customer_id: "c1" as_of { seconds: 253402300799 nanos: 999999999 }'
seed scores-as-of-1e17 00 GetCustomerScoresRequest 'customer_id: "c1" as_of { seconds: 100000000000000000 }'
seed scores-bad-nanos 00 GetCustomerScoresRequest 'customer_id: "c1" as_of { seconds: 0 nanos: -1 }'
seed scores-empty-id 00 GetCustomerScoresRequest ''
seed scores-long-id 00 GetCustomerScoresRequest "customer_id: \"$(printf 'x%.0s' {1..300})\""
seed scores-not-utf8 80 GetCustomerScoresRequest '' 'c\xff\xfe\x1b[31m\n'
seed batch-ok 01 BatchGetCustomerScoresRequest 'customer_ids: "c1" customer_ids: "c2" as_of { seconds: 1 }'
seed batch-bad-id 81 BatchGetCustomerScoresRequest 'customer_ids: "c1" customer_ids: "c2"' '\xc0\xaf'
seed state-ok 02 GetCustomerStateRequest 'customer_id: "c1"'
seed at-risk-ok 03 ListAtRiskCustomersRequest 'top_n: 10 segment: "A"'
seed at-risk-q 03 ListAtRiskCustomersRequest 'top_n: 10 segment: "Q"'
seed at-risk-top-n 03 ListAtRiskCustomersRequest 'top_n: 1001'
seed offers-ok 43 ListOfferTargetsRequest 'product: "P" top_n: 10 segment: "A" channel: EMAIL'
seed offers-top-n-0 43 ListOfferTargetsRequest 'product: "P"'
seed offers-bad-channel 43 ListOfferTargetsRequest 'product: "P" top_n: 5 channel: 42'
seed offers-not-utf8 c3 ListOfferTargetsRequest 'top_n: 5' 'P\xff\x1b'
seed watch-ok 04 WatchAlertsRequest 'segment: "B" min_churn: 0.5 action: "WIN_BACK"'
seed watch-bad-action c4 WatchAlertsRequest 'min_churn: 0.5' 'SELL\xe2\x80\xaeEVERYTHING'
seed watch-nan 04 WatchAlertsRequest 'min_churn: nan'
seed erase-ok 05 EraseCustomerRequest 'customer_id: "c1"'
seed erase-long 85 EraseCustomerRequest '' "$(printf '\\x01%.0s' {1..400})"
# Statuses: a code byte, then the message.
printf '\x06\x0einternal error\nwith \x1b[2J and \xc2\x9b' >"$out/status-internal"
printf '\x07\x0e%b' "$(printf '\\x01%.0s' {1..1100})" >"$out/status-long-controls"
printf '\x07\x13unknown code' >"$out/status-unknown-code"
echo "wrote $(ls "$out" | wc -l) seeds to $out" >&2
