#!/usr/bin/env bash
# Starts the stack (the proxy and CALCULATOR_REPLICAS replicas) and returns only
# once every container reports healthy; prints the proxy's URL. On failure it
# shows the last log lines, which name the problem.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if ! docker compose up --detach --wait --wait-timeout "${CALCULATOR_WAIT_SECONDS:-90}" proxy calculator; then
  printf 'up: the stack did not become healthy; its last log lines:\n' >&2
  docker compose logs --no-color --tail 20 proxy calculator >&2 || true
  exit 1
fi
printf 'http://127.0.0.1:%s/\n' "${CALCULATOR_PORT:-8000}"
