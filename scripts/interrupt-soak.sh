#!/usr/bin/env bash
# Interrupts plancheck runs at random instants and counts what they leave behind.
#
#   scripts/interrupt-soak.sh [RUNS_PER_BACKEND] [IMAGE] [SCALE]
#       default 20 runs per backend, image plancheck/postgres:15, scale 400000
#
# For each backend (docker when an engine and the image are there, local, and url on
# a private server this script starts), one uninterrupted run measures how long a run
# takes; then each run gets SIGINT or SIGTERM at a random instant between 0 s and the
# end of that duration (start-up, schema, seeding, index builds, capture, timing,
# reports). Every interrupted run must exit 130 (or finish, if the signal came after
# its end). Afterwards it counts plancheck containers, postmasters, local server
# directories, scratch databases on the url server and report staging directories,
# and exits 1 if anything is left or an exit code was wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
image=${2:-plancheck/postgres:15}
scale=${3:-400000}
cargo build --release --quiet
bin=$PWD/target/release/plancheck
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
out=$(mktemp -d /tmp/plancheck-soak-XXXXXX)

# A private server for the url backend, run as `postgres` when this runs as root.
url_dir=$(mktemp -d /tmp/plancheck-soak-url-XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
chmod 755 "$url_dir"; [ "$(id -u)" = 0 ] && chown postgres "$url_dir"
as_pg "$bindir/initdb" -D "$url_dir/data" --auth=trust -U postgres --no-sync >/dev/null
as_pg "$bindir/pg_ctl" -D "$url_dir/data" -l "$url_dir/log" -w \
  -o "-k $url_dir -c listen_addresses= -c fsync=off -c port=5499" start >/dev/null
trap 'as_pg "$bindir/pg_ctl" -D "$url_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$url_dir" "$out"' EXIT
url="host=$url_dir port=5499 user=postgres dbname=postgres"

backends=(local url)
if docker image inspect "$image" >/dev/null 2>&1; then backends=(docker local url); fi

count_leftovers() {
  local containers servers directories databases staging
  containers=$(docker ps -aq --filter label=dev.plancheck.backend 2>/dev/null | wc -l)
  servers=$(pgrep -fc "postgres -D $(dirname "$(mktemp -u)")/plancheck-pg-" || true)
  directories=$(find "$(dirname "$(mktemp -u)")" -maxdepth 1 -name 'plancheck-pg-*' | wc -l)
  databases=$(psql "$url" -Atc "select count(*) from pg_database where datname like 'plancheck\_%'")
  staging=$(find "$out" -name '.*staging*' -o -name '.*previous' | wc -l)
  echo "$containers $servers $directories $databases $staging"
}

run() { # backend -> runs plancheck in the background, sets $pid
  local backend=$1
  local args=(scenario sparse-org --scale "$scale" --no-progress --out "$out")
  case $backend in
    docker) args+=(--backend docker --image "$image") ;;
    local) args+=(--backend local) ;;
    url) args+=(--backend url --database-url "$url") ;;
  esac
  "$bin" "${args[@]}" >/dev/null 2>"$out/last.err" &
  pid=$!
}

read -r c0 s0 d0 b0 t0 < <(count_leftovers)
wrong=0
declare -A interrupted finished
for backend in "${backends[@]}"; do
  start=$(date +%s.%N); run "$backend"; wait "$pid" || true
  duration=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%s: an uninterrupted run takes %.1fs\n' "$backend" "$duration"
  interrupted[$backend]=0; finished[$backend]=0
  for i in $(seq 1 "$runs"); do
    signal=$([ $(( RANDOM % 2 )) = 0 ] && echo INT || echo TERM)
    delay=$(awk -v r="$RANDOM" -v d="$duration" 'BEGIN { printf "%.2f", (r / 32767) * d }')
    run "$backend"
    sleep "$delay"
    kill -s "$signal" "$pid" 2>/dev/null || true
    status=0; wait "$pid" || status=$?
    case $status in
      130) interrupted[$backend]=$(( ${interrupted[$backend]} + 1 )) ;;
      0|1) finished[$backend]=$(( ${finished[$backend]} + 1 )) ;;
      *) wrong=$(( wrong + 1 )); echo "  unexpected exit $status:"; tail -3 "$out/last.err" ;;
    esac
    printf '%-6s run %2d: SIG%-4s after %6ss -> exit %s\n' "$backend" "$i" "$signal" "$delay" "$status"
  done
done

sleep 2
read -r c1 s1 d1 b1 t1 < <(count_leftovers)
for backend in "${backends[@]}"; do
  printf '%s: %s runs interrupted (exit 130), %s had finished before the signal\n' \
    "$backend" "${interrupted[$backend]}" "${finished[$backend]}"
done
printf 'before: %s containers, %s postmasters, %s server dirs, %s scratch databases, %s staging dirs\n' "$c0" "$s0" "$d0" "$b0" "$t0"
printf 'after:  %s containers, %s postmasters, %s server dirs, %s scratch databases, %s staging dirs\n' "$c1" "$s1" "$d1" "$b1" "$t1"
[ "$wrong" = 0 ] && [ "$c1" -le "$c0" ] && [ "$s1" -le "$s0" ] && [ "$d1" -le "$d0" ] && [ "$b1" = 0 ] && [ "$t1" = 0 ]
