#!/usr/bin/env bash
# Interrupts plancheck runs at random instants and counts what they leave behind.
#
#   scripts/interrupt-soak.sh [RUNS_PER_BACKEND] [IMAGE] [SCALE]
#       default 20 runs per backend, image plancheck/postgres:15, scale 400000
#
# For each backend (docker when an engine and the image are there, local, and url on
# a private server this script starts), one uninterrupted run measures how long a run
# takes; then each run gets SIGINT, SIGTERM or SIGHUP at a random instant between 0 s
# and the end of that duration (start-up, schema, seeding, index builds, capture,
# timing, reports). Every interrupted run must exit 130 (or finish, if the signal came
# after its end). After each run it counts what that run left (containers labelled
# with its pid, server directories named after it, postmasters serving them, and
# PostgreSQL dynamic shared memory segments in /dev/shm that appeared during the run
# and that no process has mapped); at the end the scratch databases on the url server,
# report staging directories and report lock files. Exits 1 if anything is left or an
# exit code was wrong.
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

tmp=$(dirname "$(mktemp -u)")
# What run $1 (a process id) left: its containers (labelled with its pid), its server
# directories (named after it) and postmasters serving them. Counted per run, so other
# plancheck runs on the machine (a test suite, say) do not muddle the counts.
leftovers_of() {
  local pid=$1 containers servers directories
  containers=$(docker ps -aq --filter "label=dev.plancheck.pid=$pid" 2>/dev/null | wc -l)
  servers=$(pgrep -fc "postgres -D $tmp/plancheck-pg-$pid-" || true)
  directories=$(find "$tmp" -maxdepth 1 -name "plancheck-pg-$pid-*" | wc -l)
  echo "$containers $servers $directories"
}
# PostgreSQL's dynamic shared memory segments in /dev/shm that no process has mapped:
# what a server or initdb killed before its clean-up leaves. Printed one per line.
unmapped_segments() {
  local segment
  for segment in /dev/shm/PostgreSQL.*; do
    [ -e "$segment" ] || continue
    grep -qsF "$segment" /proc/[0-9]*/maps || echo "$segment"
  done
}
scratch_databases() {
  psql "$url" -Atc "select count(*) from pg_database where datname like 'plancheck\_%'"
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

wrong=0
containers=0; servers=0; directories=0; segments=0
# Segments already lying about belong to no run of this script; only new ones count.
declare -A preexisting
while read -r segment; do [ -n "$segment" ] && preexisting[$segment]=1; done < <(unmapped_segments)
# Sets m to the number of segments left since the last call (not in a subshell, so
# that each is counted once).
count_new_segments() {
  local segment
  m=0
  while read -r segment; do
    if [ -n "$segment" ] && [ -z "${preexisting[$segment]:-}" ]; then
      preexisting[$segment]=1; m=$(( m + 1 ))
    fi
  done < <(unmapped_segments)
}
declare -A interrupted finished
for backend in "${backends[@]}"; do
  start=$(date +%s.%N); run "$backend"; wait "$pid" || true
  duration=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%s: an uninterrupted run takes %.1fs\n' "$backend" "$duration"
  interrupted[$backend]=0; finished[$backend]=0
  for i in $(seq 1 "$runs"); do
    signal=$(case $(( RANDOM % 3 )) in 0) echo INT ;; 1) echo TERM ;; *) echo HUP ;; esac)
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
    sleep 1
    read -r c s d < <(leftovers_of "$pid")
    count_new_segments
    containers=$(( containers + c )); servers=$(( servers + s )); directories=$(( directories + d )); segments=$(( segments + m ))
    printf '%-6s run %2d: SIG%-4s after %6ss -> exit %s, left %s containers, %s postmasters, %s directories, %s shm segments\n' \
      "$backend" "$i" "$signal" "$delay" "$status" "$c" "$s" "$d" "$m"
  done
done

databases=$(scratch_databases)
staging=$(find "$out" -name '.*staging*' -o -name '.*previous' -o -name '.*.lock' | wc -l)
for backend in "${backends[@]}"; do
  printf '%s: %s runs interrupted (exit 130), %s had finished before the signal\n' \
    "$backend" "${interrupted[$backend]}" "${finished[$backend]}"
done
printf 'left behind: %s containers, %s postmasters, %s server directories, %s shm segments, %s scratch databases, %s staging directories or lock files; %s unexpected exit codes\n' \
  "$containers" "$servers" "$directories" "$segments" "$databases" "$staging" "$wrong"
[ "$wrong" = 0 ] && [ "$containers" = 0 ] && [ "$servers" = 0 ] && [ "$directories" = 0 ] && [ "$segments" = 0 ] && [ "$databases" = 0 ] && [ "$staging" = 0 ]
