#!/usr/bin/env bash
# Scans the calculator image with Trivy and gates on the result.
#
# Exit codes (the contract; `make scan` only says "failed" for any non-zero):
#   0  every scan ran and found nothing at or above HIGH
#   1  findings: a fixable HIGH/CRITICAL vulnerability not in .trivyignore.yaml,
#      a Debian package with a newer version in its release's security suite,
#      a secret in any layer or in the image config, or a HIGH/CRITICAL
#      Dockerfile misconfiguration. A finding outranks an incomplete scan.
#   2  a scan could not run (no image, no Docker, no vulnerability database or
#      one older than TRIVY_DB_MAX_AGE_DAYS, a Trivy error); never reported as
#      clean.
#
# Reports (reports/): sbom.cdx.json, and for each of vulnerabilities, secrets
# and misconfigurations a .json, .sarif and .txt (table), plus Trivy's log;
# security-updates.{json,txt,log} (security_updates.py, from the SBOM: needs no
# vulnerability database, only Debian's security archive).
#
# Settings (environment): SCAN_IMAGE (image to scan), SCAN_DOCKERFILE,
# SCAN_IGNOREFILE (accepted findings), SCAN_REPORTS_DIR, SCAN_WORK_DIR
# (scratch for the tarball), TRIVY_IMAGE (scanner; pinned by digest when not
# the local build), TRIVY_NETWORK (none: offline, the default; bridge: may
# download the database), TRIVY_DB_REPOSITORY (a database mirror),
# TRIVY_SEVERITY (default HIGH,CRITICAL), TRIVY_DB_MAX_AGE_DAYS (default 7).
# docs/security-scanning.md has all.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/trivy/scanner.sh
source "$here/scanner.sh"
image=${SCAN_IMAGE:-${CALCULATOR_IMAGE:-calculator-service:latest}}
dockerfile=${SCAN_DOCKERFILE:-$root/Dockerfile}
ignorefile=${SCAN_IGNOREFILE:-$here/.trivyignore.yaml}
reports=${SCAN_REPORTS_DIR:-$root/reports}
scratch=${SCAN_WORK_DIR:-$root/build/scan}
severity=${TRIVY_SEVERITY:-HIGH,CRITICAL}
max_db_age=${TRIVY_DB_MAX_AGE_DAYS:-7}
python=${PYTHON:-$root/.venv/bin/python}
cache_volume=${TRIVY_CACHE_VOLUME:-calculator-scan-trivy-cache}
export TRIVY_IMAGE=${TRIVY_IMAGE:-$local_scanner}
if [ -z "${TRIVY_NETWORK:-}" ]; then
  # A mirror is useless without a network; otherwise stay offline.
  if [ -n "${TRIVY_DB_REPOSITORY:-}" ]; then TRIVY_NETWORK=bridge; else TRIVY_NETWORK=none; fi
fi
# Only the vulnerability scan may need the network (to fetch the database);
# every other run of the scanner gets none.
database_network=$TRIVY_NETWORK
export TRIVY_NETWORK=none TRIVY_CACHE_VOLUME=$cache_volume SCAN_REPORTS_DIR=$reports

# Trivy exits 1 both for errors and (by default) for findings, so findings get
# their own code inside and are mapped to this script's contract at the end.
readonly TRIVY_FINDINGS=3
readonly CLEAN=0 FINDINGS=1 NOT_RUN=2

say() { printf 'scan: %s\n' "$*" >&2; }
fail_to_run() {
  say "could not run: $*"
  exit "$NOT_RUN"
}

# Runs the scanner container; stdout is the report, stderr Trivy's log.
trivy() {
  docker compose --project-name calculator-scan --file "$here/compose.yaml" \
    --profile scan run --rm --no-TTY trivy "$@"
}

