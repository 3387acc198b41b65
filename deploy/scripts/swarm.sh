#!/usr/bin/env bash
# Runs the calculator as a Docker Swarm stack (deploy/swarm/stack.yaml).
#
#   swarm.sh up      initialise a single-node swarm if this engine is in none (and
#                    label the node so `down` knows), build, deploy, wait until healthy
#   swarm.sh update  build and roll out the current tree and config; waits for the
#                    rolling update and fails if Swarm rolled it back
#   swarm.sh down    remove the stack; leave the swarm too if `up` created it and no
#                    other stack runs in it
#
# Swarm cannot build and only updates a service whose spec changed, so every
# image gets a tag named after its content and the config file (and
# the API keys, if any) a swarm object named after its content hash: a changed
# tree or file is a new spec and a rolling update, an unchanged one is no change.
#
# Settings (environment):
#   SWARM_STACK                 stack name (calculator)
#   SWARM_PORT                  published port, on every address (18180)
#   CALCULATOR_CONFIG           config file (config/config.json)
#   CALCULATOR_API_KEYS_SECRET  API keys file; adds deploy/swarm/stack.api-keys.yaml
#   CALCULATOR_REPLICAS         calculator replicas (2)
#   SWARM_WAIT_SECONDS          how long to wait for a deploy or update (300)
#   CALCULATOR_PROXY_IMAGE      a built proxy image, used if build.sh builds none
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

stack=${SWARM_STACK:-calculator}
export SWARM_STACK=$stack
wait_seconds=${SWARM_WAIT_SECONDS:-300}
stack_files=(-c deploy/swarm/stack.yaml)
# The node label that marks a swarm created by `up`, for `down` to leave.
created_label=com.calculator.swarm-created-by-up

say() { printf 'swarm: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}/{{.Swarm.ControlAvailable}}'; }

