#!/usr/bin/env bash
# Starts the stack and returns only once the service reports healthy; prints its URL.
# On failure it shows the service's last log lines, which name the problem.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if ! docker compose up --detach --wait --wait-timeout "${CALCULATOR_WAIT_SECONDS:-90}" calculator; then
  printf 'up: the service did not become healthy; its last log lines:\n' >&2
  docker compose logs --no-color --tail 20 calculator >&2 || true
  exit 1
fi
printf 'http://127.0.0.1:%s/\n' "${CALCULATOR_PORT:-8000}"