check_settings() {
  case $TRIVY_IMAGE in
    "$local_scanner" | *@sha256:*) ;;
    *) fail_to_run "TRIVY_IMAGE=$TRIVY_IMAGE is not pinned by digest (name:tag@sha256:...)" ;;
  esac
  case $max_db_age in
    '' | *[!0-9]*) fail_to_run "TRIVY_DB_MAX_AGE_DAYS=$max_db_age: expected a whole number of days" ;;
  esac
  case $database_network in
    none | bridge) ;;
    *) fail_to_run "TRIVY_NETWORK=$database_network: use none (offline) or bridge (may download the database)" ;;
  esac
  docker info >/dev/null 2>&1 || fail_to_run "no Docker engine answers (make engine starts one)"
  docker image inspect "$image" >/dev/null 2>&1 || fail_to_run "image $image not found (run make build)"
  [ -f "$dockerfile" ] || fail_to_run "Dockerfile $dockerfile not found"
  [ -f "$ignorefile" ] || fail_to_run "ignore file $ignorefile not found"
  if ! mkdir -p "$reports" "$scratch" || [ ! -w "$reports" ]; then
    fail_to_run "cannot write to $reports or $scratch"
  fi
}

# Days since the cached vulnerability database was built; empty when there is none.
database_age_days() {
  trivy version --format json 2>/dev/null | "$python" -c '
import datetime as dt, json, sys
database = json.load(sys.stdin).get("VulnerabilityDB")
if database:
    updated = dt.datetime.fromisoformat(database["UpdatedAt"])
    print((dt.datetime.now(dt.timezone.utc) - updated).days)
'
}

# A clean result from an old database is not clean: new advisories are missing.
check_database_age() {
  local age
  case ${outcome[vulnerabilities]} in clean | findings) ;; *) return ;; esac
  age=$(database_age_days)
  if [ -z "$age" ]; then
    outcome[vulnerabilities]="could not run: the database's age cannot be read"
  elif [ "$age" -gt "$max_db_age" ] && [ "${outcome[vulnerabilities]}" = clean ]; then
    outcome[vulnerabilities]="could not run: the vulnerability database is $age days old (limit $max_db_age, TRIVY_DB_MAX_AGE_DAYS); load a fresh one with deploy/trivy/load-db.sh"
  else
    say "vulnerability database built $age days ago (limit $max_db_age)"
  fi
}

prepare_scanner() {
  if [ "$TRIVY_IMAGE" = "$local_scanner" ]; then
    "$here/image.sh" || fail_to_run "cannot build the scanner image $local_scanner"
    return
  fi
  docker image inspect "$TRIVY_IMAGE" >/dev/null 2>&1 || docker pull --quiet "$TRIVY_IMAGE" >/dev/null ||
    fail_to_run "cannot pull $TRIVY_IMAGE"
  # The official image has no cache directory of its own, so a fresh volume
  # would be root's; hand it to the scanner's user once, with only CHOWN.
  docker run --rm --user 0 --cap-drop ALL --cap-add CHOWN --network none \
    --volume "$cache_volume:/cache" --entrypoint chown "$TRIVY_IMAGE" 10001:10001 /cache ||
    fail_to_run "cannot prepare the cache volume $cache_volume"
}

prepare_input() {
  # A directory of its own per run: concurrent scans never share a tarball,
  # and the cleanup never touches anything it did not create.
  work=$(mktemp -d "$scratch/run.XXXXXX") || fail_to_run "cannot create a directory in $scratch"
  trap 'rm -rf "$work"' EXIT
  export SCAN_INPUT_DIR=$work
  # The scanner's user is not the caller: it needs to read, never write.
  chmod 0755 "$work"
  docker save --output "$work/image.tar" "$image" || fail_to_run "docker save $image failed"
  cp "$dockerfile" "$work/Dockerfile" && cp "$ignorefile" "$work/.trivyignore.yaml"
  chmod 0644 "$work"/image.tar "$work"/Dockerfile "$work"/.trivyignore.yaml
  # Stale reports from an earlier run must never pass for this run's.
  rm -f "$reports"/{sbom.cdx.json,vulnerabilities,secrets,misconfigurations,security-updates}.{json,sarif,txt,log}
}

offline_flags=()
[ "$database_network" = none ] && offline_flags=(--skip-db-update --skip-java-db-update --offline-scan)
common=(--quiet --timeout "${TRIVY_TIMEOUT:-10m}" --skip-version-check --disable-telemetry)
gate=(--severity "$severity" --ignorefile /input/.trivyignore.yaml --exit-code "$TRIVY_FINDINGS")

declare -A outcome=()

