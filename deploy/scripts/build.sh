#!/usr/bin/env bash
# Builds the calculator and proxy images with `docker compose build`, online or offline.
#
# Online: the Dockerfiles' digest-pinned python:3.11-slim-bookworm and
# haproxy, wheels from the package index. When no registry
# answers, stand-in bases built from Debian packages (base-image.sh); when
# containers cannot reach the index, a host-filled wheelhouse (wheelhouse.sh).
# Same Dockerfiles and compose file either way: only build arguments differ.
# Idempotent, and quick when nothing changed (every step is cached). Prints the
# calculator's image tag, then the proxy's, on stdout.
#
# Overrides: BASE_IMAGE, PROXY_BASE_IMAGE (use this base, skip the probe),
# CALCULATOR_PIP_NO_INDEX (1 = wheelhouse only, 0 = index), CALCULATOR_IMAGE,
# CALCULATOR_PROXY_IMAGE (tags).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

say() { printf 'build: %s\n' "$*" >&2; }

deploy/provision/engine.sh
# shellcheck source=deploy/scripts/build-choices.sh
source deploy/scripts/build-choices.sh

choose_base
choose_proxy_base
choose_package_source
describe_source
docker compose build calculator proxy >&2
calculator_image=$(docker compose config --images calculator)
printf '%s\n' "$calculator_image"
# The proxy's list includes the service it depends on.
docker compose config --images proxy | grep --invert-match --line-regexp --fixed-strings "$calculator_image"
