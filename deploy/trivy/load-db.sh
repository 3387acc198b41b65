#!/usr/bin/env bash
# Loads a Trivy vulnerability database into the scanner's cache volume, for
# air-gapped hosts. DB_DIR holds trivy.db and metadata.json, as written on a
# connected host by `trivy image --download-db-only --cache-dir DIR` (in DIR/db).
#
# Usage: load-db.sh DB_DIR
# Exit codes: 0 loaded, 2 could not load (the scan command's "could not run").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/trivy/scanner.sh
source "$here/scanner.sh"
source_dir=${1:?usage: load-db.sh DB_DIR}
volume=${TRIVY_CACHE_VOLUME:-calculator-scan-trivy-cache}
scanner=${TRIVY_IMAGE:-$local_scanner}

say() { printf 'load-db: %s\n' "$*" >&2; }

for file in trivy.db metadata.json; do
  [ -f "$source_dir/$file" ] || { say "$source_dir/$file is missing: expected a Trivy db directory"; exit 2; }
done
[ "$scanner" != "$local_scanner" ] || "$here/image.sh" || exit 2

docker volume create "$volume" >/dev/null
# An unstarted container only gives `docker cp` a path into the volume; the
# archive carries the scanner's numeric owner, so no root step is needed.
container=$(docker create --network none --volume "$volume:/cache" "$scanner")
trap 'docker rm "$container" >/dev/null' EXIT
tar -C "$source_dir" --owner=10001 --group=10001 --numeric-owner --transform 's,^\.,db,' \
  --no-recursion -cf - . ./trivy.db ./metadata.json | docker cp - "$container:/cache"
say "loaded $(grep -o '"UpdatedAt": *"[^"]*"' "$source_dir/metadata.json" || echo 'database') into volume $volume"
