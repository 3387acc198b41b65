# shellcheck shell=bash
# Sourced by up.sh, rollout.sh and swarm.sh: which images a deployment runs.
#   DEPLOY_FROM=local     (the default) the images `make build` built and tagged
#   DEPLOY_FROM=registry  the images `make publish` recorded, by digest, each
#                         verified by verify.sh (signature, SBOM and provenance)
#                         before anything starts; compose then neither builds
#                         nor pulls anything else.
# Exports CALCULATOR_IMAGE and CALCULATOR_PROXY_IMAGE in registry mode; sets
# deploy_from. Expects $root and say().
: "${root:?image-source.sh is sourced by a script that sets root}"

deploy_from=${DEPLOY_FROM:-local}
case $deploy_from in
  local) ;;
  registry)
    verified=$("$root/deploy/supply-chain/verify.sh") || exit 1
    CALCULATOR_IMAGE=$(sed -n 's/^CALCULATOR_IMAGE=//p' <<<"$verified")
    CALCULATOR_PROXY_IMAGE=$(sed -n 's/^CALCULATOR_PROXY_IMAGE=//p' <<<"$verified")
    export CALCULATOR_IMAGE CALCULATOR_PROXY_IMAGE
    say "running the verified images $CALCULATOR_IMAGE and $CALCULATOR_PROXY_IMAGE"
    ;;
  *)
    say "DEPLOY_FROM=$deploy_from: use local (the built images) or registry (the published, verified ones)"
    exit 2
    ;;
esac
