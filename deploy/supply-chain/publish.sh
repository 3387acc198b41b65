#!/usr/bin/env bash
# `make publish`: pushes the calculator and proxy images to the local registry,
# signs each by digest and attaches its SBOM and provenance attestations.
#
# Steps: build both images (deploy/scripts/build.sh); start the registry
# (deploy/registry/registry.sh); scan both (deploy/trivy/scan-images.sh: the
# SBOM is Trivy's, and its image id must be the pushed image's); push each as
# REGISTRY/NAME:VERSION-REVISION; then with cosign, by digest: sign, attest the
# CycloneDX SBOM (--type cyclonedx) and the SLSA provenance v1 (--type
# slsaprovenance1, from provenance.py). Offline there is no transparency log:
# signatures and attestations live in the registry only (docs/supply-chain.md).
# Writes PUBLISH_RECORD (build/published.env): CALCULATOR_IMAGE and
# CALCULATOR_PROXY_IMAGE as REGISTRY/NAME@sha256:..., what DEPLOY_FROM=registry runs.
#
# Settings: keys.sh's; REGISTRY_PORT; PUBLISH_RECORD; SCAN_REPORTS_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/deploy/supply-chain
say() { printf 'publish: %s\n' "$*" >&2; }
# shellcheck source=deploy/supply-chain/keys.sh
source "$here/keys.sh"
python=${PYTHON:-$root/.venv/bin/python}
record=${PUBLISH_RECORD:-$root/build/published.env}
reports=${SCAN_REPORTS_DIR:-$root/reports}

[ -f "$private_key" ] || { say "no signing key at $private_key: run make keys first"; exit 1; }
load_password

mapfile -t built < <("$root/deploy/scripts/build.sh")
calculator=${built[0]:?build.sh printed no calculator image}
proxy=${built[1]:?build.sh printed no proxy image}
registry=$("$root/deploy/registry/registry.sh" up)

# Trivy's SBOM of each image, from the same run of the scan as `make scan`. Its
# verdict is make scan's business; here only the SBOM matters, so a scan with
# findings or one that could not run (no vulnerability database offline)
# still publishes, and the SBOM says exactly what the image holds.
SCAN_REPORTS_DIR=$reports CALCULATOR_IMAGE=$calculator PROXY_SCAN_IMAGE=$proxy \
  "$root/deploy/trivy/scan-images.sh" || true

sbom_image_id() {
  "$python" -c 'import json, sys
props = json.load(open(sys.argv[1]))["metadata"]["component"].get("properties", [])
print(next((p["value"] for p in props if p["name"] == "aquasecurity:trivy:ImageID"), ""))' "$1"
}

# publish LOCAL_IMAGE SBOM [LOCK]: prints REGISTRY/NAME@sha256:DIGEST
publish() {
  local image=$1 sbom=$2 lock=${3:-} name revision target digest reference work
  [ -s "$sbom" ] || { say "no SBOM of $image at $sbom (see the scan's output above)"; exit 1; }
  if [ "$(sbom_image_id "$sbom")" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
    say "$sbom describes another image than $image"
    exit 1
  fi
  name=${image%:*}
  name=${name##*/}
  revision=$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")
  target=$registry/$name:$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")-${revision:0:12}
  [[ $revision == *-dirty ]] && target+=-dirty
  docker tag "$image" "$target"
  docker push --quiet "$target" >&2
  digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" |
    sed -n "s#^$registry/$name@##p" | head -n 1)
  [ -n "$digest" ] || { say "the registry gave no digest for $target"; exit 1; }
  reference=$registry/$name@$digest
  work=$(mktemp -d)
  "$python" "$here/provenance.py" "$image" ${lock:+"$lock"} >"$work/provenance.json"
  cosign_run sign --key "$private_key" "$reference"
  cosign_run attest --key "$private_key" --type cyclonedx --predicate "$sbom" "$reference"
  cosign_run attest --key "$private_key" --type slsaprovenance1 --predicate "$work/provenance.json" "$reference"
  rm -rf "$work"
  say "$target -> $reference: signed, SBOM and provenance attested"
  printf '%s\n' "$reference"
}

# Offline signing: no transparency log to upload to (docs/supply-chain.md).
cosign_run() {
  "$cosign" "$@" --yes --tlog-upload=false --allow-http-registry >/dev/null 2>"$record.cosign.log" || {
    say "cosign $1 failed:"
    cat "$record.cosign.log" >&2
    exit 1
  }
}

mkdir -p "$(dirname "$record")"
calculator_reference=$(publish "$calculator" "$reports/sbom.cdx.json" "$root/deploy/requirements/runtime.txt")
proxy_reference=$(publish "$proxy" "$reports/proxy/sbom.cdx.json")
rm -f "$record.cosign.log"
printf 'CALCULATOR_IMAGE=%s\nCALCULATOR_PROXY_IMAGE=%s\n' "$calculator_reference" "$proxy_reference" >"$record"
say "recorded in $record"
