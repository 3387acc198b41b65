"""Builders for the scan tests: scan runs, throwaway images, a stand-in vulnerability database."""

import datetime as dt
import io
import json
import os
import secrets
import string
import struct
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .docker_cli import ROOT, docker

SCAN_COMMAND = ROOT / "deploy/trivy/scan.sh"
LOAD_DB_COMMAND = ROOT / "deploy/trivy/load-db.sh"
SCAN_TIMEOUT_SECONDS = 600

# The scan command's contract (deploy/trivy/scan.sh, README "Security scanning").
CLEAN, FINDINGS, NOT_RUN = 0, 1, 2


@dataclass(frozen=True)
class ScanRun:
    """One run of the scan command: its exit code, its log and where its reports went."""

    returncode: int
    stderr: str
    reports: Path

    def report(self, name: str) -> Any:
        """Parse the JSON report `name` (e.g. "secrets.json")."""
        return json.loads((self.reports / name).read_text(encoding="utf-8"))

    def lines_mentioning(self, text: str) -> list[str]:
        """The scan command's log lines that contain `text`."""
        return [line for line in self.stderr.splitlines() if text in line]


def run_scan(
    workspace: Path, *, image: str, dockerfile: Path, cache_volume: str, **env: str
) -> ScanRun:
    """Run deploy/trivy/scan.sh on `image` with reports and scratch space under `workspace`."""
    reports = workspace / "reports"
    completed = subprocess.run(
        [str(SCAN_COMMAND)],
        env={
            **os.environ,
            "SCAN_IMAGE": image,
            "SCAN_DOCKERFILE": str(dockerfile),
            "SCAN_REPORTS_DIR": str(reports),
            "SCAN_WORK_DIR": str(workspace / "work"),
            "TRIVY_CACHE_VOLUME": cache_volume,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT_SECONDS,
        check=False,
        cwd=ROOT,
    )
    return ScanRun(completed.returncode, completed.stderr, reports)


def load_database(volume: str, database: Path) -> None:
    """Fill the cache volume `volume` from a database directory with deploy/trivy/load-db.sh."""
    loaded = subprocess.run(
        [str(LOAD_DB_COMMAND), str(database)],
        env={**os.environ, "TRIVY_CACHE_VOLUME": volume},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if loaded.returncode != 0:
        raise RuntimeError(f"load-db.sh failed:\n{loaded.stderr}")


def build_image(tag: str, context: Path, files: dict[str, str]) -> str:
    """Write `files` (a Dockerfile among them) into `context`, build it as `tag`, return the tag."""
    for name, text in files.items():
        (context / name).write_text(text, encoding="utf-8")
    docker("build", "--quiet", "--tag", tag, str(context))
    return tag


def remove_image(tag: str) -> None:
    """Remove a test image, if it is there."""
    docker("image", "rm", "--force", tag, check=False)


def remove_volume(name: str) -> None:
    """Remove a test volume, if it is there."""
    docker("volume", "rm", "--force", name, check=False)


def fake_github_token() -> str:
    """A fresh token in GitHub's personal-access-token shape, so no real secret is committed."""
    alphabet = string.ascii_letters + string.digits
    return "ghp_" + "".join(secrets.choice(alphabet) for _ in range(36))


def locked_version(requirement: str) -> str:
    """The version deploy/requirements/runtime.txt pins for `requirement`."""
    lock = (ROOT / "deploy/requirements/runtime.txt").read_text(encoding="utf-8")
    for line in lock.splitlines():
        name, _, rest = line.partition("==")
        if rest and name.strip().lower() == requirement:
            return rest.split()[0].rstrip("\\").strip()
    raise LookupError(f"{requirement} is not pinned in runtime.txt")


# Debian bookworm's merged /usr: dpkg lists /lib/... for what lives in /usr/lib/...
MERGED_USR = ("/bin/", "/sbin/", "/lib/", "/lib64/")
BASE_LABEL = "org.opencontainers.image.base.name"


def exported_tar(*command: str) -> tarfile.TarFile:
    """The tar stream a docker command (export, cp ... -) writes, opened in memory."""
    done = subprocess.run(["docker", *command], capture_output=True, check=True, timeout=300)
    return tarfile.open(fileobj=io.BytesIO(done.stdout))


def merged(path: str) -> str:
    """A dpkg-listed path where a merged-/usr system keeps it."""
    return f"/usr{path}" if f"{path}/".startswith(MERGED_USR) else path


def debian_packages_with_files(image: str) -> set[str]:
    """The Debian packages that own a file (or symlink) in ``image``, by its base's dpkg lists.

    Sourceless byte code (``x.pyc`` beside no ``x.py``) counts for the source it was
    compiled from. Directories are left out: many packages share them.
    """
    label = f'{{{{index .Config.Labels "{BASE_LABEL}"}}}}'
    base = docker("image", "inspect", "--format", label, image).stdout.strip()
    owners: dict[str, set[str]] = {}
    base_container = docker("create", base).stdout.strip()
    try:
        with exported_tar("cp", f"{base_container}:/var/lib/dpkg/info", "-") as info:
            for member in info.getmembers():
                if member.isfile() and member.name.endswith(".list"):
                    package = Path(member.name).name.removesuffix(".list").partition(":")[0]
                    listing = info.extractfile(member)
                    assert listing is not None
                    for line in listing.read().decode().splitlines():
                        owners.setdefault(merged(line), set()).add(package)
    finally:
        docker("rm", base_container, check=False)
    # A listed path above another is a directory (or /lib, a symlink to one): shared, not owned.
    for directory in {str(Path(path).parent) for path in owners}:
        owners.pop(directory, None)
    created = docker("create", image).stdout.strip()
    try:
        with exported_tar("export", created) as exported:
            files = [f"/{m.name}" for m in exported.getmembers() if not m.isdir()]
    finally:
        docker("rm", created, check=False)
    packages: set[str] = set()
    for file in files:
        source = file.removesuffix("c") if file.endswith(".pyc") else file
        packages |= owners.get(merged(source), set())
    return packages


_BOLT_PAGE_SIZE = 4096


def write_empty_vulnerability_db(directory: Path, *, age: dt.timedelta = dt.timedelta()) -> Path:
    """Write a valid, empty Trivy database (bbolt file + metadata), built `age` ago.

    The real database cannot be downloaded here; an empty one still takes the
    "database present" path through Trivy, so the clean exit code and the
    air-gapped loading procedure are exercised for real.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # bbolt's initial file: two meta pages, an empty freelist, an empty root leaf.
    pages = [_bolt_meta_page(0, txid=0), _bolt_meta_page(1, txid=1)]
    pages += [_bolt_page_header(2, flags=0x10), _bolt_page_header(3, flags=0x02)]
    (directory / "trivy.db").write_bytes(b"".join(p.ljust(_BOLT_PAGE_SIZE, b"\0") for p in pages))
    built = dt.datetime.now(dt.UTC) - age
    metadata = {
        "Version": 2,  # the schema Trivy 0.76 reads
        "NextUpdate": (built + dt.timedelta(days=1)).isoformat(),
        "UpdatedAt": built.isoformat(),
        "DownloadedAt": built.isoformat(),
    }
    (directory / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return directory


def _bolt_page_header(page_id: int, *, flags: int) -> bytes:
    return struct.pack("<QHHI", page_id, flags, 0, 0)


def _bolt_meta_page(page_id: int, *, txid: int) -> bytes:
    magic, version, root_page, freelist_page, high_water_mark = 0xED0CDAED, 2, 3, 2, 4
    body = struct.pack(
        "<IIIIQQQQQ",
        magic,
        version,
        _BOLT_PAGE_SIZE,
        0,
        root_page,
        0,
        freelist_page,
        high_water_mark,
        txid,
    )
    return _bolt_page_header(page_id, flags=0x04) + body + struct.pack("<Q", _fnv1a_64(body))


def _fnv1a_64(data: bytes) -> int:
    digest = 0xCBF29CE484222325
    for byte in data:
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return digest
