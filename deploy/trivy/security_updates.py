"""Fixable OS findings without a vulnerability database: Debian packages with a security update.

Reads the CycloneDX SBOM that scan.sh has Trivy write, and lists every Debian
package in it that has a newer version in the release's security suite
(``bookworm-security`` for Debian 12). Each such package is a published,
fixable security update the image does not have, whatever a vulnerability
database would add. The suite's index is taken from the archive's signed
``InRelease``: its signature is checked with ``gpgv`` against Debian's archive
keyring and each index against the hash it lists, so a mirror cannot hide an
update by serving an old or altered index.

Usage: python security_updates.py SBOM REPORT_DIR
Writes REPORT_DIR/security-updates.{json,txt}. Exit status, as scan.sh's:
0 no update is missing (or no Debian packages), 1 findings, 2 could not run.
Settings (environment): DEBIAN_SECURITY_MIRROR, DEBIAN_ARCHIVE_KEYRING.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CLEAN, FINDINGS, NOT_RUN = 0, 1, 2
# The same default as deploy/provision/base-image.sh uses to build the stand-in bases.
MIRROR = os.environ.get("DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
KEYRING = os.environ.get("DEBIAN_ARCHIVE_KEYRING", "/usr/share/keyrings/debian-archive-keyring.gpg")
# Debian's major versions that have a security suite named after their codename.
CODENAMES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
FETCH_TIMEOUT_SECONDS = 30
GPGV = shutil.which("gpgv") or "gpgv"
# The index read when every package is architecture-independent.
DEFAULT_ARCHITECTURE = "amd64"


class CheckError(Exception):
    """The check could not run; the message says why, in one line."""


@dataclass(frozen=True)
class Package:
    """An installed Debian binary package, as the SBOM names it."""

    name: str
    version: str
    architecture: str


@dataclass(frozen=True)
class Update:
    """A package whose security suite has a newer version than the image's."""

    package: str
    installed: str
    fixed: str
    suite: str


# --- Debian version ordering (deb-version(7); dpkg's verrevcmp) ---------------------------


def _order(character: str) -> int:
    if character.isdigit():
        return 0
    if character.isalpha():
        return ord(character)
    if character == "~":
        return -1
    return ord(character) + 256 if character else 0


def _compare_fragment(left: str, right: str) -> int:
    i = j = 0
    while i < len(left) or j < len(right):
        while (i < len(left) and not left[i].isdigit()) or (
            j < len(right) and not right[j].isdigit()
        ):
            ours = _order(left[i]) if i < len(left) else 0
            theirs = _order(right[j]) if j < len(right) else 0
            if ours != theirs:
                return ours - theirs
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while i < len(left) and left[i].isdigit():
            i += 1
        while j < len(right) and right[j].isdigit():
            j += 1
        ours_number, theirs_number = int(left[start_i:i] or 0), int(right[start_j:j] or 0)
        if ours_number != theirs_number:
            return -1 if ours_number < theirs_number else 1
    return 0


def _split(version: str) -> tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon:
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    if not epoch.isdigit() or not upstream:
        raise ValueError(f"{version!r} is not a Debian version")
    return int(epoch), upstream, revision


def compare_versions(left: str, right: str) -> int:
    """Below, at or above zero as Debian version ``left`` sorts before, with or after ``right``."""
    left_epoch, left_upstream, left_revision = _split(left)
    right_epoch, right_upstream, right_revision = _split(right)
    if left_epoch != right_epoch:
        return -1 if left_epoch < right_epoch else 1
    return _compare_fragment(left_upstream, right_upstream) or _compare_fragment(
        left_revision, right_revision
    )


# --- The SBOM ------------------------------------------------------------------------------


def debian_release(sbom: dict[str, Any]) -> str | None:
    """The Debian major version of the SBOM's operating system, or None when it has none."""
    for component in sbom.get("components", []):
        if component.get("type") == "operating-system" and component.get("name") == "debian":
            return str(component.get("version", "")).split(".")[0]
    return None


def _property(component: dict[str, Any], name: str) -> str:
    for entry in component.get("properties", []):
        if entry.get("name") == f"aquasecurity:trivy:{name}":
            return str(entry.get("value", ""))
    return ""


def debian_packages(sbom: dict[str, Any]) -> list[Package]:
    """The Debian binary packages the SBOM lists, from their package URLs.

    Raises:
        CheckError: the SBOM lists OS packages of a system other than Debian, or of one
            Trivy did not recognise (then it gives them no package URL to check).
    """
    components = sbom.get("components", [])
    found = {_property(c, "Type") for c in components if c.get("type") == "operating-system"}
    systems = found - {"debian", ""}
    packages = []
    for component in components:
        purl = component.get("purl", "")
        if component.get("type") == "library" and _property(component, "PkgType") in systems:
            raise CheckError(
                f"the image's OS packages are of an unsupported system "
                f"({_property(component, 'PkgType')}): only Debian's are checked"
            )
        if not purl.startswith("pkg:deb/debian/"):
            continue
        location, _, query = purl.removeprefix("pkg:deb/debian/").partition("?")
        name, _, version = (urllib.parse.unquote(part) for part in location.partition("@"))
        qualifiers = dict(urllib.parse.parse_qsl(query))
        if "epoch" in qualifiers:
            version = f"{qualifiers['epoch']}:{version}"
        packages.append(Package(name, version, qualifiers.get("arch", "")))
    return packages