# run_scan NAME SCANNER NETWORK TRIVY-ARGS...: writes reports/NAME.{json,sarif,txt,log}
# and records the outcome.
run_scan() {
  local name=$1 scanner=$2 network=$3 rc
  shift 3
  TRIVY_NETWORK=$network trivy "$@" --format json >"$reports/$name.json" 2>"$reports/$name.log"
  rc=$?
  case $rc in
    0) outcome[$name]=clean ;;
    "$TRIVY_FINDINGS") outcome[$name]=findings ;;
    *) outcome[$name]="could not run: $(reason "$reports/$name.log")" ;;
  esac
  if [ "$rc" -eq 0 ] || [ "$rc" -eq "$TRIVY_FINDINGS" ]; then
    trivy convert --quiet --scanners "$scanner" --format sarif "/reports/$name.json" \
      >"$reports/$name.sarif" 2>>"$reports/$name.log" &&
      trivy convert --quiet --scanners "$scanner" --format table "/reports/$name.json" \
        >"$reports/$name.txt" 2>>"$reports/$name.log" ||
      outcome[$name]="could not run: converting $name.json failed (see $name.log)"
  else
    rm -f "$reports/$name.json"
  fi
}

# One line saying why Trivy stopped, with the remedy when it is known.
reason() {
  if grep -q -e 'cannot be specified on the first run' -e 'failed to download vulnerability DB' "$1"; then
    printf 'no vulnerability database (none cached in volume %s and %s); %s' "$cache_volume" \
      "$([ "$database_network" = none ] && echo 'the scanner is offline' || echo 'the download failed')" \
      'load one with deploy/trivy/load-db.sh DB_DIR, or allow a download (TRIVY_NETWORK=bridge) from ghcr.io or from a mirror set in TRIVY_DB_REPOSITORY'
  else
    # Trivy's log lines are tab-separated; the last field is the message.
    grep -E 'FATAL|ERROR' "$1" | tail -n 1 | awk -F '\t' '{print $NF}' | grep . || echo "Trivy failed (see $1)"
  fi
}

check_settings
prepare_scanner
prepare_input
say "scanning $image with $TRIVY_IMAGE (database download: $([ "$database_network" = none ] && echo off || echo on), gate: $severity)"

input=(image --input /input/image.tar)
if trivy "${input[@]}" "${common[@]}" --format cyclonedx >"$reports/sbom.cdx.json" 2>"$reports/sbom.log"; then
  outcome[sbom]=written
else
  outcome[sbom]="could not run: $(reason "$reports/sbom.log")"
  rm -f "$reports/sbom.cdx.json"
fi
# Published security updates the image lacks, read from the SBOM: a real finding
# even where no vulnerability database can be had.
if [ "${outcome[sbom]}" = written ]; then
  "$python" "$here/security_updates.py" "$reports/sbom.cdx.json" "$reports" 2>"$reports/security-updates.log"
  case $? in
    "$CLEAN") outcome[security-updates]=clean ;;
    "$FINDINGS") outcome[security-updates]=findings ;;
    *) outcome[security-updates]="could not run: $(sed -n 's/^security-updates: could not run: //p' "$reports/security-updates.log" | tail -n 1)" ;;
  esac
else
  outcome[security-updates]="could not run: no SBOM to read the packages from"
fi
run_scan secrets secret none "${input[@]}" "${common[@]}" "${gate[@]}" \
  --scanners secret --image-config-scanners secret --list-all-pkgs=false
run_scan misconfigurations misconfig none config "${common[@]}" "${gate[@]}" --skip-check-update \
  /input/Dockerfile
run_scan vulnerabilities vuln "$database_network" "${input[@]}" "${common[@]}" "${gate[@]}" "${offline_flags[@]}" \
  --scanners vuln --ignore-unfixed
check_database_age

verdict=$CLEAN
for name in sbom security-updates secrets misconfigurations vulnerabilities; do
  say "$(printf '%-18s %s' "$name" "${outcome[$name]}")"
  case ${outcome[$name]} in
    findings) verdict=$FINDINGS ;;
    could\ not\ run*) [ "$verdict" -eq "$CLEAN" ] && verdict=$NOT_RUN ;;
  esac
done
case $verdict in
  "$CLEAN") say "clean: reports in $reports" ;;
  "$FINDINGS") say "FINDINGS at $severity: see $reports/*.txt" ;;
  *) say "INCOMPLETE: at least one scan could not run; the image is not known to be clean" ;;
esac
exit "$verdict"
