"""One compose project of the real compose.yaml, under its own name and loopback port."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .docker_cli import LOOPBACK, ROOT, docker, inspect, wait_for

SERVICE = "calculator"
START_TIMEOUT_SECONDS = 180
# Checks every second so `up --wait` returns about a second after the service is ready.
HEALTH_INTERVAL = "1s"
READY_TIMEOUT_SECONDS = 30


@dataclass
class ComposeProject:
    """A compose project named `name`, publishing the service on 127.0.0.1:`port`."""

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
        # COMPOSE_PROJECT_NAME too, not only --project-name: compose.yaml derives names from it.
        env = {
            **os.environ,
            "CALCULATOR_HEALTH_INTERVAL": HEALTH_INTERVAL,
            **self.environment,
            "CALCULATOR_PORT": str(self.port),
            "COMPOSE_PROJECT_NAME": self.name,
        }
        return subprocess.run(
            ["docker", "compose", "--project-name", self.name, *files, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=ROOT,
        )

    def up(self) -> None:
        """Start the stack and return once compose reports the service healthy."""
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

    def logs(self) -> str:
        """The service's recent log lines, for failure reports."""
        shown = self.compose("logs", "--no-color", "--tail", "200", SERVICE, timeout=60)
        return shown.stdout + shown.stderr

    def container_id(self) -> str:
        """The id of the service's container (running or stopped)."""
        ids = self.compose("ps", "--all", "--quiet", SERVICE).stdout.split()
        if len(ids) != 1:
            raise RuntimeError(f"expected one {SERVICE} container in {self.name}, found {ids}")
        return ids[0]

    def container(self) -> dict[str, Any]:
        """`docker inspect` of the service's container."""
        return inspect(self.container_id())

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the service's container as its own user."""
        return docker("exec", self.container_id(), *command, check=False, timeout=60)

    @contextmanager
    def running(self) -> Iterator["ComposeProject"]:
        """Bring the project up for the block and always tear it down afterwards."""
        try:
            self.down()  # from scratch, even after an interrupted earlier run
            self.up()
            yield self
        finally:
            self.down()