# --- The security suite's index ------------------------------------------------------------


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310 - the mirror setting
            body: bytes = answer.read()
            return body
    except (urllib.error.URLError, OSError) as error:
        raise CheckError(f"cannot fetch {url}: {error}") from error


def verified_release(suite: str) -> dict[str, tuple[str, int]]:
    """The index files the suite's signed InRelease lists: path -> (SHA-256, size)."""
    signed = _fetch(f"{MIRROR}/dists/{suite}/InRelease")
    if not Path(KEYRING).is_file():
        raise CheckError(
            f"no archive keyring at {KEYRING} (Debian's debian-archive-keyring package)"
        )
    with tempfile.NamedTemporaryFile() as staged:
        staged.write(signed)
        staged.flush()
        try:
            checked = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [GPGV, "--keyring", KEYRING, "--output", "-", staged.name],
                capture_output=True,
                check=False,
                timeout=FETCH_TIMEOUT_SECONDS,
            )
        except OSError as error:
            raise CheckError(f"cannot run gpgv: {error}") from error
    if checked.returncode != 0:
        raise CheckError(f"the signature of {suite}'s InRelease does not verify against {KEYRING}")
    files: dict[str, tuple[str, int]] = {}
    in_sha256 = False
    for line in checked.stdout.decode("utf-8", "replace").splitlines():
        if not line.startswith(" "):
            in_sha256 = line.strip() == "SHA256:"
            continue
        if in_sha256:
            digest, size, path = line.split()
            files[path] = (digest, int(size))
    return files


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            yield fields


def security_versions(suite: str, architectures: Iterable[str]) -> dict[str, str]:
    """The newest version of each binary package in the suite's main component."""
    release = verified_release(suite)
    newest: dict[str, str] = {}
    # Debian lists architecture-independent packages in every architecture's index too
    # (apt reads no binary-all index either).
    for architecture in sorted(set(architectures) - {"all"} or {DEFAULT_ARCHITECTURE}):
        path = f"main/binary-{architecture}/Packages.xz"
        if path not in release:
            raise CheckError(f"{suite} has no index for architecture {architecture}")
        digest, size = release[path]
        compressed = _fetch(f"{MIRROR}/dists/{suite}/{path}")
        if len(compressed) != size or hashlib.sha256(compressed).hexdigest() != digest:
            raise CheckError(f"{suite}/{path} does not match the hash its InRelease lists")
        for stanza in _stanzas(lzma.decompress(compressed).decode("utf-8", "replace")):
            name, version = stanza.get("Package"), stanza.get("Version")
            if (
                name
                and version
                and (name not in newest or compare_versions(version, newest[name]) > 0)
            ):
                newest[name] = version
    return newest


def missing_updates(
    packages: Iterable[Package], available: dict[str, str], suite: str
) -> list[Update]:
    """The packages whose security suite has a newer version, sorted by name."""
    return sorted(
        (
            Update(package.name, package.version, available[package.name], suite)
            for package in packages
            if package.name in available
            and compare_versions(package.version, available[package.name]) < 0
        ),
        key=lambda update: update.package,
    )


# --- The report ----------------------------------------------------------------------------


def check(sbom: dict[str, Any]) -> tuple[str, list[Update]]:
    """The suite checked (empty when there is nothing to check) and the missing updates."""
    packages = debian_packages(sbom)
    if not packages:
        return "", []
    release = debian_release(sbom)
    if release not in CODENAMES:
        raise CheckError(f"Debian packages on an unsupported release ({release or 'unknown'})")
    suite = f"{CODENAMES[release]}-security"
    available = security_versions(suite, {p.architecture for p in packages if p.architecture})
    return suite, missing_updates(packages, available, suite)


def write_reports(directory: Path, suite: str, updates: list[Update]) -> None:
    """security-updates.json (every field) and security-updates.txt (a table)."""
    document = {"suite": suite, "updates": [asdict(update) for update in updates]}
    (directory / "security-updates.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [f"{'package':<32} {'installed':<28} fixed in {suite or '(no Debian packages)'}"]
    lines += [f"{u.package:<32} {u.installed:<28} {u.fixed}" for u in updates]
    (directory / "security-updates.txt").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    """Check the SBOM in argv[1]; write the reports into argv[2]; return the exit status."""
    if len(argv) != 3:
        print("usage: security_updates.py SBOM REPORT_DIR", file=sys.stderr)
        return NOT_RUN
    try:
        sbom = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        suite, updates = check(sbom)
    except (OSError, ValueError, CheckError) as error:
        print(f"security-updates: could not run: {error}", file=sys.stderr)
        return NOT_RUN
    write_reports(Path(argv[2]), suite, updates)
    for update in updates:
        print(
            f"security-updates: {update.package} {update.installed} -> {update.fixed}",
            file=sys.stderr,
        )
    return FINDINGS if updates else CLEAN


if __name__ == "__main__":
    sys.exit(main(sys.argv))
