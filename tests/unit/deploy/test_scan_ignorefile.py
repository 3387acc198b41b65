"""The scans' accepted findings (the image's and the Kubernetes manifests' .trivyignore.yaml):
each is explained and expires."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

# PyYAML ships no type hints and its stub package is not among the locked dependencies.
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[3]
IGNOREFILES = ["deploy/trivy/.trivyignore.yaml", "deploy/k8s/.trivyignore.yaml"]
SECTIONS = {"vulnerabilities", "secrets", "misconfigurations", "licenses"}
# An acceptance is reviewed at least yearly: longer expiries are refused.
LONGEST_ACCEPTANCE = dt.timedelta(days=366)


def acceptance_problems(document: Any, *, today: dt.date) -> list[str]:
    """Everything wrong with an ignore document, as one message per problem."""
    if not isinstance(document, dict):
        return ["the file must be a mapping of sections"]
    problems = [f"unknown section {key!r}" for key in document if key not in SECTIONS]
    for section, entries in document.items():
        if not isinstance(entries, list):
            problems.append(f"{section} must be a list")
            continue
        for entry in entries:
            problems += entry_problems(section, entry, today=today)
    return problems


def entry_problems(section: str, entry: Any, *, today: dt.date) -> list[str]:
    """What one accepted finding lacks: an id, a reason, a bounded expiry date."""
    if not isinstance(entry, dict) or not entry.get("id"):
        return [f"{section}: every entry needs an id"]
    name = f"{section} {entry['id']}"
    problems = []
    if not str(entry.get("statement", "")).strip():
        problems.append(f"{name}: statement (the reason) is missing")
    expiry = entry.get("expired_at")
    if not isinstance(expiry, dt.date):
        problems.append(f"{name}: expired_at must be a YYYY-MM-DD date")
    elif expiry - today > LONGEST_ACCEPTANCE:
        problems.append(f"{name}: expired_at is more than a year away")
    return problems


@pytest.mark.parametrize("ignorefile", IGNOREFILES)
def test_project_ignorefile_entries_are_explained_and_expire(ignorefile: str) -> None:
    """Every accepted finding in the project's files has an id, a statement and a near expiry."""
    document = yaml.safe_load((ROOT / ignorefile).read_text(encoding="utf-8"))
    assert acceptance_problems(document, today=dt.date.today()) == []


TODAY = dt.date(2026, 1, 1)
GOOD = {"id": "CVE-2026-0001", "statement": "not reachable here", "expired_at": dt.date(2026, 6, 1)}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"vulnerabilities": [GOOD]}, []),
        ({"vulnerabilites": []}, ["unknown section 'vulnerabilites'"]),
        ({"secrets": {"id": "x"}}, ["secrets must be a list"]),
        ({"secrets": [{"statement": "why"}]}, ["secrets: every entry needs an id"]),
        (
            {"vulnerabilities": [{**GOOD, "statement": " "}]},
            ["vulnerabilities CVE-2026-0001: statement (the reason) is missing"],
        ),
        (
            {"vulnerabilities": [{**GOOD, "expired_at": "soon"}]},
            ["vulnerabilities CVE-2026-0001: expired_at must be a YYYY-MM-DD date"],
        ),
        (
            {"misconfigurations": [{**GOOD, "expired_at": dt.date(2027, 6, 1)}]},
            ["misconfigurations CVE-2026-0001: expired_at is more than a year away"],
        ),
        ([], ["the file must be a mapping of sections"]),
    ],
)
def test_acceptance_problems_table(document: Any, expected: list[str]) -> None:
    """The check names each kind of incomplete acceptance and passes a complete one."""
    assert acceptance_problems(document, today=TODAY) == expected
