"""deploy/verify passes on every container of the real stack and names exactly what a
weakened one breaks."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .compose_project import ComposeProject
from .docker_cli import PREFIX, ROOT, free_port

pytestmark = pytest.mark.integration

CHECKLIST_ITEMS = {str(item) for item in range(11, 28)}
# The proxy runs no gunicorn: the gunicorn settings (26, 27) are not its items.
PROXY_ITEMS = CHECKLIST_ITEMS - {"26", "27"}
ROW = re.compile(r"^(?P<id>\d+[a-z]?)\s+.+?\s+(?P<result>PASS|FAIL)\s", re.M)
SECTION = re.compile(r"^Container (?P<name>\S+) \(service (?P<service>[^,]+),", re.M)
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
      test: ["CMD", "python", "-c", "pass"]
      interval: 1s
    volumes:
      - {socket}:/var/run/docker.sock:ro
    networks: [calculator]
"""


def verify(project: str, *options: str) -> tuple[int, dict[str, dict[str, str]], str]:
    """Run deploy/verify on a project; return its exit code, the results by id of each
    container (keyed by "service/container name"), and its output."""
    ran = subprocess.run(
        [sys.executable, str(ROOT / "deploy/verify"), "--project", project, *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    sections = SECTION.split(ran.stdout)[1:]
    containers = {
        f"{service}/{name}": {match["id"]: match["result"] for match in ROW.finditer(body)}
        for name, service, body in zip(sections[0::3], sections[1::3], sections[2::3], strict=True)
    }
    return ran.returncode, containers, ran.stdout + ran.stderr


@pytest.fixture
def weakened(image: str, tmp_path: Path) -> Iterator[ComposeProject]:
    """The stack with a writable root, an added capability, no restart policy, a grace period
    shorter than gunicorn's, a writable config mount, and a container with a docker.sock."""
    socket = tmp_path / "docker.sock"
    socket.touch()
    override = tmp_path / "weakened.yaml"
    override.write_text(WEAKENING.format(config=ROOT / "config/config.json", socket=socket))
    project = ComposeProject(f"{PREFIX}-weak", free_port(), overrides=(override,))
    with project.running():
        yield project


def test_verify_passes_on_the_real_stack(stack: ComposeProject) -> None:
    """Every replica and the proxy are checked, each on all its items, and all pass."""
    returncode, containers, output = verify(stack.name)
    assert returncode == 0, output
    replicas = [key for key in containers if key.startswith("calculator/")]
    proxies = [key for key in containers if key.startswith("proxy/")]
    assert len(replicas) == len(stack.container_ids()) >= 2, output
    assert len(proxies) == 1, output
    for key, results in containers.items():
        expected = PROXY_ITEMS if key in proxies else CHECKLIST_ITEMS
        assert {re.sub(r"[a-z]$", "", item) for item in results} == expected, key
        assert set(results.values()) == {"PASS"}, key


def test_verify_names_each_weakened_property(weakened: ComposeProject) -> None:
    """On the weakened stack verify exits 1 and fails, on every replica, exactly the checks
    that were undone."""
    returncode, containers, output = verify(weakened.name, "--service", "calculator")
    assert returncode == 1, output
    assert len(containers) >= 2, output
    for results in containers.values():
        failed = {item for item, result in results.items() if result == "FAIL"}
        assert failed == {"17", "18a", "19a", "20b", "21", "23"}, output


@pytest.mark.usefixtures("docker_engine")
def test_verify_without_a_deployment_exits_2() -> None:
    """A project with no running container is reported in one line with exit code 2."""
    returncode, results, output = verify(f"{PREFIX}-absent")
    assert returncode == 2
    assert results == {}
    assert output.strip().splitlines() == [
        f"verify: no running container of any service in project '{PREFIX}-absent'"
    ]
