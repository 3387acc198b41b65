#!/usr/bin/env bash
# Starts the stack (the proxy and CALCULATOR_REPLICAS replicas) and returns only
# once every container reports healthy; prints the proxy's URL. On failure it
# shows the last log lines, which name the problem.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
say() { printf 'up: %s\n' "$*" >&2; }
# shellcheck source=deploy/supply-chain/image-source.sh
source deploy/supply-chain/image-source.sh
# Published images run as verified: compose must not build a local one instead.
no_build=()
[ "$deploy_from" = registry ] && no_build=(--no-build --pull never)

if ! docker compose up --detach --wait --wait-timeout "${CALCULATOR_WAIT_SECONDS:-90}" "${no_build[@]}" proxy calculator; then
  printf 'up: the stack did not become healthy; its last log lines:\n' >&2
  docker compose logs --no-color --tail 20 proxy calculator >&2 || true
  exit 1
fi
printf 'http://127.0.0.1:%s/\n' "${CALCULATOR_PORT:-8000}"
