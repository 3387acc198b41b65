#!/usr/bin/env bash
# The local registry (deploy/registry/compose.yaml) as a compose project of its own.
#
#   registry.sh up     build its image if needed, start it, return once /v2/ answers;
#                      prints the registry's address (127.0.0.1:PORT)
#   registry.sh down   stop it; the images it holds stay in the volume
#
# Settings: REGISTRY_PORT (5000), REGISTRY_PROJECT (compose project,
# calculator-registry), REGISTRY_BASE_IMAGE, REGISTRY_IMAGE, REGISTRY_VOLUME.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${REGISTRY_PORT:-5000}
address=127.0.0.1:$port

say() { printf 'registry: %s\n' "$*" >&2; }
compose() { docker compose --project-name "${REGISTRY_PROJECT:-calculator-registry}" --file "$here/compose.yaml" --profile registry "$@"; }
answers() { curl --silent --fail --max-time 2 --output /dev/null "http://$address/v2/"; }

case ${1:-} in
  up)
    "$root/deploy/provision/engine.sh"
    # shellcheck source=deploy/scripts/build-choices.sh
    source "$root/deploy/scripts/build-choices.sh"
    base_or_stand_in REGISTRY_BASE_IMAGE "$here/Dockerfile" calculator-registry-base:bookworm registry
    compose build --quiet registry >&2
    compose up --detach --wait --wait-timeout 60 registry >&2 || {
      say "the registry did not become healthy; its last log lines:"
      compose logs --no-color --tail 20 registry >&2
      exit 1
    }
    for _ in $(seq 1 50); do
      answers && { printf '%s\n' "$address"; exit 0; }
      sleep 0.2
    done
    say "http://$address/v2/ does not answer"
    exit 1
    ;;
  down)
    compose down --remove-orphans
    ;;
  *)
    printf 'usage: registry.sh up|down\n' >&2
    exit 2
    ;;
esac
