"""One compose project of the real compose.yaml, under its own name and loopback port.

The proxy publishes the port; the calculator's replicas sit behind it.
"""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .docker_cli import LOOPBACK, ROOT, docker, inspect, proxy_metrics, wait_for

SERVICE = "calculator"
PROXY = "proxy"
START_TIMEOUT_SECONDS = 180
# Checks every second so `up --wait` returns about a second after the service is ready.
HEALTH_INTERVAL = "1s"
READY_TIMEOUT_SECONDS = 30


@dataclass
class ComposeProject:
    """A compose project named `name`, its proxy publishing the service on 127.0.0.1:`port`."""

    name: str
    port: int
    overrides: tuple[Path, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Where the service answers on the host."""
        return f"http://{LOOPBACK}:{self.port}"

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `docker compose` for this project with the repository's compose.yaml first."""
        files = [
            arg for path in (ROOT / "compose.yaml", *self.overrides) for arg in ("-f", str(path))
        ]
        return subprocess.run(
            ["docker", "compose", "--project-name", self.name, *files, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.tool_environment(),
            cwd=ROOT,
        )

    def tool_environment(self) -> dict[str, str]:
        """The environment under which compose, and the project's scripts, act on this project."""
        # COMPOSE_PROJECT_NAME too, not only --project-name: compose.yaml derives names from it.
        return {
            **os.environ,
            "CALCULATOR_HEALTH_INTERVAL": HEALTH_INTERVAL,
            **self.environment,
            "CALCULATOR_PORT": str(self.port),
            "COMPOSE_PROJECT_NAME": self.name,
        }

    def up(self) -> None:
        """Start the stack and return once compose reports every container healthy."""
        started = self.compose(
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            str(START_TIMEOUT_SECONDS),
            "--no-build",
            "--pull",
            "never",
            timeout=START_TIMEOUT_SECONDS + 30,
        )
        if started.returncode != 0:
            raise RuntimeError(
                f"compose up of {self.name} failed:\n{started.stdout}{started.stderr}\n"
                f"--- logs ---\n{self.logs()}"
            )
        # Healthy means one check passed; ready means the published port answers too.
        try:
            wait_for(self.is_ready, seconds=READY_TIMEOUT_SECONDS, what=f"{self.name} /livez 200")
        except TimeoutError as error:
            raise RuntimeError(f"{error}\n--- logs ---\n{self.logs()}") from None

    def is_ready(self) -> bool:
        """True when /livez answers 200 through the published port."""
        try:
            return requests.get(f"{self.base_url}/livez", timeout=2).status_code == 200
        except requests.RequestException:  # refused, reset or timed out: not yet
            return False

    def down(self) -> None:
        """Remove the project's containers, networks and volumes."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "30")

    def logs(self, service: str = "") -> str:
        """Recent log lines of one service, or of every one, for failure reports."""
        chosen = [service] if service else []
        shown = self.compose("logs", "--no-color", "--tail", "200", *chosen, timeout=60)
        return shown.stdout + shown.stderr

    def access_records(self, since: str = "") -> list[dict[str, Any]]:
        """The proxy's JSON access records, oldest first (its other log lines are skipped);
        only those logged from `since` (an RFC 3339 time) if given."""
        after = ("--since", since) if since else ()
        shown = self.compose("logs", "--no-color", "--no-log-prefix", *after, PROXY, timeout=60)
        return [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]

    def access_record(self, request_id: str) -> dict[str, Any]:
        """The proxy's one access record of a request, once it is written."""
        wait_for(
            lambda: any(r["request_id"] == request_id for r in self.access_records()),
            seconds=10,
            what=f"the access record of {request_id}",
        )
        (record,) = [r for r in self.access_records() if r["request_id"] == request_id]
        return record

    def replicas_up(self) -> int:
        """How many replica addresses in the proxy's pool are UP (taking requests)."""
        metrics = proxy_metrics(self.container_id(PROXY))
        pattern = r'^haproxy_server_status\{proxy="calculator",server="app\d+",state="UP"\} 1$'
        return len(re.findall(pattern, metrics, re.MULTILINE))

    def addresses(self, container: str) -> set[str]:
        """The container's addresses on the project's networks."""
        networks = inspect(container)["NetworkSettings"]["Networks"].values()
        return {network["IPAddress"] for network in networks}

    def container_ids(self, service: str = SERVICE) -> list[str]:
        """The ids of the service's running containers, in replica-number order."""
        listed = self.compose(
            "ps", "--format", "{{.Name}} {{.ID}}", service, timeout=60
        ).stdout.split("\n")
        rows = [line.split() for line in listed if line.strip()]
        by_number = sorted(rows, key=lambda row: int(row[0].rsplit("-", 1)[1]))
        return [inspect(row[1])["Id"] for row in by_number]

    def container_id(self, service: str = SERVICE) -> str:
        """The id of the service's first running container (replica 1 of the calculator)."""
        ids = self.container_ids(service)
        if not ids:
            raise RuntimeError(f"no running {service} container in {self.name}")
        return ids[0]

    def container(self, service: str = SERVICE) -> dict[str, Any]:
        """`docker inspect` of the service's first running container."""
        return inspect(self.container_id(service))

    def exec(self, *command: str, service: str = SERVICE) -> subprocess.CompletedProcess[str]:
        """Run a command inside the service's first container as its own user."""
        return docker("exec", self.container_id(service), *command, check=False, timeout=60)

    @contextmanager
    def running(self) -> Iterator["ComposeProject"]:
        """Bring the project up for the block and always tear it down afterwards."""
        try:
            self.down()  # from scratch, even after an interrupted earlier run
            self.up()
            yield self
        finally:
            self.down()
