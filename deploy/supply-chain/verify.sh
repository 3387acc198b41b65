#!/usr/bin/env bash
# Verifies the published images before anything runs them (DEPLOY_FROM=registry).
#
# For CALCULATOR_IMAGE and CALCULATOR_PROXY_IMAGE from PUBLISH_RECORD
# (build/published.env, written by `make publish`), each a registry reference by
# digest or by tag: resolves a tag to the digest it names now, then requires,
# against CALCULATOR_PUBLIC_KEY and for that digest,
#   - a valid cosign signature;
#   - a valid CycloneDX SBOM attestation and a valid SLSA provenance v1
#     attestation, whose statements name that digest as their subject.
# Offline there is no transparency log to check (docs/supply-chain.md).
# Prints the verified references by digest as NAME=REFERENCE lines; on the first
# failure prints one line saying which image and what, and exits 1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf 'verify: %s\n' "$*" >&2; }
# shellcheck source=deploy/supply-chain/keys.sh
source "$root/deploy/supply-chain/keys.sh"
python=${PYTHON:-$root/.venv/bin/python}
record=${PUBLISH_RECORD:-$root/build/published.env}

refuse() {
  say "REFUSED: $*; nothing was started"
  exit 1
}

[ -f "$public_key" ] || refuse "no public key at $public_key (make keys, or set CALCULATOR_PUBLIC_KEY)"
[ -f "$record" ] || refuse "no record of published images at $record (make publish)"

# Pulls the image and prints the digest its reference names in the registry now
# (a tag can be moved; a digest cannot), so that what was verified is what runs.
pinned() {
  local reference=$1 repository
  docker pull --quiet "$reference" >/dev/null 2>&1 || return 1
  if [[ $reference == *@sha256:* ]]; then
    printf '%s\n' "$reference"
    return
  fi
  repository=${reference%:*}
  docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$reference" |
    grep -m 1 "^$repository@sha256:"
}

# Each verified statement's subject must be the image itself, and of the type asked for.
subjects_match() {
  "$python" -c '
import base64, json, sys
digest, predicate_type = sys.argv[1], sys.argv[2]
statements = [json.loads(base64.b64decode(json.loads(line)["payload"])) for line in sys.stdin if line.strip()]
sys.exit(0 if statements and all(
    s["predicateType"] == predicate_type and any(x["digest"].get("sha256") == digest for x in s["subject"])
    for s in statements) else 1)' "$@"
}

cosign_verify() {
  "$cosign" "$@" --key "$public_key" --insecure-ignore-tlog --allow-http-registry 2>/dev/null
}

verify() {
  local variable=$1 reference=$2 digest
  digest=$(pinned "$reference") || refuse "$variable=$reference cannot be found in its registry"
  cosign_verify verify "$digest" >/dev/null ||
    refuse "$variable=$digest has no valid signature by $public_key"
  cosign_verify verify-attestation --type cyclonedx "$digest" |
    subjects_match "${digest##*@sha256:}" https://cyclonedx.org/bom ||
    refuse "$variable=$digest has no valid SBOM (CycloneDX) attestation by $public_key"
  cosign_verify verify-attestation --type slsaprovenance1 "$digest" |
    subjects_match "${digest##*@sha256:}" https://slsa.dev/provenance/v1 ||
    refuse "$variable=$digest has no valid SLSA provenance attestation by $public_key"
  say "$digest: signature, SBOM and provenance verified against $public_key"
  printf '%s=%s\n' "$variable" "$digest"
}

for variable in CALCULATOR_IMAGE CALCULATOR_PROXY_IMAGE; do
  reference=$(sed -n "s/^$variable=//p" "$record" | tail -n 1)
  [ -n "$reference" ] || refuse "$record names no $variable"
  verify "$variable" "$reference"
done
