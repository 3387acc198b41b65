"""Check every running container of a compose deployment against the container checklist.

Covers items 11-27 (user, file ownership, setuid files, config, PID 1, healthcheck,
stop grace period, read-only root, capabilities, no-new-privileges, limits, restart
policy, publishing, network, Docker socket, log rotation, gunicorn settings) with
evidence from `docker inspect` and the host's /proc (the container's processes and, through
/proc/<pid>/root, its files: no shell or tool is needed in the image), for each replica of
the calculator and for the proxy in front of them, each against what its role demands.
Prints one table per container; exits 0 if all pass, 1 if any fails, 2 if there is no
running container to check.

Usage: python deploy/verify [--project NAME] [--service NAME]
       python deploy/verify --swarm STACK [--service NAME]   (every running task)
Standard library only, so it runs on any host with Docker and Python 3.11. Python puts
this directory first on the module path when it runs it, so its modules import as
top-level ones.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import image_checks
import runtime_checks
import swarm_tasks
from checklist import Entry, checklist_order
from deployment_facts import (
    Deployment,
    VerificationError,
    default_project,
    find_containers,
)

CHECKS: list[Entry] = sorted(image_checks.CHECKS + runtime_checks.CHECKS, key=checklist_order)


@dataclass(frozen=True)
class Result:
    """One row of the report."""

    item: str
    title: str
    passed: bool
    evidence: str


def evaluate(deployment: Deployment, checks: list[Entry] = CHECKS) -> list[Result]:
    """Run every check of the container's role; one that cannot gather evidence fails."""
    results = []
    for item, title, roles, function in checks:
        if deployment.role not in roles:
            continue
        try:
            passed, evidence = function(deployment)
        except (VerificationError, OSError, KeyError, ValueError) as error:
            passed, evidence = False, f"could not check: {error}"
        results.append(Result(item, title, passed, evidence))
    return results


def render(results: list[Result]) -> str:
    """Format the results as an aligned text table with a summary line."""
    rows = [("ID", "CHECK", "RESULT", "EVIDENCE")] + [
        (r.item, r.title, "PASS" if r.passed else "FAIL", r.evidence) for r in results
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python deploy/verify", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME"),
        help="compose project name (default: what `docker compose` uses here)",
    )
    parser.add_argument(
        "--service", default=None, help="check only this compose service (default: every one)"
    )
    parser.add_argument("--swarm", metavar="STACK", help="check the tasks of this Swarm stack")
    return parser.parse_args(argv)


def verify_swarm(stack: str, service: str) -> int:
    """Check every running task of the stack's service, with the Swarm form of some items."""
    try:
        tasks = swarm_tasks.find_tasks(stack, service)
    except VerificationError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    checks = swarm_tasks.for_swarm(CHECKS)
    failed = False
    for task in tasks:
        results = evaluate(task, checks)
        failed = failed or not all(r.passed for r in results)
        print(f"Swarm task {task.name} ({task.cid[:12]})")
        print(render(results))
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    """Print the reports; 0 if every check passed, 1 if any failed, 2 if nothing to check."""
    arguments = parse_arguments(argv)
    if arguments.swarm:
        return verify_swarm(arguments.swarm, arguments.service or "calculator")
    try:
        project = arguments.project or default_project()
        deployments, stopped = find_containers(project, arguments.service)
    except VerificationError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    failures = 0
    for deployment in deployments:
        results = evaluate(deployment)
        failures += any(not r.passed for r in results)
        print(
            f"Container {deployment.name} (service {deployment.service_name}, "
            f"role {deployment.role}, {deployment.cid[:12]})"
        )
        print(render(results))
        print()
    for name in stopped:
        print(f"Container {name}: FAIL, not running")
    failures += len(stopped)
    checked = len(deployments) + len(stopped)
    verdict = "all passed" if not failures else f"{failures} failed"
    print(f"verify: {checked} containers of project {project}, {verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
