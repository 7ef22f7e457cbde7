#!/usr/bin/env bash
# Interrupts plancheck runs at random instants and counts what they leave behind.
#
#   scripts/interrupt-soak.sh [RUNS_PER_BACKEND] [IMAGE] [SCALE] [PHASE]
#       default 20 runs per backend, image plancheck/postgres:15, scale 400000,
#       phase `any`
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
#
# Runs use a cache directory of the script's own (removed at the end). PHASE `store`
# or `restore` aims the signal at the seeded-data cache, on the docker and local
# backends (the url backend caches nothing): at a random instant within the phase whose
# progress line is `cache: store` (each run seeds afresh: the entry is removed before
# it) or `restore from cache` (an uninterrupted run stores the entry first), the
# phase's length taken from an uninterrupted run. Each run's leftovers then also count
# the cache's partial copies (`*.partial`) and staging directories, and before each
# restore the entry stored first must still be there.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
image=${2:-plancheck/postgres:15}
scale=${3:-400000}
phase=${4:-any}
case $phase in
  any) ;;
  store) phase_line='cache: store' ;;
  restore) phase_line='restore from cache' ;;
  *) echo "PHASE must be any, store or restore, not $phase" >&2; exit 2 ;;
esac
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
cache=$(mktemp -d /tmp/plancheck-soak-cache-XXXXXX)
trap 'as_pg "$bindir/pg_ctl" -D "$url_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$url_dir" "$out" "$cache"' EXIT
url="host=$url_dir port=5499 user=postgres dbname=postgres"

backends=(local url)
if docker image inspect "$image" >/dev/null 2>&1; then backends=(docker local url); fi
# The url backend caches nothing: a cache phase is aimed at the others.
if [ "$phase" != any ]; then backends=("${backends[@]/url}"); backends=(${backends[@]}); fi

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
# What the cache holds that no run should leave: partial copies and staging directories.
cache_leftovers() {
  find "$cache" -mindepth 2 -maxdepth 2 \( -path "$cache/*/*.partial" -o -path "$cache/staging/*" \) | wc -l
}
# The complete seeded entries in the cache.
seeded_entries() {
  find "$cache/seeded" -mindepth 1 -maxdepth 1 -type d ! -name '*.partial' 2>/dev/null | wc -l
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
  PLANCHECK_CACHE_DIR=$cache "$bin" "${args[@]}" >/dev/null 2>"$out/last.err" &
  pid=$!
}

# The length in seconds of the phase named $phase_line, from an uninterrupted run's
# stderr (`plancheck: cache: store: 2.3 s`, `…: 840 ms`).
phase_seconds() {
  { grep -F "plancheck: $phase_line: " "$1" || true; } | tail -1 |
    awk '{ unit = $NF; value = $(NF-1); gsub(",", "", value);
           if (unit == "ms") value /= 1000; else if (unit == "min") value *= 60;
           printf "%.3f", value }'
}

# Waits until run $pid's stderr says the phase has begun (or the run has ended).
wait_for_phase() {
  local waited=0
  until grep -qF "plancheck: $phase_line…" "$out/last.err" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.01
    waited=$(( waited + 1 ))
    [ "$waited" -lt 60000 ] || return 0
  done
}

# Before a run of a cache phase: no entry for a store, the stored entry for a restore.
prepare_cache() {
  case $phase in
    store) rm -rf "$cache/seeded" ;;
    restore) [ "$(seeded_entries)" = 1 ] || { echo "  the stored entry is gone"; wrong=$(( wrong + 1 )); } ;;
  esac
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
left_in_cache=0
for backend in "${backends[@]}"; do
  rm -rf "$cache/seeded"
  start=$(date +%s.%N); run "$backend"; wait "$pid" || true
  duration=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%s: an uninterrupted run takes %.1fs\n' "$backend" "$duration"
  if [ "$phase" != any ]; then
    [ "$phase" = restore ] || { rm -rf "$cache/seeded"; run "$backend"; wait "$pid" || true; }
    [ "$phase" = store ] || { run "$backend"; wait "$pid" || true; }
    duration=$(phase_seconds "$out/last.err")
    [ -n "$duration" ] || { echo "$backend: no '$phase_line' phase in an uninterrupted run:"; tail -5 "$out/last.err"; exit 1; }
    printf '%s: the %s phase takes %ss\n' "$backend" "$phase_line" "$duration"
  fi
  interrupted[$backend]=0; finished[$backend]=0
  for i in $(seq 1 "$runs"); do
    signal=$(case $(( RANDOM % 3 )) in 0) echo INT ;; 1) echo TERM ;; *) echo HUP ;; esac)
    delay=$(awk -v r="$RANDOM" -v d="$duration" 'BEGIN { printf "%.2f", (r / 32767) * d }')
    [ "$phase" = any ] || prepare_cache
    run "$backend"
    [ "$phase" = any ] || wait_for_phase
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
    k=$(cache_leftovers)
    containers=$(( containers + c )); servers=$(( servers + s )); directories=$(( directories + d )); segments=$(( segments + m ))
    left_in_cache=$(( left_in_cache + k ))
    [ "$phase" = any ] && after="${delay}s" || after="${delay}s into '$phase_line'"
    printf '%-6s run %2d: SIG%-4s after %7s -> exit %s, left %s containers, %s postmasters, %s directories, %s shm segments, %s cache copies\n' \
      "$backend" "$i" "$signal" "$after" "$status" "$c" "$s" "$d" "$m" "$k"
    # A copy left once is counted once.
    find "$cache" -mindepth 2 -maxdepth 2 \( -path "$cache/*/*.partial" -o -path "$cache/staging/*" \) -exec rm -rf {} +
  done
done

databases=$(scratch_databases)
staging=$(find "$out" -name '.*staging*' -o -name '.*previous' -o -name '.*.lock' | wc -l)
for backend in "${backends[@]}"; do
  printf '%s: %s runs interrupted (exit 130), %s had finished before the signal\n' \
    "$backend" "${interrupted[$backend]}" "${finished[$backend]}"
done
printf 'left behind: %s containers, %s postmasters, %s server directories, %s shm segments, %s scratch databases, %s staging directories or lock files, %s cache copies; %s unexpected exit codes\n' \
  "$containers" "$servers" "$directories" "$segments" "$databases" "$staging" "$left_in_cache" "$wrong"
[ "$wrong" = 0 ] && [ "$containers" = 0 ] && [ "$servers" = 0 ] && [ "$directories" = 0 ] && [ "$segments" = 0 ] && [ "$databases" = 0 ] && [ "$staging" = 0 ] && [ "$left_in_cache" = 0 ]
