#!/usr/bin/env bash
# Captures the shipped scenarios' plans on each PostgreSQL major version, as the test
# data of plan parsing and judging across versions (tests/data/plans/pg<MAJOR>/):
#
#   scripts/capture-version-plans.sh [MAJOR...]     # default 13 15 17
#
# For each version it runs sparse-org, dense-org and orders-by-status on the docker
# backend with plancheck/postgres:<MAJOR> (scripts/build-postgres-image.sh MAJOR), at
# 20,000 rows and at 350,000 (sparse-org's and dense-org's min_scale; orders-by-status
# only at 20,000, its min_scale), default seed, and keeps each query's
# EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) as the server printed it and the catalogs:
#
#   <scenario>.<scale>.<query>[.<variant>].explain.json   (the report's plan files)
#   <scenario>.<scale>.catalog[.after].json
#
# Then, on the 350,000-row sparse-org database kept for it, EXPLAIN of both queries
# with the options that add the keys versions differ in: WAL and SETTINGS (13 on),
# SERIALIZE and MEMORY (17 on), as <scenario>.<scale>.<query>.options.explain.json.
# Each run's verdicts, one line per check and variant (server version, scenario, scale,
# variant, check, subject, verdict), go to stdout and to verdicts.tsv beside the plans:
# what the full run judged, timings included.
# PLANCHECK names the binary (default: target/debug/plancheck under CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
plancheck=${PLANCHECK:-${CARGO_TARGET_DIR:-target}/debug/plancheck}
majors=("$@")
[ $# -gt 0 ] || majors=(13 15 17)
work=$(mktemp -d /tmp/plancheck-version-plans-XXXXXX)
remove=""
trap '[ -n "$remove" ] && sh -c "$remove" >/dev/null 2>&1; rm -rf "$work"' EXIT

# Runs one scenario and copies its plans and catalogs into $out; extra arguments go
# to plancheck. Exit code 1 (a check failed) is a result here, not an error.
capture() {
  local major=$1 scenario=$2 scale=$3
  shift 3
  local dir="$work/$major-$scenario-$scale"
  local code=0
  "$plancheck" scenario "$scenario" --backend docker --image "plancheck/postgres:$major" \
    --scale "$scale" --out "$dir" --no-progress "$@" >"$dir.out" 2>"$dir.err" || code=$?
  if [ "$code" -gt 1 ]; then
    cat "$dir.err" >&2
    echo "capture-version-plans: $scenario at $scale on $major exited $code" >&2
    exit 1
  fi
  local report="$dir/$scenario" file
  for file in "$report"/*.explain.json "$report"/catalog*.json; do
    cp "$file" "$out/$scenario.$scale.${file##*/}"
  done
  jq -r --arg v "$(jq -r .server.version "$report/report.json")" --arg s "$scenario" --arg n "$scale" '
    .variants[] as $variant
    | ($variant.variant | to_entries | map(.value) | join(",")) as $name
    | $variant.checks[]
    | [$v, $s, $n, $name, .check, .subject, (if .judged | not then "not judged" elif .passed then "pass" else "FAIL" end)]
    | @tsv' "$report/report.json" | tee -a "$out/verdicts.tsv"
}

# EXPLAIN of a scenario query file with `options`, on the database at `url`, bound to
# the parameter the run bound.
explain_with() {
  local url=$1 file=$2 param=$3 options=$4
  psql "$url" -qAt -v ON_ERROR_STOP=1 <<SQL
PREPARE query AS $(grep -v '^--' "$file");
EXPLAIN ($options, FORMAT JSON) EXECUTE query('$param');
SQL
}

for major in "${majors[@]}"; do
  out=tests/data/plans/pg$major
  mkdir -p "$out"
  printf 'server\tscenario\tscale\tvariant\tcheck\tsubject\tverdict\n' >"$out/verdicts.tsv"
  capture "$major" sparse-org 20000
  capture "$major" dense-org 20000
  capture "$major" orders-by-status 20000
  capture "$major" dense-org 350000
  capture "$major" sparse-org 350000 --keep

  err="$work/$major-sparse-org-350000.err"
  remove=$(grep -A1 'Remove it when done' "$err" | tail -1 | sed 's/^ *//')
  url=$(grep -m1 "psql 'postgresql://" "$err" | sed "s/.*psql '\\([^']*\\)'.*/\\1/")
  options="ANALYZE, BUFFERS, WAL, SETTINGS"
  [ "$major" -ge 17 ] && options="$options, SERIALIZE, MEMORY"
  report="$work/$major-sparse-org-350000/sparse-org/report.json"
  for query in old new; do
    file=$(jq -r --arg q "$query" '.variants[0].queries[] | select(.name == $q) | .file' "$report")
    param=$(jq -r --arg q "$query" '.variants[0].queries[] | select(.name == $q) | .params[0]' "$report")
    explain_with "$url" "$file" "$param" "$options" \
      >"$out/sparse-org.350000.$query.options.explain.json"
  done
  sh -c "$remove" >/dev/null
  remove=""
  echo "capture-version-plans: PostgreSQL $major: $(ls "$out" | wc -l) files in $out (EXPLAIN options on sparse-org: $options)"
done
