#!/usr/bin/env bash
# Seeding throughput of plancheck against pgbench's client-side generation, on the same
# server, plus plancheck's own peak memory while it seeds.
#
#   scripts/compare-seeding.sh [SCALE]      # SCALE workflow runs, default 1000000
#
# Runs `plancheck scenario sparse-org --backend local --keep --no-cache` (sampling its VmHWM) and
# reads its copy phase from the report; then, on the server it kept, runs
# `pgbench -i -I dtg` (drop, create tables, client-side generate: 100,000
# pgbench_accounts rows per scale unit, so SCALE/100000 units for the same row count).
# The kept server is removed at exit with the command plancheck printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
. scripts/kept-server.sh
kept_server_workdir plancheck-compare

cargo build --release --quiet
# Where cargo put the binary: CARGO_TARGET_DIR when set, as cargo itself reads it.
plancheck="${CARGO_TARGET_DIR:-target}/release/plancheck"
"$plancheck" scenario sparse-org --scale "$scale" --backend local --keep --no-cache --no-progress \
  --out "$work/reports" >/dev/null 2>"$work/plancheck.err" &
pid=$!
peak_kib=0
while kill -0 "$pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$hwm" ] && peak_kib=$hwm
  sleep 0.1
done
status=0
wait "$pid" || status=$?
# Read first, so the kept server is removed at exit whatever the run's outcome.
kept_server_read "$work/plancheck.err"
# Exit code 1 is a failed check (at 10M rows on a busy machine the old query can run
# past the time budget): the data was seeded all the same, so seeding is measured.
if [ "$status" -gt 1 ]; then
  cat "$work/plancheck.err" >&2
  exit 1
fi

report="$work/reports/sparse-org/report.json"
copy_ms=$(jq '[.phases_ms[] | select(.phase == "seed: copy rows") | .ms] | first' "$report")
runs_rows=$(jq '.dataset.tables[] | select(.name == "workflow_runs") | .rows' "$report")
runs_bytes=$(jq '.dataset.tables[] | select(.name == "workflow_runs") | .table_bytes' "$report")

units=$(( (scale + 99999) / 100000 ))
pgbench_log=$(pgbench -h "$socket_dir" -U postgres -i -I dtg -s "$units" postgres 2>&1)
generate_s=$(grep -o 'client-side generate [0-9.]* s' <<<"$pgbench_log" | awk '{print $3}')
accounts_bytes=$(psql -h "$socket_dir" -U postgres -Atc "SELECT pg_table_size('pgbench_accounts')" postgres)
accounts_rows=$(( units * 100000 ))

awk -v pr="$accounts_rows" -v ps="$generate_s" -v pb="$accounts_bytes" \
    -v cr="$runs_rows" -v cms="$copy_ms" -v cb="$runs_bytes" -v peak="$peak_kib" 'BEGIN {
  printf "%-34s %12s %10s %12s %10s\n", "loader (same server)", "rows", "seconds", "rows/s", "MB/s"
  printf "%-34s %12d %10.2f %12.0f %10.1f\n", "pgbench -i (client-side generate)", pr, ps, pr / ps, pb / 1e6 / ps
  printf "%-34s %12d %10.2f %12.0f %10.1f\n", "plancheck (generate + binary COPY)", cr, cms / 1000, cr / (cms / 1000), cb / 1e6 / (cms / 1000)
  printf "ratio (plancheck MB/s / pgbench -i MB/s): %.2fx\n", (cb / (cms / 1000)) / (pb / ps)
  printf "plancheck peak memory (VmHWM): %.1f MiB\n", peak / 1024
}'
