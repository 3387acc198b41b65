#!/usr/bin/env bash
# Scans both images of the stack with scan.sh: the calculator's (reports in
# reports/) and the proxy's (reports in reports/proxy/, against its own
# Dockerfile). The exit status follows scan.sh's contract over both: 1 if
# either has findings, else 2 if either scan could not run, else 0.
#
# Settings: scan.sh's; PROXY_SCAN_IMAGE (default: the proxy image compose.yaml names).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
reports=${SCAN_REPORTS_DIR:-$root/reports}

proxy_image=${PROXY_SCAN_IMAGE:-$(cd "$root" && docker compose config --format json |
  "$python" -c 'import json, sys; print(json.load(sys.stdin)["services"]["proxy"]["image"])')}

"$here/scan.sh"
calculator=$?
SCAN_IMAGE=$proxy_image SCAN_DOCKERFILE=$root/deploy/proxy/Dockerfile \
  SCAN_REPORTS_DIR=$reports/proxy "$here/scan.sh"
proxy=$?

printf 'scan: calculator image exit %s, proxy image (%s) exit %s\n' "$calculator" "$proxy_image" "$proxy" >&2
if [ "$calculator" -eq 1 ] || [ "$proxy" -eq 1 ]; then exit 1; fi
if [ "$calculator" -ne 0 ] || [ "$proxy" -ne 0 ]; then exit 2; fi
exit 0
