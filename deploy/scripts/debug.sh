#!/usr/bin/env bash
# A shell beside a running calculator container, for an operator: the image has none.
#
# The toolbox is the image's own base (the official Python slim image, or the
# Debian-built stand-in; the image's base.name label names it), started in the
# target's PID and network namespaces, as the target's user, with a read-only
# root, no capabilities and no new privileges. It sees what the service sees:
# its processes (ps, /proc/1/...), its files through /proc/1/root (the image and
# its mounts, read-only to it), its network (python3, the service's port on
# 127.0.0.1). It changes nothing in the target and leaves with --rm.
#
# Usage: debug.sh [CONTAINER [COMMAND...]]
#   CONTAINER  default: the first calculator replica of the compose project here
#   COMMAND    default: an interactive bash
# DEBUG_IMAGE overrides the toolbox image; DEBUG_OPTIONS adds `docker run` options
# (e.g. "--user 0 --cap-add SYS_PTRACE" for strace in a toolbox that has it).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

target=${1:-$(docker compose ps --quiet calculator | head -n 1)}
if [ -z "$target" ]; then
  printf 'debug: no running calculator container here; name one: debug.sh CONTAINER\n' >&2
  exit 2
fi
shift || true
toolbox=${DEBUG_IMAGE:-$(docker image inspect --format \
  '{{index .Config.Labels "org.opencontainers.image.base.name"}}' \
  "$(docker inspect --format '{{.Image}}' "$target")")}
user=$(docker inspect --format '{{.Config.User}}' "$target")
tty=(--interactive)
[ -t 0 ] && tty+=(--tty)
[ $# -gt 0 ] || set -- bash

# shellcheck disable=SC2086 # DEBUG_OPTIONS is a list of options on purpose
exec docker run --rm "${tty[@]}" \
  --pid="container:$target" --network="container:$target" \
  --user="${user:-10001:10001}" --read-only --tmpfs=/tmp \
  --cap-drop=ALL --security-opt=no-new-privileges \
  ${DEBUG_OPTIONS:-} "$toolbox" "$@"
