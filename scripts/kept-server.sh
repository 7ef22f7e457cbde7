# Sourced by the scripts that run plancheck with --keep and then measure on the server
# it kept (compare-seeding.sh, compare-timing.sh).
#
#   kept_server_workdir PREFIX     # $work, removed at exit with the kept server
#   kept_server_read ERRFILE       # $remove, $socket_dir, $database, PGPASSWORD
work=""
remove=""
kept_server_cleanup() {
  [ -n "$remove" ] && sh -c "$remove" >/dev/null 2>&1 || true
  [ -n "$work" ] && rm -rf "$work"
}

kept_server_workdir() {
  work=$(mktemp -d "/tmp/$1-XXXXXX")
  trap kept_server_cleanup EXIT
}

# The command that removes the kept server, and the kept database's socket directory,
# name and password, from what plancheck printed on stderr:
# `PGPASSWORD=... psql -h DIR -U postgres -d DB` and the line after "Remove it when done".
kept_server_read() {
  # A run that failed before keeping anything printed neither: all stay empty.
  remove=$(grep -A1 'Remove it when done' "$1" | tail -1 | sed 's/^ *//' || true)
  local hint
  hint=$(grep -m1 'psql -h ' "$1" || true)
  socket_dir=$(awk '{for (i = 1; i < NF; i++) if ($i == "-h") print $(i + 1)}' <<<"$hint")
  database=$(awk '{for (i = 1; i < NF; i++) if ($i == "-d") print $(i + 1)}' <<<"$hint")
  export PGPASSWORD
  PGPASSWORD=$(sed -n 's/.*PGPASSWORD=\([^ ]*\).*/\1/p' <<<"$hint")
}
