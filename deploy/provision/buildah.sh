#!/usr/bin/env bash
# Makes sure buildah, skopeo and an OCI runtime are installed, for the
# reproducible build (deploy/scripts/reproduce.sh).
#
# The engine's builder (Docker 20.10, BuildKit 0.8) stamps every build with the
# wall clock; Debian's buildah (1.28) takes the timestamp from the caller
# (--timestamp) and writes it into the image and every file of the layers it
# makes. skopeo hands the result to the Docker engine. On a host that has them
# this changes nothing; on a fresh Debian host it installs them with apt-get (root only).
set -euo pipefail

say() { printf 'buildah: %s\n' "$*" >&2; }

missing=()
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v runc >/dev/null 2>&1 || command -v crun >/dev/null 2>&1 || missing+=(runc)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  say "${missing[*]} missing and installing needs root: apt-get install ${missing[*]}"
  exit 1
fi
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
