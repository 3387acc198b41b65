"""A check: one checklist item, a title, the roles it applies to, and a function that
returns (passed, evidence)."""

from __future__ import annotations

import re
from collections.abc import Callable

from deployment_facts import Deployment

Check = Callable[[Deployment], tuple[bool, str]]
Entry = tuple[str, str, frozenset[str], Check]
# Every container of the project is one of these (deployment_facts.Deployment.role).
EVERY_ROLE = frozenset({"app", "proxy"})


def registrar(
    entries: list[Entry],
) -> Callable[..., Callable[[Check], Check]]:
    """Return a decorator that appends each check it wraps to `entries`."""

    def check(
        item: str, title: str, roles: frozenset[str] = EVERY_ROLE
    ) -> Callable[[Check], Check]:
        def register(function: Check) -> Check:
            entries.append((item, title, roles, function))
            return function

        return register

    return check


def checklist_order(entry: Entry) -> tuple[int, str]:
    """Sort key that puts "9" before "18a" before "18b" before "19"."""
    match = re.fullmatch(r"(\d+)([a-z]?)", entry[0])
    if match is None:
        raise ValueError(f"checklist item {entry[0]!r} is not a number with an optional letter")
    return int(match[1]), match[2]
