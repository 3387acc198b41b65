"""deploy/verify.py passes on the real stack and names exactly what a weakened one breaks."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .compose_project import ComposeProject
from .docker_cli import ROOT, free_port

pytestmark = pytest.mark.integration

CHECKLIST_ITEMS = {str(item) for item in range(11, 28)}
ROW = re.compile(r"^(?P<id>\d+[a-z]?)\s+.+?\s+(?P<result>PASS|FAIL)\s", re.M)
# Each change undoes one hardening property; the fake socket is an empty file, never the
# engine's real socket.
WEAKENING = """
services:
  calculator:
    read_only: false
    cap_add: [NET_RAW]
    restart: "no"
    stop_grace_period: 5s
    volumes:
      - type: bind
        source: {config}
        target: /config/config.json
        read_only: false
  sidecar:
    image: ${{CALCULATOR_IMAGE:-calculator-service:latest}}
    command: ["python", "-c", "import time; time.sleep(600)"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
    volumes:
      - {socket}:/var/run/docker.sock:ro
    networks: [calculator]
"""


def verify(project: str) -> tuple[int, dict[str, str], str]:
    """Run deploy/verify.py on a project; return its exit code, results by id, and output."""
    ran = subprocess.run(
        [sys.executable, str(ROOT / "deploy/verify.py"), "--project", project],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    results = {match["id"]: match["result"] for match in ROW.finditer(ran.stdout)}
    return ran.returncode, results, ran.stdout + ran.stderr


@pytest.fixture
def weakened(image: str, tmp_path: Path) -> Iterator[ComposeProject]:
    """The stack with a writable root, an added capability, no restart policy, a grace period
    shorter than gunicorn's, a writable config mount, and a container with a docker.sock."""
    socket = tmp_path / "docker.sock"
    socket.touch()
    override = tmp_path / "weakened.yaml"
    override.write_text(WEAKENING.format(config=ROOT / "config/config.json", socket=socket))
    project = ComposeProject("calculator-it-weak", free_port(), overrides=(override,))
    with project.running():
        yield project


def test_verify_passes_on_the_real_stack(stack: ComposeProject) -> None:
    """Every checklist item 11-27 is checked and passes on the stack as compose.yaml defines it."""
    returncode, results, output = verify(stack.name)
    assert returncode == 0, output
    assert {re.sub(r"[a-z]$", "", item) for item in results} == CHECKLIST_ITEMS
    assert set(results.values()) == {"PASS"}


def test_verify_names_each_weakened_property(weakened: ComposeProject) -> None:
    """On the weakened stack verify exits 1 and fails exactly the checks that were undone."""
    returncode, results, output = verify(weakened.name)
    assert returncode == 1, output
    failed = {item for item, result in results.items() if result == "FAIL"}
    assert failed == {"17", "18a", "19a", "20b", "21", "23"}, output


@pytest.mark.usefixtures("docker_engine")
def test_verify_without_a_deployment_exits_2() -> None:
    """A project with no running container is reported in one line with exit code 2."""
    returncode, results, output = verify("calculator-it-absent")
    assert returncode == 2
    assert results == {}
    assert output.strip().splitlines() == [
        "verify: no running container of service 'calculator' in project 'calculator-it-absent'"
    ]
