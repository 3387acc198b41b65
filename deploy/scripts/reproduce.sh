#!/usr/bin/env bash
# Builds the calculator image reproducibly with buildah and checks that a
# rebuild gives the same image digest (docs/supply-chain.md, "Reproducible builds").
#
#   reproduce.sh                 two builds, "first" and "second", each in a fresh
#                                storage root; compare their digests; on a match,
#                                hand the image to the Docker engine
#   reproduce.sh build NAME      one build into $REPRODUCE_DIR/NAME/image
#   reproduce.sh compare A B     compare two builds: both digests, and on a
#                                difference the config fields and layer files that differ
#   reproduce.sh load NAME       hand a build to the Docker engine as $CALCULATOR_REPRODUCIBLE_IMAGE
#
# Same Dockerfile, base and build arguments as build.sh (build-choices.sh);
# the build's clock is SOURCE_DATE_EPOCH, the commit time unless set. Each
# build pulls its base into an empty storage root (from the Docker engine when
# it has the image, else from the registry), builds with no cache and, offline,
# no network, and leaves only a `dir:` copy of the image (uncompressed Docker format).
#
# Overrides: SOURCE_DATE_EPOCH, BASE_IMAGE, CALCULATOR_PIP_NO_INDEX (as build.sh),
# REPRODUCE_DIR (build/reproduce), REPRODUCE_STORAGE_DRIVER (overlay; vfs where
# overlay cannot mount), CALCULATOR_REPRODUCIBLE_IMAGE (calculator-service:reproducible).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
work=${REPRODUCE_DIR:-$root/build/reproduce}
driver=${REPRODUCE_STORAGE_DRIVER:-overlay}
docker_image=${CALCULATOR_REPRODUCIBLE_IMAGE:-calculator-service:reproducible}

say() { printf 'reproduce: %s\n' "$*" >&2; }

# A storage root of buildah's own, under build/: nothing is shared with another
# build, the engine, or the host's /var/lib/containers.
buildah_in() {
  local dir=$1
  shift
  buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver "$driver" "$@"
}

discard_storage() {
  local dir=$1
  if [ -d "$dir/storage" ]; then
    buildah_in "$dir" rm --all >/dev/null 2>&1 || true
    buildah_in "$dir" rmi --all --force >/dev/null 2>&1 || true
  fi
  rm -rf "$dir/storage" "$dir/run"
}

pull_base() {
  local dir=$1 base=$2
  if docker image inspect "$base" >/dev/null 2>&1 &&
    buildah_in "$dir" pull --quiet "docker-daemon:$base" >/dev/null; then
    say "base $base from the Docker engine"
  else
    buildah_in "$dir" pull --quiet "docker://$base" >/dev/null
    say "base $base from its registry"
  fi
}

build() {
  local name=$1 dir=$work/$1 started=$SECONDS
  local base=${BASE_IMAGE:-$official} tag=localhost/calculator-service:reproduce-$1
  discard_storage "$dir"
  rm -rf "$dir/image"
  mkdir -p "$dir"
  say "build $name: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($CALCULATOR_CREATED), storage driver $driver"
  pull_base "$dir" "$base"

  local args=(
    --build-arg "PIP_NO_INDEX=$CALCULATOR_PIP_NO_INDEX"
    --build-arg "VERSION=$CALCULATOR_VERSION"
    --build-arg "REVISION=$CALCULATOR_REVISION"
    --build-arg "CREATED=$CALCULATOR_CREATED"
    --build-arg "SOURCE=${CALCULATOR_SOURCE:-unknown}"
    --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
  )
  [ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  # With the wheelhouse, nothing in the build needs a network: none is given.
  [ "$CALCULATOR_PIP_NO_INDEX" = 1 ] && args+=(--network none)
  # --timestamp: the config's dates and every file in the new layers take the
  # commit time; --omit-history: no per-step records with their own times;
  # --identity-label=false: no io.buildah.version label that changes with the builder;
  # --format docker: keeps HEALTHCHECK, which the OCI format has no field for.
  buildah_in "$dir" build --quiet --format docker --pull=never --no-cache \
    --timestamp "$SOURCE_DATE_EPOCH" --omit-history --identity-label=false \
    "${args[@]}" --tag "$tag" "$root" >/dev/null
  buildah_in "$dir" push --quiet --format docker --disable-compression "$tag" "dir:$dir/image"
  discard_storage "$dir"
  local digest
  digest=$(python3 "$root/deploy/scripts/reproducible_image.py" normalise "$dir/image")
  say "build $name: $digest ($((SECONDS - started)) s)"
}

compare() {
  python3 "$root/deploy/scripts/reproducible_image.py" compare "$work/$1/image" "$work/$2/image"
}

load() {
  skopeo copy --quiet "dir:$work/$1/image" "docker-daemon:$docker_image"
  say "in the Docker engine as $docker_image (image ID $(docker image inspect -f '{{.Id}}' "$docker_image"))"
}

prepare() {
  deploy/provision/engine.sh
  deploy/provision/buildah.sh
  if [ "$(id -u)" -ne 0 ]; then
    say "buildah builds here as root (its own storage root and runc); run as root"
    exit 1
  fi
  # shellcheck source=deploy/scripts/build-choices.sh
  source deploy/scripts/build-choices.sh
  choose_base
  choose_package_source
  describe_source
  if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    say "no commit time: set SOURCE_DATE_EPOCH"
    exit 1
  fi
  export SOURCE_DATE_EPOCH
}

case ${1:-all} in
  all)
    prepare
    build first
    build second
    compare first second
    load second
    ;;
  build)
    prepare
    build "${2:?usage: reproduce.sh build NAME}"
    ;;
  compare) compare "${2:?usage: reproduce.sh compare A B}" "${3:?usage: reproduce.sh compare A B}" ;;
  load) load "${2:?usage: reproduce.sh load NAME}" ;;
  *)
    say "usage: reproduce.sh [build NAME | compare A B | load NAME]"
    exit 2
    ;;
esac
