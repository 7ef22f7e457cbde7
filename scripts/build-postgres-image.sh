#!/usr/bin/env bash
# Builds plancheck's PostgreSQL image for one major version without any container
# registry:
#
#   scripts/build-postgres-image.sh [MAJOR] [IMAGE]   # default 15, plancheck/postgres:MAJOR
#   scripts/build-postgres-image.sh IMAGE             # MAJOR from IMAGE's tag when it is one
#                                                     # (plancheck/postgres:13), else 15
#
# Each major version comes from the Debian release that ships it as its postgresql
# package: 13 from bullseye, 15 from bookworm, 17 from trixie (SUITE overrides the
# release). debootstrap makes a minimal root of that release with postgresql-MAJOR,
# and docker/postgres/Dockerfile puts it in an image FROM scratch, tagged IMAGE and
# with the exact server version (plancheck/postgres:MAJOR.N). The packages come from
# DEBIAN_MIRROR when it is set, otherwise from the mirror this machine's apt sources
# use (scripts/debian-mirror.sh; http://deb.debian.org/debian when none serves Debian's
# main archive), so a machine behind a local mirror builds without setting anything.
# The build says which mirror, suite and exact package version it used. Needs root and
# a Docker engine; takes a few minutes, most of it downloading packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Debian release that ships each major version as its one postgresql.
suite_of() {
  case $1 in
    13) echo bullseye ;;
    15) echo bookworm ;;
    17) echo trixie ;;
    *) return 1 ;;
  esac
}
known="13 (bullseye), 15 (bookworm), 17 (trixie)"

if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  major=$1
  image=${2:-plancheck/postgres:$major}
elif [ -n "${1:-}" ]; then
  image=$1
  tag=${image##*:}
  # An image named by a major version (plancheck/postgres:13) is that version.
  if [[ $image == *:* && $tag =~ ^[0-9]+$ ]]; then major=$tag; else major=15; fi
else
  major=15
  image=plancheck/postgres:15
fi
repository=${image%:*}
if [ -n "${SUITE:-}" ]; then
  suite=$SUITE
elif ! suite=$(suite_of "$major"); then
  echo "build-postgres-image: no Debian release is known to ship PostgreSQL $major; known: $known (or set SUITE to a release whose archive has postgresql-$major)" >&2
  exit 2
fi

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

echo "build-postgres-image: bootstrapping Debian $suite with postgresql-$major from $mirror"
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2
       echo "build-postgres-image: debootstrap of $suite with postgresql-$major from $mirror failed (does that mirror serve $suite? a release Debian has retired is on DEBIAN_MIRROR=http://archive.debian.org/debian)" >&2
       exit 1; }

# The package's post-install made a system cluster; the entrypoint makes its own.
rm -rf "$root/var/lib/postgresql/$major" "$root/etc/postgresql/$major"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info
mkdir -p "$root"/var/lib/postgresql/data "$root"/var/run/postgresql
chroot "$root" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 0700 "$root"/var/lib/postgresql/data
version=$(chroot "$root" "/usr/lib/postgresql/$major/bin/postgres" --version | awk '{print $3}')
package=$(chroot "$root" dpkg-query -W -f '${Version}' "postgresql-$major")

context="$work/context"
mkdir -p "$context"
cp docker/postgres/Dockerfile docker/postgres/docker-entrypoint.sh "$context"/
tar --numeric-owner -C "$root" -cf "$context/rootfs.tar" .
# The classic builder: it needs nothing but the engine for FROM scratch.
DOCKER_BUILDKIT=0 docker build --quiet \
  --build-arg PG_MAJOR="$major" \
  --label org.opencontainers.image.title="plancheck PostgreSQL ${version}" \
  --label org.opencontainers.image.version="${version}" \
  --label org.opencontainers.image.source="debootstrap $suite + postgresql-$major $package" \
  -t "$image" -t "${repository}:${version}" "$context" >/dev/null
echo "build-postgres-image: built $image and ${repository}:${version}: PostgreSQL $version (postgresql-$major $package from Debian $suite), $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
