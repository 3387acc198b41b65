# shellcheck shell=bash
# Sourced by the supply-chain scripts: where the signing key pair and its
# password live, written once.
#   CALCULATOR_KEYS_DIR     the private key's folder, outside the repository and
#                           every image (default ~/.config/calculator-service/keys)
#   CALCULATOR_PUBLIC_KEY   the public key that deployments verify against
#                           (default config/cosign.pub)
#   COSIGN_PASSWORD         the private key's password (cosign's own variable), or
#   COSIGN_PASSWORD_FILE    a file holding it; else KEYS_DIR/cosign.password
# Expects $root (the repository) and say().
: "${root:?keys.sh is sourced by a script that sets root}"

keys_dir=${CALCULATOR_KEYS_DIR:-${HOME:?}/.config/calculator-service/keys}
private_key=$keys_dir/cosign.key
public_key=${CALCULATOR_PUBLIC_KEY:-$root/config/cosign.pub}
cosign=$("$root/deploy/provision/cosign.sh")

# Exports COSIGN_PASSWORD for cosign, from the variable, the named file or the
# generated file, in that order.
load_password() {
  local file=${COSIGN_PASSWORD_FILE:-$keys_dir/cosign.password}
  if [ -n "${COSIGN_PASSWORD+set}" ]; then
    export COSIGN_PASSWORD
  elif [ -r "$file" ]; then
    COSIGN_PASSWORD=$(<"$file")
    export COSIGN_PASSWORD
  else
    say "no password for $private_key: set COSIGN_PASSWORD or COSIGN_PASSWORD_FILE"
    exit 1
  fi
}
