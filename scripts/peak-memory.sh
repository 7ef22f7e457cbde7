#!/usr/bin/env bash
# plancheck's own peak memory (VmHWM of its process, not the server's) over a whole
# run at a given scale, to check that memory stays flat as the streamed tables grow.
#
#   scripts/peak-memory.sh [SCALE] [SCENARIO]   # default 10000000 dense-org
#
# dense-org's queries stay fast at any scale, so the run is mostly seeding.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10000000}
scenario=${2:-dense-org}
work=$(mktemp -d /tmp/plancheck-memory-XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
start=$(date +%s)
./target/release/plancheck scenario "$scenario" --scale "$scale" --backend local --no-progress \
  --out "$work/reports" >"$work/out" 2>"$work/err" &
pid=$!
peak_kib=0
while kill -0 "$pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$hwm" ] && peak_kib=$hwm
  sleep 0.2
done
wait "$pid" || { cat "$work/err" >&2; exit 1; }
printf "scenario %s at --scale %s: %s s, plancheck peak memory (VmHWM) %.1f MiB\n" \
  "$scenario" "$scale" "$(( $(date +%s) - start ))" "$(awk -v k="$peak_kib" 'BEGIN {print k / 1024}')"
jq -r '.phases_ms[] | "  \(.phase): \(.ms) ms"' "$work/reports/$scenario/report.json"
