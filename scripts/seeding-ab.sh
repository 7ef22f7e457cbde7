#!/usr/bin/env bash
# Seeding speed of this checkout against another one (an earlier commit), measured in
# one run: alternating runs of `plancheck scenario dense-org` at the dataset's default
# scale (1,000,000 runs) on the local backend, reading each run's "seed: copy rows"
# phase and the size of workflow_runs from report.json. Prints every run, then the
# medians as rows/s and MB/s. dense-org's queries are fast, so a run is mostly seeding.
#
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release)
#   scripts/seeding-ab.sh /tmp/before [ROUNDS]        # default 4 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
other=$(cd "$1" && pwd)
rounds=${2:-4}
work=$(mktemp -d /tmp/plancheck-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
here=$(pwd)

# Prints "<copy ms> <workflow_runs bytes>" for one run in checkout $1.
run() {
  rm -rf "$work/out"
  (cd "$1" && ./target/release/plancheck scenario dense-org --backend local --no-progress --out "$work/out" >/dev/null 2>&1)
  jq -r '[(.phases_ms[] | select(.phase == "seed: copy rows") | .ms),
          (.dataset.workflow_runs_table_bytes // (.dataset.tables[] | select(.name == "workflow_runs") | .table_bytes))]
         | @tsv' "$work/out/dense-org/report.json"
}

for round in $(seq "$rounds"); do
  printf "other\t%s\n" "$(run "$other")" >>"$work/runs"
  printf "this\t%s\n" "$(run "$here")" >>"$work/runs"
done
cat "$work/runs"
for side in other this; do
  bytes=$(awk -v side="$side" '$1 == side { b = $3 } END { print b }' "$work/runs")
  awk -v side="$side" '$1 == side { print $2 }' "$work/runs" | sort -n | awk -v side="$side" -v bytes="$bytes" '
    { ms[NR] = $1 }
    END {
      median = (NR % 2) ? ms[(NR + 1) / 2] : (ms[NR / 2] + ms[NR / 2 + 1]) / 2
      printf "%-5s median copy %.0f ms: %.0f rows/s, %.1f MB/s (%d runs)\n", side, median, 1e6 / (median / 1000), bytes / 1e6 / (median / 1000), NR
    }'
done
