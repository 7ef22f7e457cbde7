#!/usr/bin/env bash
# Interrupts plancheck runs at random points and counts what they leave behind.
#
#   scripts/interrupt-soak.sh [RUNS] [IMAGE]     # default 20 runs, plancheck/postgres:15
#
# Alternates the local and docker backends (docker only when an engine and the image
# are there), sends SIGINT or SIGTERM after a random delay between 0.2 s and 18 s
# (from start-up, through schema, seeding and index builds, into capture), and after
# all runs counts plancheck containers, local servers, temporary directories and
# report staging directories. Exits 1 if anything remains.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
image=${2:-plancheck/postgres:15}
cargo build --release --quiet
backends=(local)
if docker image inspect "$image" >/dev/null 2>&1; then backends=(local docker); fi
out=$(mktemp -d /tmp/plancheck-soak-XXXXXX)

count_leftovers() {
  local containers servers directories staging
  containers=$(docker ps -aq --filter label=dev.plancheck.backend 2>/dev/null | wc -l)
  servers=$(pgrep -fc 'postgres -D /tmp/plancheck-pg-' || true)
  directories=$(find /tmp -maxdepth 1 -name 'plancheck-pg-*' | wc -l)
  staging=$(find "$out" -name '.*staging*' -o -name '.*previous' | wc -l)
  echo "$containers $servers $directories $staging"
}
read -r c0 s0 d0 t0 < <(count_leftovers)

for i in $(seq 1 "$runs"); do
  backend=${backends[$(( i % ${#backends[@]} ))]}
  signal=$([ $(( RANDOM % 2 )) = 0 ] && echo INT || echo TERM)
  delay=$(awk -v r="$RANDOM" 'BEGIN { printf "%.1f", 0.2 + (r / 32767) * 17.8 }')
  ./target/release/plancheck scenario sparse-org --backend "$backend" --image "$image" \
    --no-progress --out "$out" >/dev/null 2>"$out/run-$i.err" &
  pid=$!
  sleep "$delay"
  kill -s "$signal" "$pid" 2>/dev/null || true
  status=0; wait "$pid" || status=$?
  printf 'run %2d: %-6s SIG%-4s after %5ss -> exit %s\n' "$i" "$backend" "$signal" "$delay" "$status"
done

sleep 2
read -r c1 s1 d1 t1 < <(count_leftovers)
printf 'before: %s containers, %s servers, %s temp dirs, %s staging dirs\n' "$c0" "$s0" "$d0" "$t0"
printf 'after:  %s containers, %s servers, %s temp dirs, %s staging dirs\n' "$c1" "$s1" "$d1" "$t1"
rm -rf "$out"
[ "$c1" = "$c0" ] && [ "$s1" = "$s0" ] && [ "$d1" = "$d0" ] && [ "$t1" = 0 ]
