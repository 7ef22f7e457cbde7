#!/usr/bin/env bash
# Builds plancheck's PostgreSQL image without any container registry:
#
#   scripts/build-postgres-image.sh [IMAGE]     # default plancheck/postgres:15
#
# debootstrap makes a minimal Debian bookworm root with Debian's postgresql-15 package,
# and docker/postgres/Dockerfile puts it in an image FROM scratch, also tagged with the
# exact server version (plancheck/postgres:15.N). The packages come from DEBIAN_MIRROR
# when it is set, otherwise from the mirror this machine's apt sources use
# (scripts/debian-mirror.sh; http://deb.debian.org/debian when none serves Debian's
# main archive), so a machine behind a local mirror builds without setting anything.
# The build says which mirror it used and where that came from. Needs root and a
# Docker engine; takes a few minutes, most of it downloading packages.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-plancheck/postgres:15}
repository=${image%:*}
if [ -n "${DEBIAN_MIRROR:-}" ]; then
  mirror=$DEBIAN_MIRROR
  echo "build-postgres-image: Debian mirror $mirror, from DEBIAN_MIRROR"
else
  # It says on stderr which apt source the mirror came from, or that none did.
  mirror=$(bash scripts/debian-mirror.sh)
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
fi
docker info >/dev/null 2>&1 || { echo "build-postgres-image: no Docker engine reachable (DOCKER_HOST?)" >&2; exit 3; }

work=$(mktemp -d /var/tmp/plancheck-image-XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "build-postgres-image: bootstrapping Debian bookworm with postgresql-15 from $mirror"
debootstrap --variant=minbase --include=postgresql-15 bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

# The package's post-install made a system cluster; the entrypoint makes its own.
rm -rf "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info
mkdir -p "$root"/var/lib/postgresql/data "$root"/var/run/postgresql
chroot "$root" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 0700 "$root"/var/lib/postgresql/data
version=$(chroot "$root" /usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}')

context="$work/context"
mkdir -p "$context"
cp docker/postgres/Dockerfile docker/postgres/docker-entrypoint.sh "$context"/
tar --numeric-owner -C "$root" -cf "$context/rootfs.tar" .
# The classic builder: it needs nothing but the engine for FROM scratch.
DOCKER_BUILDKIT=0 docker build --quiet \
  --label org.opencontainers.image.title="plancheck PostgreSQL ${version}" \
  --label org.opencontainers.image.source="debootstrap bookworm + postgresql-15 ${version}" \
  -t "$image" -t "${repository}:${version}" "$context" >/dev/null
echo "build-postgres-image: built $image and ${repository}:${version} ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
