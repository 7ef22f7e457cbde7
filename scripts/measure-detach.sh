#!/usr/bin/env bash
# How long detaching and restoring indexes, keys, foreign keys and triggers takes on a
# dataset of many small tables: TABLES tables (default 2,000) of 5 rows each, every one
# with a primary key, an index and (but the first) a foreign key, every tenth with a
# trigger. Generates the schema, dataset and scenario into a temporary directory, runs
# `plancheck scenario` on the local backend once and prints the seed phases as it
# reports them on stderr. "seed: detach indexes" is the one the batching in
# src/load/detach.rs is about; "seed: validate foreign keys" includes re-enabling the
# triggers.
#
#   [REFERENCES=previous] scripts/measure-detach.sh [TABLES] [PLANCHECK]
#
# REFERENCES=first (the default) points every foreign key at the first table,
# REFERENCES=previous at the table before it. Foreign keys all to one table cost the
# server time in proportion to how many there are, at each one dropped or added (it
# rebuilds that table's trigger list), however they are batched; `previous` shows the
# rest. PLANCHECK is a binary to measure instead of this checkout's release build: to
# compare with an earlier commit, build that commit and pass its binary.
set -euo pipefail
cd "$(dirname "$0")/.."
tables=${1:-2000}
binary=${2:-}
references=${REFERENCES:-first}
case $references in first | previous) ;; *) echo "measure-detach: REFERENCES is first or previous, not $references" >&2; exit 2 ;; esac
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=./target/release/plancheck
fi
work=$(mktemp -d /tmp/plancheck-detach-XXXXXX)
trap 'rm -rf "$work"' EXIT

{
  echo 'CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;'
  for i in $(seq 0 $((tables - 1))); do
    t=$(printf 't%05d' "$i")
    if [ "$i" -eq 0 ]; then
      echo "CREATE TABLE $t (id bigint PRIMARY KEY, v int NOT NULL, parent_id bigint);"
    else
      parent=t00000
      [ "$references" = previous ] && parent=$(printf 't%05d' $((i - 1)))
      echo "CREATE TABLE $t (id bigint PRIMARY KEY, v int NOT NULL, parent_id bigint NOT NULL REFERENCES $parent (id));"
    fi
    echo "CREATE INDEX ${t}_v ON $t (v);"
    if [ $((i % 10)) -eq 0 ]; then
      echo "CREATE TRIGGER ${t}_keep BEFORE INSERT ON $t FOR EACH ROW EXECUTE FUNCTION keep_row();"
    fi
  done
} >"$work/schema.sql"

{
  echo "description = \"$tables small tables, each with a key, an index and a foreign key\""
  echo 'schema = ["schema.sql"]'
  echo 'seed = 1'
  echo 'as_of = "2026-06-01T00:00:00Z"'
  echo 'scale_table = "t00000"'
  for i in $(seq 0 $((tables - 1))); do
    t=$(printf 't%05d' "$i")
    echo
    echo '[[table]]'
    echo "name = \"$t\""
    echo 'rows = 5'
    echo 'columns.id = "sequence"'
    echo 'columns.v = { kind = "int", range = [1, 100] }'
    if [ "$i" -gt 0 ]; then
      parent=t00000
      [ "$references" = previous ] && parent=$(printf 't%05d' $((i - 1)))
      echo "columns.parent_id = { kind = \"reference\", to = \"$parent.id\" }"
    fi
  done
} >"$work/dataset.toml"

echo 'SELECT count(*) FROM t00000' >"$work/count.sql"
cat >"$work/many-tables.toml" <<'EOF'
description = "Seeds many small tables; the query only gives the run something to judge."
dataset = "dataset.toml"

[[query]]
name = "count"
file = "count.sql"

[[check]]
check = "no-node"
query = "count"
node_type = "Sort"
EOF

echo "measure-detach: $tables tables referencing the $references one, $(grep -c '^CREATE' "$work/schema.sql") schema statements, $binary" >&2
"$binary" scenario "$work/many-tables.toml" --backend local --no-progress --out "$work/out" \
  2>"$work/stderr" >/dev/null || { cat "$work/stderr" >&2; exit 1; }
grep -F 'plancheck: seed: ' "$work/stderr" | grep -v '…'
