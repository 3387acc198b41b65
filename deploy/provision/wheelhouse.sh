#!/usr/bin/env bash
# Fills the host wheelhouse with the locked runtime wheels for the image's
# platform, for builds whose containers cannot reach the package index.
#
# pip checks every file against the hashes in the lock, here and again inside
# the image build, so a wheelhouse can never smuggle in a different package.
# Usage: wheelhouse.sh [DIR]   (default build/wheelhouse)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${1:-$root/build/wheelhouse}
lock=$root/deploy/requirements/runtime.txt
python=${WHEELHOUSE_PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3

mkdir -p "$dest"
# Nothing to fetch when the lock is unchanged since the last fill and every
# locked package has its wheel: keeps rebuilds offline and fast.
stamp=$dest/.lock.sha256
lock_hash=$(sha256sum <"$lock")
locked=$(grep -cE '^[A-Za-z0-9]' "$lock")
if [ "$(cat "$stamp" 2>/dev/null)" = "$lock_hash" ] && [ "$(find "$dest" -name '*.whl' | wc -l)" -eq "$locked" ]; then
  printf 'wheelhouse: %s up to date\n' "$dest" >&2
  exit 0
fi

rm -f "$dest"/*.whl
# The image is x86_64 glibc CPython 3.11, whatever the host runs.
"$python" -m pip download --quiet --disable-pip-version-check \
  --require-hashes --no-deps --only-binary=:all: \
  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  --dest "$dest" -r "$lock"
printf '%s\n' "$lock_hash" >"$stamp"
printf 'wheelhouse: %s filled (%s wheels)\n' "$dest" "$locked" >&2
