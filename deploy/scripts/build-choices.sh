# shellcheck shell=bash
# Sourced by build.sh and bench.sh: decides how this host builds images and
# exports the answers as the variables compose.yaml passes as build arguments.
#   choose_base            BASE_IMAGE: unset (the Dockerfile's pinned official
#                          image) or the Debian-built stand-in when no registry answers
#   choose_proxy_base      PROXY_BASE_IMAGE: unset (the proxy Dockerfile's pinned
#                          official haproxy image) or the Debian-built haproxy stand-in
#   choose_package_source  CALCULATOR_PIP_NO_INDEX: 1 (and a filled wheelhouse)
#                          when containers cannot reach the package index
#   describe_source        CALCULATOR_VERSION/REVISION/CREATED/SOURCE for the OCI labels
# Expects $root (the repository) and say().
: "${root:?build-choices.sh is sourced by a script that sets root}"

stand_in=calculator-base:3.11-slim-bookworm
official=$(sed -n 's/^ARG BASE_IMAGE=//p' "$root/Dockerfile")
proxy_stand_in=calculator-proxy-base:haproxy-bookworm

choose_base() {
  base_or_stand_in BASE_IMAGE "$root/Dockerfile" "$stand_in" python
}

choose_proxy_base() {
  base_or_stand_in PROXY_BASE_IMAGE "$root/deploy/proxy/Dockerfile" "$proxy_stand_in" haproxy
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
    "$root/deploy/provision/wheelhouse.sh"
  else
    say "packages from the package index"
  fi
}

# OCI label values. "created" is the commit time, not the wall clock, so that
# rebuilding an unchanged tree hits the cache for every step and gives the same
# image ID (SOURCE_DATE_EPOCH overrides it).
describe_source() {
  CALCULATOR_VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/service/__init__.py")
  if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    CALCULATOR_REVISION=$(git -C "$root" rev-parse HEAD)
    git -C "$root" diff --quiet HEAD -- || CALCULATOR_REVISION+=-dirty
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}
    # Credentials never go into a label.
    CALCULATOR_SOURCE=$(git -C "$root" remote get-url origin 2>/dev/null | sed -E 's#//[^/@]*@#//#' || true)
  fi
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    CALCULATOR_CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  fi
  export CALCULATOR_VERSION CALCULATOR_REVISION CALCULATOR_CREATED CALCULATOR_SOURCE
}


# base_or_stand_in VARIABLE DOCKERFILE STAND_IN FLAVOUR: exports VARIABLE as the
# stand-in (built by base-image.sh) when the Dockerfile's pinned official base
# (its `ARG VARIABLE=` default) can be neither found nor pulled; leaves it unset
# otherwise, and alone when the caller set it.
base_or_stand_in() {
  local variable=$1 dockerfile=$2 stand_in=$3 flavour=$4 pinned
  pinned=$(sed -n "s/^ARG $variable=//p" "$dockerfile")
  if [ -n "${!variable:-}" ]; then
    say "$variable=${!variable} (from the environment)"
  elif docker image inspect "$pinned" >/dev/null 2>&1 || docker pull --quiet "$pinned" >/dev/null 2>&1; then
    say "base image $pinned"
  else
    say "no registry answers: using the Debian-built stand-in $stand_in"
    "$root/deploy/provision/base-image.sh" "$stand_in" "$flavour"
    export "$variable=$stand_in"
  fi
}
