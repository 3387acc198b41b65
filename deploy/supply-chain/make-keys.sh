#!/usr/bin/env bash
# `make keys`: creates the cosign key pair that signs published images, once.
#
# The private key is encrypted with a password and kept outside the repository
# and every image (CALCULATOR_KEYS_DIR, mode 0700; the key 0600). The password
# is COSIGN_PASSWORD or the file COSIGN_PASSWORD_FILE; with neither, a random
# one is written to KEYS_DIR/cosign.password (0600). The public key goes to
# CALCULATOR_PUBLIC_KEY (config/cosign.pub), which deployments verify against.
# An existing pair is kept: rotation is a deliberate step (docs/supply-chain.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf 'keys: %s\n' "$*" >&2; }
# shellcheck source=deploy/supply-chain/keys.sh
source "$root/deploy/supply-chain/keys.sh"

if [ -f "$private_key" ]; then
  [ -f "$public_key" ] || { say "$private_key exists but $public_key does not: restore it, or rotate (docs/supply-chain.md)"; exit 1; }
  say "key pair present: $private_key, $public_key"
  exit 0
fi

mkdir -p "$(dirname "$public_key")"
umask 077
mkdir -p "$keys_dir"
chmod 0700 "$keys_dir"
if [ -z "${COSIGN_PASSWORD+set}" ] && [ -z "${COSIGN_PASSWORD_FILE:-}" ]; then
  head -c 32 /dev/urandom | base64 >"$keys_dir/cosign.password"
  say "generated a password in $keys_dir/cosign.password"
fi
load_password
scratch=$(mktemp -d "$keys_dir/new.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && "$cosign" generate-key-pair >/dev/null 2>&1) || {
  say "cosign generate-key-pair failed"
  exit 1
}
chmod 0600 "$scratch/cosign.key"
install -m 0644 "$scratch/cosign.pub" "$public_key"
mv "$scratch/cosign.key" "$private_key"
say "private key $private_key (0600, encrypted), public key $public_key"
