#!/usr/bin/env bash
# Replaces every calculator replica with one built from the current tree and
# config, without a failed request (the pattern of docker-rollout, with Compose
# and the engine only):
#   1. starts CALCULATOR_REPLICAS new replicas beside the old ones;
#   2. waits until every new one reports healthy (ROLLOUT_WAIT_SECONDS, 90);
#   3. stops the old ones: SIGTERM makes gunicorn close its listening socket, so
#      the edge's /livez check fails at once and takes each out of the pool, and a
#      request that meets the closed socket first is retried on another replica
#      (a refused connection was never sent); requests in progress finish
#      (stop_grace_period). The new replicas are in the pool already: the edge
#      finds them through DNS and puts them in after two good checks;
#   4. removes them.
# A new replica that is not healthy in time (ROLLOUT_WAIT_SECONDS), or that exits
# or restarts first, aborts the rollout: the new replicas are removed, the old ones
# keep serving, and the exit status is 1.
# Run `make build` first (`make rollout` does), so the image is the current tree's.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

service=calculator
replicas=${CALCULATOR_REPLICAS:-2}
wait_seconds=${ROLLOUT_WAIT_SECONDS:-90}

say() { printf 'rollout: %s\n' "$*" >&2; }

# Every replica the service has, running or not (compose counts them all when scaling).
replicas_of_service() {
  docker compose ps --quiet --all "$service" | sort
}

# One word per replica given: its health ("healthy", "starting", "unhealthy"), or
# "crashed" once it has exited or been restarted, "gone" if it no longer exists.
states_of() {
  local id
  for id in "$@"; do
    docker inspect --format \
      '{{if or (ne .State.Status "running") (gt .RestartCount 0)}}crashed{{else if .State.Health}}{{.State.Health.Status}}{{else}}starting{{end}}' \
      "$id" 2>/dev/null || echo gone
  done
}

mapfile -t old < <(replicas_of_service)
if [ -z "$(docker compose ps --quiet --status running "$service")" ]; then
  say "no running $service replica to replace; start the stack with make up"
  exit 1
fi

say "starting $replicas new replicas beside ${#old[@]} old ones"
docker compose up --detach --no-deps --no-recreate \
  --scale "$service=$((${#old[@]} + replicas))" "$service" >&2

mapfile -t new < <(comm -13 <(printf '%s\n' "${old[@]}") <(replicas_of_service))
if [ "${#new[@]}" -ne "$replicas" ]; then
  say "expected $replicas new replicas, found ${#new[@]}"
  exit 1
fi

abort() {
  say "ABORTED: $1"
  say "last log lines of a new replica:"
  docker logs --tail 10 "${new[0]}" >&2 2>&1 || true
  say "removing the new replicas; the ${#old[@]} old ones keep serving"
  docker rm --force "${new[@]}" >/dev/null
  exit 1
}

say "waiting up to ${wait_seconds}s for the new replicas to be healthy"
deadline=$((SECONDS + wait_seconds))
while true; do
  mapfile -t states < <(states_of "${new[@]}")
  case " ${states[*]} " in
    *" crashed "* | *" gone "*)
      abort "a new replica stopped or restarted before it became healthy (states: ${states[*]})" ;;
  esac
  healthy=0
  for state in "${states[@]}"; do
    [ "$state" = healthy ] && healthy=$((healthy + 1))
  done
  [ "$healthy" -eq "${#new[@]}" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    abort "only $healthy of ${#new[@]} new replicas became healthy within ${wait_seconds}s (states: ${states[*]})"
  fi
  sleep 1
done

say "new replicas healthy; stopping the ${#old[@]} old ones (requests in progress finish)"
docker stop "${old[@]}" >/dev/null
docker rm "${old[@]}" >/dev/null
say "done: ${#new[@]} replicas of the current image serve"
