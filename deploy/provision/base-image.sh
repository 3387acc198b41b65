#!/usr/bin/env bash
# Builds a stand-in base image from Debian packages, for hosts that cannot pull
# from a registry. Three flavours:
#
#   python  stands in for python:3.11-slim-bookworm (the calculator's base):
#           Debian bookworm, CPython 3.11 with venv/ensurepip, python3 and
#           python3.11 on /usr/local/bin, C.UTF-8, CA certificates and tzdata;
#   haproxy Debian bookworm with Debian's haproxy package (2.6), the base of the
#           proxy image where the official haproxy image cannot be pulled;
#   registry  Debian bookworm with Debian's docker-registry (distribution 2.8)
#           and wget for its healthcheck, the base of the local registry image
#           where the official registry image cannot be pulled.
#
# All are trimmed like Debian's own slim images (no docs, man pages, locales,
# apt lists or caches, no stdlib byte code).
#
# Usage: base-image.sh [TAG [FLAVOUR]]
#   (defaults calculator-base:3.11-slim-bookworm and python)
# Builds only when TAG is missing; BASE_REBUILD=1 forces a rebuild.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tag=${1:-calculator-base:3.11-slim-bookworm}
flavour=${2:-python}
case $flavour in
  python)
    packages=python3.11,python3.11-venv,ca-certificates,tzdata,netbase,passwd
    command='["python3"]'
    ;;
  haproxy)
    packages=haproxy,ca-certificates,tzdata,netbase,passwd
    command='["haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]'
    ;;
  registry)
    packages=docker-registry,wget,netbase,passwd
    command='["docker-registry", "serve", "/etc/docker/registry/config.yml"]'
    ;;
  *)
    printf 'base-image: unknown flavour %s (python, haproxy or registry)
' "$flavour" >&2
    exit 2
    ;;
esac
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

say() { printf 'base-image: %s\n' "$*" >&2; }

# Concurrent builds (parallel CI jobs, several checkouts) wait for the first one
# and then find the image present, instead of all building it.
exec 9>"${TMPDIR:-/tmp}/calculator-base-image.lock"
flock 9

if [ "${BASE_REBUILD:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag present"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    say "mmdebstrap is missing and installing it needs root: apt-get install mmdebstrap"
    exit 1
  fi
  say "installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

# Keeps these paths out at unpack time, as Debian's slim images do; copyright
# files stay because the licences require them.
dpkg_excludes=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
)

say "building $tag with mmdebstrap (Debian bookworm, $flavour)"
# mmdebstrap and its hooks are chatty: their output is shown only if the build fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# SOURCE_DATE_EPOCH makes the root file system reproducible for a given mirror state.
# The image is tagged only after both sides of the pipe succeeded: a half-written
# root file system must never pass for the base.
image_id=$(SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d 'today 00:00' +%s)} \
mmdebstrap --quiet --variant=minbase --format=tar \
  --include="$packages" \
  --aptopt='Acquire::Languages "none"' \
  --aptopt='APT::Install-Recommends "false"' \
  "${dpkg_excludes[@]}" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook="$root/deploy/provision/trim-base.sh" \
  bookworm - \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb $security_mirror bookworm-security main" 2>"$log" |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "CMD $command" \
    --message "Debian bookworm stand-in base ($flavour)" \
    -) || {
  say "building $tag failed; last lines of mmdebstrap's output:"
  tail -n 30 "$log" >&2
  exit 1
}
docker tag "$image_id" "$tag"

say "built $tag ($(docker image inspect -f '{{.Size}}' "$tag") bytes)"
