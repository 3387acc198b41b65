#!/usr/bin/env bash
# Builds the calculator image with `docker compose build`, online or offline.
#
# Online: the Dockerfile's digest-pinned python:3.11-slim-bookworm, wheels from
# the package index. When no registry answers, a stand-in base built from
# Debian packages (base-image.sh); when containers cannot reach the index, a
# host-filled wheelhouse (wheelhouse.sh). Same Dockerfile and compose file
# either way: only build arguments differ. Idempotent, and quick when nothing
# changed (every step is cached). Prints the image tag on stdout.
#
# Overrides: BASE_IMAGE (use this base, skip the probe), CALCULATOR_PIP_NO_INDEX
# (1 = wheelhouse only, 0 = index), CALCULATOR_IMAGE (tag).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
stand_in=calculator-base:3.11-slim-bookworm

say() { printf 'build: %s\n' "$*" >&2; }

deploy/scripts/engine.sh

official=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)

choose_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    say "base image $BASE_IMAGE (from BASE_IMAGE)"
  elif docker image inspect "$official" >/dev/null 2>&1 || docker pull --quiet "$official" >/dev/null 2>&1; then
    say "base image $official"
  else
    say "no registry answers: using the Debian-built stand-in $stand_in"
    deploy/scripts/base-image.sh "$stand_in"
    export BASE_IMAGE=$stand_in
  fi
}

# A container on the default bridge tries the index, as the build's RUN steps would.
index_reachable() {
  docker run --rm --network=bridge "${BASE_IMAGE:-$official}" python3 -c \
    "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=5)" \
    >/dev/null 2>&1
}

choose_package_source() {
  if [ -z "${CALCULATOR_PIP_NO_INDEX:-}" ]; then
    if index_reachable; then CALCULATOR_PIP_NO_INDEX=0; else CALCULATOR_PIP_NO_INDEX=1; fi
  fi
  export CALCULATOR_PIP_NO_INDEX
  if [ "$CALCULATOR_PIP_NO_INDEX" = 1 ]; then
    say "packages from the host wheelhouse (containers cannot reach the index)"
    deploy/scripts/wheelhouse.sh
  else
    say "packages from the package index"
  fi
}

# OCI label values. "created" is the commit time, not the wall clock, so an
# unchanged tree rebuilds to the same image (SOURCE_DATE_EPOCH overrides it).
describe_source() {
  CALCULATOR_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
  if git rev-parse --git-dir >/dev/null 2>&1; then
    CALCULATOR_REVISION=$(git rev-parse HEAD)
    git diff --quiet HEAD -- || CALCULATOR_REVISION+=-dirty
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
    # Credentials never go into a label.
    CALCULATOR_SOURCE=$(git remote get-url origin 2>/dev/null | sed -E 's#//[^/@]*@#//#' || true)
  fi
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    CALCULATOR_CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  fi
  export CALCULATOR_VERSION CALCULATOR_REVISION CALCULATOR_CREATED CALCULATOR_SOURCE
}

choose_base
choose_package_source
describe_source
docker compose build calculator >&2
docker compose config --images calculator
