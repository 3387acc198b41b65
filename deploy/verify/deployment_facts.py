"""The facts about running compose containers: `docker inspect`, host /proc, the server's own
`--print-config` (docker exec of the program PID 1 runs; the images need no shell).

The host's /proc is the kernel's own account of a container's processes: a container
can misreport itself, the host cannot.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_SECONDS = 60
HOST_PROC = Path("/proc")
# The compose service that runs the front proxy; every other one runs the calculator.
PROXY_SERVICE = "proxy"


class VerificationError(Exception):
    """Evidence could not be gathered (Docker unreachable, command failed, no container)."""


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline and return its completed process."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VerificationError(f"{' '.join(command[:3])}: {error}") from None
    if check and completed.returncode != 0:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise VerificationError(f"{' '.join(command[:3])}: {reason[-1] if reason else 'failed'}")
    return completed


def default_project() -> str:
    """Return the project name compose itself would use for this checkout."""
    output = run(
        "docker", "compose", "--project-directory", str(ROOT), "config", "--format", "json"
    )
    name = json.loads(output.stdout).get("name")
    if not isinstance(name, str) or not name:
        raise VerificationError("docker compose config reported no project name")
    return name


def inspect_project(project: str) -> list[dict[str, Any]]:
    """Return `docker inspect` of every container (running or not) of the project."""
    label = f"label=com.docker.compose.project={project}"
    ids = run("docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", label).stdout.split()
    if not ids:
        return []
    documents: list[dict[str, Any]] = json.loads(run("docker", "inspect", *ids).stdout)
    return documents


def read_host_status(pid: int) -> dict[str, str]:
    """Return the fields of the host's /proc/<pid>/status."""
    lines = (HOST_PROC / str(pid) / "status").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def descendants(pid: int) -> list[int]:
    """Return pid and every host process descended from it (the whole container tree)."""
    parents: dict[int, int] = {}
    for entry in HOST_PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(read_host_status(int(entry.name))["PPid"])
            except (OSError, KeyError, ValueError):
                continue  # the process ended while the table was read
    tree, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


@dataclass
class Deployment:
    """The facts about one container of the project, gathered lazily and once."""

    service: dict[str, Any]
    project: list[dict[str, Any]]
    _gunicorn: dict[str, str] | None = field(default=None, repr=False)

    @property
    def cid(self) -> str:
        """The container's id."""
        return str(self.service["Id"])

    @property
    def name(self) -> str:
        """The container's name."""
        return str(self.service["Name"]).lstrip("/")

    @property
    def service_name(self) -> str:
        """The compose service the container belongs to."""
        return str(self.service["Config"]["Labels"].get("com.docker.compose.service", ""))

    @property
    def role(self) -> str:
        """The role: "proxy" for the front proxy, "app" for a calculator replica or any other."""
        return "proxy" if self.service_name == PROXY_SERVICE else "app"

    @property
    def host(self) -> dict[str, Any]:
        """HostConfig, where compose's runtime options land."""
        return dict(self.service["HostConfig"])

    @property
    def pid(self) -> int:
        """The host pid of the container's PID 1."""
        return int(self.service["State"]["Pid"])

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the container as its own user; the caller reads the exit code.

        Exit codes 0 and 1 are answers (the caller judges them); anything else means the
        command could not run, which must never read as a passing check.
        """
        completed = run("docker", "exec", self.cid, *command, check=False)
        if completed.returncode not in {0, 1}:
            reason = completed.stderr.strip().splitlines()
            raise VerificationError(
                f"{command[0]} in the container exited {completed.returncode}: "
                f"{reason[-1] if reason else 'no output'}"
            )
        return completed

    def pid1_argv(self) -> list[str]:
        """PID 1's argv from the host, without an init process (docker-init, tini) in front."""
        raw = (HOST_PROC / str(self.pid) / "cmdline").read_bytes()
        argv = [part.decode() for part in raw.split(b"\0") if part]
        if argv and Path(argv[0]).name in {"docker-init", "tini"}:
            argv = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
        return argv

    def gunicorn(self) -> dict[str, str]:
        """gunicorn's fully resolved settings, printed by the container's own gunicorn."""
        if self._gunicorn is None:
            argv = self.pid1_argv()
            printed = self.exec(*argv, "--print-config")
            if printed.returncode != 0:
                raise VerificationError(f"gunicorn --print-config failed: {printed.stderr.strip()}")
            pairs = (line.split(" = ", 1) for line in printed.stdout.splitlines() if " = " in line)
            self._gunicorn = {key.strip(): value.strip() for key, value in pairs}
        return self._gunicorn


def tree_status(deployment: Deployment, key: str) -> set[str]:
    """The distinct values of one /proc status field across the container's processes."""
    values = set()
    for pid in descendants(deployment.pid):
        try:
            values.add(read_host_status(pid)[key].strip())
        except (OSError, KeyError):
            continue  # the process ended while it was read
    return values


def find_containers(project: str, service: str | None = None) -> tuple[list[Deployment], list[str]]:
    """Every running container of the project (or of one service), and the names of the
    ones that are not running; fails when none runs."""
    containers = inspect_project(project)
    chosen = [
        c
        for c in containers
        if service is None or c["Config"]["Labels"].get("com.docker.compose.service") == service
    ]
    running = [Deployment(service=c, project=containers) for c in chosen if c["State"]["Running"]]
    stopped = sorted(c["Name"].lstrip("/") for c in chosen if not c["State"]["Running"])
    if not running:
        what = f"service {service!r}" if service else "any service"
        raise VerificationError(f"no running container of {what} in project {project!r}")
    return sorted(running, key=lambda d: (d.service_name, d.name)), stopped
