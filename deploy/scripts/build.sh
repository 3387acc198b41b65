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

say() { printf 'build: %s\n' "$*" >&2; }

deploy/scripts/engine.sh
# shellcheck source=deploy/scripts/build-choices.sh
source deploy/scripts/build-choices.sh

choose_base
choose_package_source
describe_source
docker compose build calculator >&2
docker compose config --images calculator
