#!/usr/bin/env bash
# Seeding throughput of plancheck against pgbench's client-side generation, on the same
# server, plus plancheck's own peak memory while it seeds.
#
#   scripts/compare-seeding.sh [SCALE]      # SCALE workflow runs, default 1000000
#
# Starts a private server with the settings plancheck gives its throwaway servers,
# runs `pgbench -i -I dtg` (drop, create tables, client-side generate: 100,000
# pgbench_accounts rows per scale unit, so SCALE/100000 units for the same row count),
# then `plancheck scenario sparse-org --database-url` against that server, and reads
# plancheck's copy phase from its report. The server and its files are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
bindir=${PLANCHECK_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
work=$(mktemp -d /tmp/plancheck-compare-XXXXXX)
run_as=()
if [ "$(id -u)" = 0 ]; then chown postgres "$work"; run_as=(runuser -u postgres --); fi
cleanup() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"${run_as[@]}" "$bindir/initdb" --no-sync --auth=trust --username=postgres -E UTF8 --locale=C -D "$work/data" >/dev/null
settings=(-c listen_addresses= -c "unix_socket_directories=$work" -c fsync=off -c synchronous_commit=off
  -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=8GB
  -c checkpoint_timeout=1h -c shared_buffers=1GB -c maintenance_work_mem=512MB -c autovacuum=off)
"${run_as[@]}" "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -o "${settings[*]}" -w start >/dev/null

units=$(( (scale + 99999) / 100000 ))
pgbench_log=$("$bindir/pgbench" -h "$work" -U postgres -i -I dtg -s "$units" postgres 2>&1)
generate_s=$(grep -o 'client-side generate [0-9.]* s' <<<"$pgbench_log" | awk '{print $3}')
accounts_bytes=$(psql -h "$work" -U postgres -Atc "SELECT pg_table_size('pgbench_accounts')" postgres)
accounts_rows=$(( units * 100000 ))

cargo build --release --quiet
./target/release/plancheck scenario sparse-org --scale "$scale" --no-progress --out "$work/reports" \
  --database-url "postgresql://postgres@localhost/postgres?host=$work" >/dev/null 2>"$work/plancheck.err" &
pid=$!
peak_kib=0
while kill -0 "$pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$hwm" ] && peak_kib=$hwm
  sleep 0.1
done
wait "$pid" || { cat "$work/plancheck.err" >&2; exit 1; }

report="$work/reports/sparse-org/report.json"
copy_ms=$(jq '[.phases_ms[] | select(.phase == "seed: copy rows") | .ms] | first' "$report")
runs_rows=$(jq '.dataset.rows.workflow_runs' "$report")
runs_bytes=$(jq '.dataset.workflow_runs_table_bytes' "$report")

awk -v pr="$accounts_rows" -v ps="$generate_s" -v pb="$accounts_bytes" \
    -v cr="$runs_rows" -v cms="$copy_ms" -v cb="$runs_bytes" -v peak="$peak_kib" 'BEGIN {
  printf "%-34s %12s %10s %12s %10s\n", "loader (same server)", "rows", "seconds", "rows/s", "MB/s"
  printf "%-34s %12d %10.2f %12.0f %10.1f\n", "pgbench -i (client-side generate)", pr, ps, pr / ps, pb / 1e6 / ps
  printf "%-34s %12d %10.2f %12.0f %10.1f\n", "plancheck (generate + binary COPY)", cr, cms / 1000, cr / (cms / 1000), cb / 1e6 / (cms / 1000)
  printf "plancheck peak memory (VmHWM): %.1f MiB\n", peak / 1024
}'
