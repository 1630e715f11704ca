#!/usr/bin/env bash
# Converts a CDNOW purchase log (data/cdnow/CDNOW_master.txt or CDNOW_sample.txt,
# see data/README.md) to touchpoint JSON lines, as crm-touch and crm-train read:
# one PURCHASE on the WEB channel per row, at 00:00 UTC of its date, customer
# "cdnow-<master id>" (the sample's rows carry the master id too, so both files
# name a customer alike).
#
#   scripts/cdnow-to-jsonl.sh FILE [--exclude SAMPLE_FILE] [--until YYYY-MM-DD]
#
# --exclude drops the customers of a sample file (to train on the master log
# without the customers it is evaluated on); --until drops rows after a day
# (to stream the calibration period only).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
file="$1"; shift
exclude=""
until=99999999
while [[ $# -gt 0 ]]; do
  case "$1" in
    --exclude) exclude="$2"; shift 2 ;;
    --until) until="${2//-/}"; shift 2 ;;
    *) echo "cdnow-to-jsonl: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -r "$file" ]] || { echo "cdnow-to-jsonl: cannot read $file" >&2; exit 2; }
[[ "$until" =~ ^[0-9]{8}$ ]] || { echo "cdnow-to-jsonl: --until wants YYYY-MM-DD" >&2; exit 2; }

awk -v until="$until" -v exclude="$exclude" '
  BEGIN {
    if (exclude != "") {
      while ((getline line < exclude) > 0) {
        split(line, f, " ")
        if (f[1] ~ /^[0-9]+$/) excluded[f[1] + 0] = 1
      }
    }
  }
  { sub(/\r$/, "") }
  $1 !~ /^[0-9]+$/ { next }                      # the master file'"'"'s header
  {
    id = $1 + 0
    if (NF == 5) { date = $3; cds = $4; dollars = $5 } else { date = $2; cds = $3; dollars = $4 }
    if (id in excluded || date > until) next
    printf "{\"event_id\":\"cdnow-%d-%d\",\"customer_id\":\"cdnow-%d\",", id, FNR, id
    printf "\"occurred_at\":\"%s-%s-%sT00:00:00Z\",", substr(date, 1, 4), substr(date, 5, 2), substr(date, 7, 2)
    printf "\"channel\":\"WEB\",\"type\":\"PURCHASE\",\"amount\":%s,\"attributes\":{\"cds\":\"%s\"}}\n", dollars, cds
  }
' "$file"
