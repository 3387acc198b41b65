"""The security-update check: Debian's version order, the SBOM's packages, what is missing."""

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "trivy"))

from security_updates import (
    CheckError,
    Package,
    compare_versions,
    debian_packages,
    debian_release,
    missing_updates,
)

# Each pair sorts first < second (deb-version(7), and versions seen in bookworm-security).
ORDERED = [
    ("1.0~rc1", "1.0"),
    ("1.0", "1.0-1"),
    ("1.0-1", "1.0-1+b1"),
    ("1.0~~", "1.0~"),
    ("1.0a", "1.0b"),
    ("1.9", "1.10"),
    ("1.0", "1.0.1"),
    ("2.0", "1:0.1"),
    ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3"),
    ("3.0.11-1~deb12u2", "3.0.15-1~deb12u1"),
    ("2026a-0+deb12u1", "2026f-0+deb12u1"),
    ("252.30-1~deb12u2", "252.33-1~deb12u1"),
    ("1.0+dfsg", "1.0+dfsg1"),
]
EQUAL = [("1.0", "1.0"), ("0:1.0", "1.0"), ("1.00", "1.0"), ("1.0-01", "1.0-1")]
VERSIONS = st.from_regex(r"\A([0-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,6})?\Z")


@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_versions_sort_as_dpkg_sorts_them(lower: str, higher: str) -> None:
    """Tilde before anything, letters before other symbols, numbers as numbers, epochs first."""
    assert compare_versions(lower, higher) < 0
    assert compare_versions(higher, lower) > 0


@pytest.mark.parametrize(("left", "right"), EQUAL)
def test_equal_versions_compare_equal(left: str, right: str) -> None:
    """A zero epoch and leading zeros do not make a version different."""
    assert compare_versions(left, right) == 0


@given(VERSIONS, VERSIONS)
def test_order_is_antisymmetric(left: str, right: str) -> None:
    """Swapping the operands swaps the sign of the answer."""
    assert (compare_versions(left, right) > 0) == (compare_versions(right, left) < 0)


@pytest.mark.parametrize("version", ["", "x:1.0", "1:"])
def test_malformed_version_is_refused(version: str) -> None:
    """A string that is no Debian version raises instead of sorting somewhere."""
    with pytest.raises(ValueError, match="not a Debian version"):
        compare_versions(version, "1.0")


def trivy_component(kind: str, name: str, **properties: str) -> dict[str, Any]:
    """A CycloneDX component in Trivy's shape."""
    return {
        "type": kind,
        "name": name,
        "properties": [
            {"name": f"aquasecurity:trivy:{k}", "value": v} for k, v in properties.items()
        ],
    }


def debian_sbom(*purls: str) -> dict[str, Any]:
    """An SBOM of a Debian 12 image holding the packages `purls` and one Python package."""
    packages = [
        {
            **trivy_component("library", purl.split("/")[2].split("@")[0], PkgType="debian"),
            "purl": purl,
        }
        for purl in purls
    ]
    return {
        "components": [
            {**trivy_component("operating-system", "debian", Type="debian"), "version": "12.8"},
            *packages,
            {
                **trivy_component("library", "flask", PkgType="python-pkg"),
                "purl": "pkg:pypi/flask@3.1.3",
            },
        ]
    }


def test_packages_come_from_debian_package_urls_with_their_epoch() -> None:
    """Name, version (with its epoch put back) and architecture; Python packages skipped."""
    sbom = debian_sbom(
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.8",
        "pkg:deb/debian/login@4.13%2Bdfsg1-1%2Bb1?arch=amd64&epoch=1&distro=debian-12.8",
    )
    assert debian_release(sbom) == "12"
    assert debian_packages(sbom) == [
        Package("libssl3", "3.0.11-1~deb12u2", "amd64"),
        Package("login", "1:4.13+dfsg1-1+b1", "amd64"),
    ]


def test_os_packages_of_an_unrecognised_system_cannot_be_checked() -> None:
    """Packages Trivy found but could not place are an error, never an empty, clean list."""
    sbom = {
        "components": [
            trivy_component("operating-system", "none", Type="none"),
            trivy_component("library", "libssl3", PkgType="none"),
        ]
    }
    with pytest.raises(CheckError, match="unsupported system"):
        debian_packages(sbom)


def test_only_older_packages_miss_an_update() -> None:
    """Older than the suite: missing; equal, newer or absent from the suite: not."""
    installed = [
        Package("libssl3", "3.0.11-1~deb12u2", "amd64"),
        Package("libc6", "2.36-9+deb12u13", "amd64"),
        Package("tzdata", "2099a-0", "all"),
        Package("zlib1g", "1:1.2.13.dfsg-1", "amd64"),
    ]
    suite = {"libssl3": "3.0.22-1~deb12u2", "libc6": "2.36-9+deb12u13", "tzdata": "2026f-0+deb12u1"}
    (update,) = missing_updates(installed, suite, "bookworm-security")
    assert (update.package, update.installed, update.fixed) == (
        "libssl3",
        "3.0.11-1~deb12u2",
        "3.0.22-1~deb12u2",
    )
