"""Settings in the real image: env beats a mounted config file; a bad file stops the service."""

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from service.runtime.logs import EX_CONFIG

from .compose_project import ComposeProject
from .docker_cli import PREFIX, docker, free_port

pytestmark = pytest.mark.integration

TIMEOUT = 10
EXIT_TIMEOUT_SECONDS = 60


def mount(config: Path) -> list[str]:
    """The docker run arguments that mount `config` read-only where the service reads it."""
    return ["--volume", f"{config}:/config/config.json:ro"]


@pytest.fixture(scope="module")
def configured_service(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The compose stack with its config file replaced by one setting precision 5 and max
    operand length 8, and CALCULATOR_PRECISION=12 in the environment; yields its base URL."""
    config_file = tmp_path_factory.mktemp("settings") / "config.json"
    config_file.write_text(json.dumps({"precision": 5, "max_number_length": 8}))
    config_file.chmod(0o644)
    settings = {"CALCULATOR_CONFIG": str(config_file), "CALCULATOR_PRECISION": "12"}
    project = ComposeProject(f"{PREFIX}-settings", free_port(), environment=settings)
    with project.running():
        yield project.base_url


def test_environment_overrides_the_mounted_config_file(configured_service: str) -> None:
    """CALCULATOR_PRECISION=12 wins over precision 5 in the mounted file."""
    response = requests.get(f"{configured_service}/divide?a=1&b=3", timeout=TIMEOUT)
    assert response.json(parse_float=Decimal)["result"] == Decimal("0." + "3" * 12)


def test_mounted_config_file_is_read(configured_service: str) -> None:
    """A setting only the mounted file names (max_number_length 8) is in force."""
    accepted = requests.get(f"{configured_service}/add?a=12345678&b=1", timeout=TIMEOUT)
    refused = requests.get(f"{configured_service}/add?a=123456789&b=1", timeout=TIMEOUT)
    assert accepted.status_code == 200
    assert refused.status_code == 400
    assert refused.json()["parameter"] == "a"


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"precision": 5,', "not valid JSON"),
        ('{"precison": 5}', "precison"),
        ('{"precision": 0}', "precision"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_config_file_stops_the_container_with_one_line(
    image: str, config_file: Path, content: str, named: str
) -> None:
    """A bad mounted config.json ends the container with EX_CONFIG (78) and one log line naming
    it."""
    config_file.write_text(content)
    name = f"{PREFIX}-badconfig-{uuid.uuid4().hex[:8]}"
    try:
        ended = docker(
            "run", "--name", name, *mount(config_file), image,
            check=False, timeout=EXIT_TIMEOUT_SECONDS,
        )  # fmt: skip
    finally:
        docker("rm", "--force", "--volumes", name, check=False)
    lines = (ended.stdout + ended.stderr).strip().splitlines()
    assert ended.returncode == EX_CONFIG
    assert len(lines) == 1, lines
    assert named in lines[0]
