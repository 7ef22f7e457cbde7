#!/usr/bin/env bash
# A scenario cold (empty cache: initdb and seed) and then warm (the same run again with
# only a query file changed: the cached initdb template and seeded data), on the local
# backend; prints each run's phase table and wall time.
#
#   scripts/measure-cache.sh [SCENARIO] [SCALE]     # default sparse-org 1000000
#
# Works on a copy of scenarios/ and fixtures/ under a temporary directory, with a cache
# of its own there (PLANCHECK_CACHE_DIR), so neither the checkout nor the user's cache
# is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-sparse-org}
scale=${2:-1000000}
cargo build --release --quiet
binary="${CARGO_TARGET_DIR:-target}/release/plancheck"
work=$(mktemp -d /tmp/plancheck-cache-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r scenarios fixtures "$work/"
export PLANCHECK_CACHE_DIR="$work/cache"

run() {
  local label=$1
  local started ended
  started=$(date +%s.%N)
  # Exit 1 (a check failed) is still a measurement.
  "$binary" scenario "$work/scenarios/$scenario.toml" --scale "$scale" --backend local \
    --no-progress --out "$work/$label" >/dev/null 2>"$work/$label.err" || [ $? -eq 1 ] ||
    { cat "$work/$label.err" >&2; exit 1; }
  ended=$(date +%s.%N)
  echo "== $label: $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s wall"
  jq -r '.phases_ms[] | "\(.phase)\t\(.ms | floor) ms"' "$work/$label/$scenario/report.json" | column -t -s $'\t'
  jq -r '"data: \(.dataset.cache.status) (key \(.dataset.cache.key))"' "$work/$label/$scenario/report.json"
}

run cold
# Only a query file changes between the runs: the engineer's rerun.
for query in "$work"/fixtures/queries/*.sql; do printf '\n-- edited\n' >>"$query"; done
run warm
