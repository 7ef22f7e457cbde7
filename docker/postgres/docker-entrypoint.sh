#!/usr/bin/env bash
# Entrypoint of plancheck's offline PostgreSQL image. It follows the interface of the
# official postgres image, so testcontainers' Postgres module drives it unchanged:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default the user),
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), POSTGRES_INITDB_ARGS;
#   arguments starting with "-" (e.g. `-c fsync=off`) go to the server.
# Readiness also matches the official image: on first start a temporary server
# initialises the cluster with its log on stdout, then the real server starts with its
# log on stderr; each logs "database system is ready to accept connections".
# The same script serves every major version the build script makes (13, 15, 17): the
# initdb options below exist unchanged from 13 on, and initdb there (where
# password_encryption still defaults to md5) stores the password as SCRAM too, since
# --auth-host=scram-sha-256 makes it set password_encryption = scram-sha-256.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi
shift

if [ "$(id -u)" = 0 ]; then
  echo "docker-entrypoint: refusing to run PostgreSQL as root; run the image as its default user" >&2
  exit 1
fi

: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
host_auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
socket_dir=/var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$host_auth" != trust ]; then
    echo "docker-entrypoint: POSTGRES_PASSWORD is empty; set it, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
    exit 1
  fi
  password_args=()
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    password_args=(--pwfile="$password_file")
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words by design.
  initdb --username="$user" "${password_args[@]}" --auth-local=trust --auth-host="$host_auth" \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-}
  [ -n "${password_file:-}" ] && rm -f "$password_file"
  printf 'host all all all %s\n' "$host_auth" >> "$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -w start \
    -o "-c listen_addresses='' -c unix_socket_directories=$socket_dir"
  if [ "$database" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -h "$socket_dir" -U "$user" -d postgres \
      -c "CREATE DATABASE \"${database//\"/\"\"}\""
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$socket_dir" "$@"
