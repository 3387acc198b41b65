#!/usr/bin/env bash
# `make bench`: the image budgets beside a bare baseline (deploy/bench/image.py),
# then the request throughput beside a bare Flask app (deploy/bench/throughput.py).
# Builds with the same base and package source as build.sh would choose.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
python=${PYTHON:-$root/.venv/bin/python}

say() { printf 'bench: %s\n' "$*" >&2; }

deploy/scripts/engine.sh
# shellcheck source=deploy/scripts/build-choices.sh
source deploy/scripts/build-choices.sh
choose_base
choose_package_source
export BENCH_BASE_IMAGE=${BASE_IMAGE:-$official}
# The baseline bind-mounts the wheelhouse, so it must exist even when it stays empty.
mkdir -p build/wheelhouse

"$python" deploy/bench/image.py
"$python" deploy/bench/throughput.py
