#!/usr/bin/env bash
# plancheck's timing medians against pgbench's latencies, on the same server, for the
# same queries and parameters, plus how many times plancheck executed each query.
#
#   scripts/compare-timing.sh [SCALE] [SCENARIO]   # default 1000000 sparse-org
#
# Runs `plancheck scenario SCENARIO --backend local --keep`, reads each query's median,
# samples, bound parameters and `executions` (plancheck's own count, from reports that
# have it) from report.json, and the capture and timing phases.
# Then, on the server it kept, it reads how many times each query's first index scan
# ran (`pg_stat_user_indexes.idx_scan`, before pgbench touches anything: one scan per
# execution, EXPLAIN ANALYZE included, for a plan that reads its index once, as both
# queries of sparse-org do) and runs each query with
# `pgbench -n -M prepared -f q.sql -D p1=...` (the file's $1 written as :p1), logging
# every transaction (-l) so the median latency compares with plancheck's median.
# Each query runs for PGBENCH_SECONDS (default 5), or 10 transactions when that is
# longer (a median of 10 runs of a query of seconds is steady; more only costs time). The kept server is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
scenario=${2:-sparse-org}
seconds=${PGBENCH_SECONDS:-5}
. scripts/kept-server.sh
kept_server_workdir plancheck-timing

cargo build --release --quiet
"${CARGO_TARGET_DIR:-target}/release/plancheck" scenario "$scenario" --scale "$scale" \
  --backend local --keep --no-progress --out "$work/reports" >/dev/null 2>"$work/plancheck.err" ||
  { cat "$work/plancheck.err" >&2; exit 1; }
kept_server_read "$work/plancheck.err"
export PGHOST=$socket_dir PGUSER=postgres PGDATABASE=$database

report="$work/reports/$scenario/report.json"
echo "plancheck scenario $scenario --scale $scale (first variant):"
jq -r '.phases_ms[] | select(.phase == "capture plans" or .phase == "time queries")
       | "  \(.phase): \(.ms) ms"' "$report"

# The index a query's plan scans first (its outermost scan node), whose idx_scan
# counts the query's executions.
index_of() {
  jq -r --arg q "$1" '.variants[0].queries[] | select(.name == $q) | .access_path[0]' "$report" |
    sed -n 's/.* using \([^ ]*\) on .*/\1/p'
}

printf '%-6s %14s %8s %10s %10s %14s %8s %8s\n' query "plancheck ms" samples idx_scans executions \
  "pgbench ms" txns ratio
for query in $(jq -r '.variants[0].queries[].name' "$report"); do
  row=$(jq -c --arg q "$query" '.variants[0].queries[] | select(.name == $q)' "$report")
  median=$(jq -r '.median_ms // "null"' <<<"$row")
  samples=$(jq -r '.samples_ms | length' <<<"$row")
  counted=$(jq -r '.executions // "-"' <<<"$row")
  index=$(index_of "$query")
  scans=$(psql -Atc "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '$index'")
  # The query file with $N written as pgbench's :pN, and -D pN=value for each
  # parameter, on one line (pgbench reads a command per line unless it ends in `;`)
  # without the `--` comments, which would swallow the rest of the line.
  sql="$work/$query.sql"
  jq -r '.sql' <<<"$row" | sed -E -e 's/--.*$//' -e 's/\$([0-9]+)/:p\1/g' | tr '\n' ' ' >"$sql"
  echo >>"$sql"
  defines=()
  while IFS=$'\t' read -r number value; do
    defines+=(-D "p$number=$value")
  done < <(jq -r '.params | to_entries[] | "\(.key + 1)\t\(.value)"' <<<"$row")
  # -T for a fast query, -t 10 for one so slow that $seconds would give fewer runs.
  transactions=$(awk -v m="$median" -v s="$seconds" 'BEGIN { print (m != "null" && m * 10 > s * 1000) ? 10 : 0 }')
  run=(-T "$seconds")
  [ "$transactions" -gt 0 ] && run=(-t "$transactions")
  rm -f "$work"/pgbench_log.*
  (cd "$work" && pgbench -n -M prepared -f "$sql" "${defines[@]}" "${run[@]}" -l \
    --log-prefix=pgbench_log >"$work/pgbench.out" 2>&1) ||
    { cat "$work/pgbench.out" >&2; exit 1; }
  # The log's third column is each transaction's latency in microseconds.
  read -r txns bench_median < <(cat "$work"/pgbench_log.* | awk '{ print $3 / 1000 }' | sort -g |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print NR, m }')
  printf '%-6s %14.3f %8d %10s %10s %14.3f %8d %8.2f\n' "$query" "$median" "$samples" "$scans" "$counted" \
    "$bench_median" "$txns" "$(awk -v a="$median" -v b="$bench_median" 'BEGIN { print a / b }')"
done
