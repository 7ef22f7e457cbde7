#!/usr/bin/env bash
# Time from `plancheck scenario` start to a connected, empty scratch database, per
# backend: the "start server" plus "create database" phases of the report (everything
# before the schema is applied), median of N runs.
#
#   scripts/measure-startup.sh [N] [IMAGE]     # default 5 runs, plancheck/postgres:15
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
image=${2:-plancheck/postgres:15}
cargo build --release --quiet
out=$(mktemp -d /tmp/plancheck-startup-XXXXXX)
trap 'rm -rf "$out"' EXIT
for backend in local docker; do
  samples=()
  for i in $(seq 1 "$runs"); do
    ./target/release/plancheck scenario dense-org --scale 5000 --backend "$backend" --image "$image" \
      --no-progress --out "$out/$backend-$i" >/dev/null 2>&1
    samples+=("$(jq '[.phases_ms[] | select(.phase == "start server" or .phase == "create database") | .ms] | add' \
      "$out/$backend-$i/dense-org/report.json")")
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk -v backend="$backend" '
    { v[NR] = $1; list = list sprintf("%.0f ", $1) }
    END { printf "%-7s median %6.0f ms   (runs: %s)\n", backend, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), list }'
done
