#!/usr/bin/env bash
# Makes sure cosign is at hand and prints its path.
#
# A cosign on PATH is used as it is. Otherwise Debian trixie's `cosign` package
# (it needs only libc, so it runs on bookworm) is fetched by name with apt,
# through a sources list of its own under build/tools/: the system's sources,
# lists and installed packages are never changed. apt checks the package
# against trixie's signed index; its SHA-256 is compared with that index's
# entry once more here and printed. It is unpacked into build/tools/cosign,
# not installed.
#
# Settings: COSIGN (a cosign binary to use), DEBIAN_MIRROR (as base-image.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=$root/build/tools
unpacked=$tools/cosign/usr/bin/cosign
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'cosign: %s\n' "$*" >&2; }

if [ -n "${COSIGN:-}" ]; then
  printf '%s\n' "$COSIGN"
  exit 0
fi
if found=$(command -v cosign); then
  printf '%s\n' "$found"
  exit 0
fi
if [ -x "$unpacked" ]; then
  printf '%s\n' "$unpacked"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { say "no cosign on PATH and no $tool to fetch Debian's; install cosign"; exit 1; }
done
[ -f "$keyring" ] || { say "no Debian archive keyring at $keyring (package debian-archive-keyring)"; exit 1; }

apt_dir=$tools/apt-trixie
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$tools/cosign"
printf 'deb [signed-by=%s] %s trixie main\n' "$keyring" "$mirror" >"$apt_dir/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/no-parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Architectures::=$(dpkg --print-architecture)"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)

say "fetching Debian trixie's cosign package (private sources list in $apt_dir)"
apt-get "${apt_options[@]}" -qq update
version=$(apt-cache "${apt_options[@]}" show cosign | sed -n 's/^Version: //p' | head -n 1)
expected=$(apt-cache "${apt_options[@]}" show "cosign=$version" | sed -n 's/^SHA256: //p' | head -n 1)
(cd "$apt_dir" && apt-get "${apt_options[@]}" -qq download "cosign=$version")
deb=$(find "$apt_dir" -maxdepth 1 -name 'cosign_*.deb' | head -n 1)
actual=$(sha256sum "$deb" | cut -d ' ' -f 1)
if [ -z "$expected" ] || [ "$actual" != "$expected" ]; then
  say "$(basename "$deb") has SHA-256 $actual, trixie's signed index lists ${expected:-none}: refused"
  rm -f "$deb"
  exit 1
fi
dpkg-deb --extract "$deb" "$tools/cosign"
rm -f "$deb"
say "cosign $version unpacked into $tools/cosign (package SHA-256 $actual, as trixie's index lists)"
printf '%s\n' "$unpacked"