ensure_swarm() {
  case $(swarm_state) in
    active/true) say "using the swarm this engine is a manager of" ;;
    active/*) fail "this engine is a swarm worker; run this on a manager" ;;
    inactive/*)
      # A single node: the control plane listens on loopback only. Nodes that join
      # later need `docker swarm init --advertise-addr <reachable address>` instead.
      say "initialising a single-node swarm"
      docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
      # By id: `docker node update` takes no "self" (only inspect does).
      docker node update --label-add "$created_label=true" \
        "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
      ;;
    *) fail "the engine's swarm state is $(swarm_state); fix it (docker info) and retry" ;;
  esac
}

# A tag of the image's repository named after what runs: its layers and runtime
# config, not its labels. A rebuild that changes only the revision label (a commit
# that leaves the image as it was) keeps the tag, so it restarts nothing.
content_tag() {
  local built=$1 digest tag
  digest=$(docker image inspect "$built" | python3 -c '
import hashlib, json, sys
image = json.load(sys.stdin)[0]
runtime = {key: value for key, value in image["Config"].items() if key not in {"Labels", "Image"}}
content = json.dumps([image["RootFS"]["Layers"], runtime], sort_keys=True)
print(hashlib.sha256(content.encode()).hexdigest()[:12])') || fail "no image $built"
  tag="${built%:*}:swarm-$digest"
  docker tag "$built" "$tag"
  printf '%s\n' "$tag"
}

file_hash() { sha256sum "$1" | cut -c1-16; }

build_images() {
  if [ "${DEPLOY_FROM:-local}" != local ]; then
    # Verified digests: immutable, so they need no content tag either.
    # shellcheck source=deploy/supply-chain/image-source.sh
    source deploy/supply-chain/image-source.sh
    return
  fi
  local images
  mapfile -t images < <(deploy/scripts/build.sh)
  [ "${#images[@]}" -ge 1 ] || fail "build.sh named no image"
  local proxy=${images[1]:-${CALCULATOR_PROXY_IMAGE:-}}
  [ -n "$proxy" ] || fail "build.sh built no proxy image; set CALCULATOR_PROXY_IMAGE to one"
  CALCULATOR_IMAGE=$(content_tag "${images[0]}")
  CALCULATOR_PROXY_IMAGE=$(content_tag "$proxy")
  export CALCULATOR_IMAGE CALCULATOR_PROXY_IMAGE
  say "images $CALCULATOR_IMAGE and $CALCULATOR_PROXY_IMAGE"
}

describe_files() {
  CALCULATOR_CONFIG=$(realpath "${CALCULATOR_CONFIG:-config/config.json}")
  [ -f "$CALCULATOR_CONFIG" ] || fail "no config file at $CALCULATOR_CONFIG"
  CALCULATOR_CONFIG_HASH=$(file_hash "$CALCULATOR_CONFIG")
  export CALCULATOR_CONFIG CALCULATOR_CONFIG_HASH
  if [ -n "${CALCULATOR_API_KEYS_SECRET:-}" ]; then
    CALCULATOR_API_KEYS_SECRET=$(realpath "$CALCULATOR_API_KEYS_SECRET")
    [ -f "$CALCULATOR_API_KEYS_SECRET" ] || fail "no API keys file at $CALCULATOR_API_KEYS_SECRET"
    CALCULATOR_API_KEYS_HASH=$(file_hash "$CALCULATOR_API_KEYS_SECRET")
    export CALCULATOR_API_KEYS_SECRET CALCULATOR_API_KEYS_HASH
    stack_files+=(-c deploy/swarm/stack.api-keys.yaml)
  fi
}

services() { docker stack services --quiet "$stack" 2>/dev/null; }

# What a rollout changes, as the service asks for it and as a task runs it.
spec_fields='{{.ContainerSpec.Image}} {{json .ContainerSpec.Configs}} {{json .ContainerSpec.Secrets}} {{json .ContainerSpec.Env}} {{.ForceUpdate}}'

service_spec() { docker service inspect --format "{{with .Spec.TaskTemplate}}$spec_fields{{end}}" "$1"; }

# "ready", "waiting: why", or "failed: why", for one service against the spec deployed.
service_progress() {
  local service=$1 deployed=$2 state message replicas tasks task ready=0
  state=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service")
  message=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.Message}}{{end}}' "$service")
  case $state in
    paused | rollback_paused) echo "failed: update $state: $message"; return ;;
    updating | rollback_started) echo "waiting: $state"; return ;;
  esac
  if [ "$(service_spec "$service")" != "$deployed" ]; then
    echo "failed: Swarm rolled the update back: $message"
    return
  fi
  replicas=$(docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' "$service")
  mapfile -t tasks < <(docker service ps --quiet --filter desired-state=running "$service")
  for task in "${tasks[@]}"; do
    # Swarm reports a task with a healthcheck as running only once it is healthy.
    [ "$(docker inspect --format "{{.Status.State}} {{with .Spec}}$spec_fields{{end}}" "$task")" = "running $deployed" ] &&
      ready=$((ready + 1))
  done
  if [ "$ready" -eq "$replicas" ] && [ "${#tasks[@]}" -eq "$replicas" ]; then
    echo ready
  else
    echo "waiting: $ready of $replicas tasks healthy on the deployed spec"
  fi
}

deploy_and_wait() {
  local service progress all_ready deadline
  local -A deployed=()
  say "deploying stack $stack"
  docker stack deploy --detach=true --prune --resolve-image never "${stack_files[@]}" "$stack" >&2
  for service in $(services); do
    deployed[$service]=$(service_spec "$service")
  done
  [ "${#deployed[@]}" -gt 0 ] || fail "stack $stack has no service after the deploy"
  deadline=$((SECONDS + wait_seconds))
  while true; do
    all_ready=true
    for service in "${!deployed[@]}"; do
      progress=$(service_progress "$service" "${deployed[$service]}")
      case $progress in
        ready) ;;
        failed:*)
          say "$(docker service inspect --format '{{.Spec.Name}}' "$service"): ${progress#failed: }"
          docker service ps --no-trunc --format '  {{.Name}} {{.CurrentState}} {{.Error}}' "$service" | head -n 6 >&2
          exit 1
          ;;
        *) all_ready=false ;;
      esac
    done
    $all_ready && break
    [ "$SECONDS" -lt "$deadline" ] || fail "not ready within ${wait_seconds}s; see docker stack ps $stack"
    sleep 2
  done
  say "every task is healthy"
  printf 'http://127.0.0.1:%s/\n' "${SWARM_PORT:-18180}"
}

up() {
  ensure_swarm
  build_images
  describe_files
  deploy_and_wait
}

update() {
  [ "$(swarm_state)" = active/true ] || fail "this engine runs no swarm; run make swarm-up first"
  [ -n "$(services)" ] || fail "no stack $stack; run make swarm-up first"
  build_images
  describe_files
  deploy_and_wait
}

down() {
  if [ "$(swarm_state)" != active/true ]; then
    say "this engine runs no swarm; nothing to remove"
    return
  fi
  if [ -n "$(services)" ]; then
    docker stack rm "$stack" >&2
    # Removal is asynchronous; wait so that a following `up` starts from nothing.
    local deadline=$((SECONDS + 60))
    while [ -n "$(docker ps --all --quiet --filter "label=com.docker.stack.namespace=$stack")" ] ||
      [ -n "$(docker network ls --quiet --filter "label=com.docker.stack.namespace=$stack")" ]; do
      [ "$SECONDS" -lt "$deadline" ] || fail "stack $stack still has containers or networks after 60s"
      sleep 1
    done
  fi
  if [ "$(docker node inspect self --format "{{index .Spec.Labels \"$created_label\"}}")" = true ]; then
    if [ -z "$(docker stack ls --format '{{.Name}}')" ]; then
      say "leaving the swarm make swarm-up created"
      docker swarm leave --force >/dev/null
    else
      say "other stacks still run in the swarm make swarm-up created: it stays"
    fi
  fi
}

case ${1:-} in
  up) up ;;
  update) update ;;
  down) down ;;
  *) fail "usage: swarm.sh up|update|down" ;;
esac
