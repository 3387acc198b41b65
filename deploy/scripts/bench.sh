#!/usr/bin/env bash
# `make bench`: the calculator image beside a bare Flask baseline image, in one run.
#   1. deploy/bench/image.py       size, files, packages, dive waste; code-only rebuild time
#   2. deploy/bench/containers.py  CPU per request, memory after load, start to first 200
#   3. deploy/bench/inprocess.py   CPU per request of the apps alone (no server)
#   4. deploy/bench/proxy.py       what the front proxy adds: p99, CPU per request, memory
# Builds with the same base and package source as build.sh would choose.
#
# BENCH_IMAGE  calculator image under test (default: the tag build.sh builds)
# BENCH_COMPARE_IMAGES  more images for image.py's table (e.g. an earlier build)
# BENCH_ARGS   more options for containers.py, e.g. variants to compare:
#   BENCH_ARGS="--variant 'gthread=-- gunicorn --config=python:service.runtime.gunicorn_conf
#     --worker-class=gthread --threads=4 service.wsgi:app'" make bench
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
python=${PYTHON:-$root/.venv/bin/python}

say() { printf 'bench: %s\n' "$*" >&2; }

deploy/provision/engine.sh
# shellcheck source=deploy/scripts/build-choices.sh
source deploy/scripts/build-choices.sh
choose_base
choose_package_source
export BENCH_BASE_IMAGE=${BASE_IMAGE:-$official}
export BENCH_IMAGE=${BENCH_IMAGE:-$(docker compose config --images calculator)}
# One tag per run: several people may bench on one engine at once.
export BENCH_TAG=run-$$
baseline_image=calculator-bench-baseline:$BENCH_TAG
remove_baseline() { docker image rm "$baseline_image" >/dev/null 2>&1 || true; }
trap remove_baseline EXIT
# The baseline bind-mounts the wheelhouse, so it must exist even when it stays empty.
mkdir -p build/wheelhouse

say "calculator image under test: $BENCH_IMAGE"
"$python" deploy/bench/image.py
"$python" deploy/bench/containers.py --baseline-image="$baseline_image" --image="$BENCH_IMAGE"
"$python" deploy/bench/inprocess.py
"$python" deploy/bench/proxy.py
