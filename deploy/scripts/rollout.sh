#!/usr/bin/env bash
# Replaces every calculator replica with one built from the current tree and
# config, without a failed request (the pattern of docker-rollout, with Compose
# and the engine only):
#   1. starts CALCULATOR_REPLICAS new replicas beside the old ones;
#   2. waits until every new one reports healthy (ROLLOUT_WAIT_SECONDS, 90);
#   3. waits until the edge has every new replica in its pool (its exporter counts
#      that many more replicas UP): a replica healthy to the engine may not be found and
#      checked by the edge yet, and stopping the old ones first would leave it none;
#   4. drains the old ones through the edge's runtime API (state maint: no new
#      request goes to them, requests in progress finish) and waits until they have
#      no request in progress, so a replica leaves the pool before it stops;
#   5. stops and removes them, then gives their pool slots back to DNS discovery
#      (state ready once the edge has dropped their addresses).
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
# Longer than any request may take at the edge (PROXY_UPSTREAM_TIMEOUT, 30 s).
drain_seconds=${ROLLOUT_DRAIN_SECONDS:-35}

say() { printf 'rollout: %s\n' "$*" >&2; }
# shellcheck source=deploy/supply-chain/image-source.sh
source deploy/supply-chain/image-source.sh

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

# The edge's runtime API: one command, its answer on stdout (port 9999 on the edge's
# own loopback, see haproxy.cfg; bash's /dev/tcp, as the image has no socket client).
edge_api() {
  docker compose exec -T proxy bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/9999 && printf "%s\n" "$1" >&3 && cat <&3' _ "$1"
}

# Replicas UP in the edge's pool (srv_op_state 2, no maintenance flag).
replicas_in_pool() {
  edge_api "show servers state calculator" | awk '$2 == "calculator" && $6 == 2 && $7 == 0' | wc -l
}

# The edge's server names (pool slots) of the given containers' addresses.
slots_of() {
  local id address
  for id in "$@"; do
    for address in $(docker inspect --format \
      '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$id"); do
      edge_api "show servers state calculator" | awk -v a="$address" '$2 == "calculator" && $5 == a {print $4}'
    done
  done
}

# Requests in progress on the given slots (the sum of their scur in `show stat`).
requests_on() {
  edge_api "show stat" |
    awk -F, -v slots=" $* " '$1 == "calculator" && index(slots, " " $2 " ") {n += $5} END {print n + 0}'
}

# True when every given slot has lost its address to DNS (RMAINT, 0x20, in srv_admin_state).
addresses_dropped() {
  edge_api "show servers state calculator" |
    awk -v slots=" $* " '$2 == "calculator" && index(slots, " " $4 " ") && int($7 / 32) % 2 == 0 {kept++}
      END {exit kept > 0}'
}

in_pool_before=$(replicas_in_pool)

say "starting $replicas new replicas beside ${#old[@]} old ones"
no_build=()
[ "$deploy_from" = registry ] && no_build=(--no-build --pull never)
docker compose up --detach --no-deps --no-recreate "${no_build[@]}" \
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

say "new replicas healthy; waiting for the edge to put them in its pool"
while [ "$(replicas_in_pool)" -lt "$((in_pool_before + replicas))" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    abort "the edge did not take the new replicas into its pool within ${wait_seconds}s"
  fi
  sleep 0.5
done

mapfile -t slots < <(slots_of "${old[@]}")
say "new replicas in the pool; draining the ${#old[@]} old ones (slots: ${slots[*]})"
for slot in "${slots[@]}"; do
  edge_api "set server calculator/$slot state maint" >/dev/null
done
drain_deadline=$((SECONDS + drain_seconds))
while [ "$(requests_on "${slots[@]}")" -gt 0 ] && [ "$SECONDS" -lt "$drain_deadline" ]; do
  sleep 0.2
done

say "stopping the old ones (requests still in progress finish)"
docker stop "${old[@]}" >/dev/null
docker rm "${old[@]}" >/dev/null
# A slot forced into maintenance stays there, whatever address DNS gives it next: once
# the edge has dropped the old address, the slot goes back to DNS and its checks.
drain_deadline=$((SECONDS + drain_seconds))
until addresses_dropped "${slots[@]}" || [ "$SECONDS" -ge "$drain_deadline" ]; do
  sleep 0.2
done
for slot in "${slots[@]}"; do
  edge_api "set server calculator/$slot state ready" >/dev/null
done
say "done: ${#new[@]} replicas of the current image serve"
