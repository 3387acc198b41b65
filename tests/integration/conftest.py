"""Fixtures for the container tests: a Docker engine, the built image, the running stack.

No fixture here is autouse: a test asks for what it needs, so modules with their own
fixtures (the scan tests) never start the stack by accident.
"""

import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import PREFIX, ROOT, docker, free_port

BUILD_TIMEOUT_SECONDS = 900
BUILD_LOG_LINES = 40


def require_docker() -> None:
    """Skip when no engine answers; in CI (CI=true) a missing engine is a failure instead."""
    try:
        answered = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
        reason = answered.stderr.strip() if answered.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as error:
        reason = str(error)
    if reason:
        message = f"no Docker engine answers: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine that answers (skip without one, except in CI where that fails)."""
    require_docker()


@pytest.fixture(scope="session")
def images(docker_engine: None) -> tuple[str, str]:
    """The calculator and proxy images, built (or found up to date) by the build script."""
    built = subprocess.run(
        [str(ROOT / "deploy/scripts/build.sh")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
        cwd=ROOT,
    )
    if built.returncode != 0:
        tail = (built.stdout + built.stderr).splitlines()[-BUILD_LOG_LINES:]
        pytest.fail("deploy/scripts/build.sh failed; its last lines:\n" + "\n".join(tail))
    # The script ends its stdout with the calculator's tag, then the proxy's.
    calculator, proxy = built.stdout.strip().splitlines()[-2:]
    return calculator, proxy


@pytest.fixture(scope="session")
def image(images: tuple[str, str]) -> str:
    """The calculator image."""
    return images[0]


@pytest.fixture(scope="session")
def stack(image: str) -> Iterator[ComposeProject]:
    """The compose stack under its own project name and port, up and healthy for the session."""
    with ComposeProject(PREFIX, free_port()).running() as project:
        yield project


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """An HTTP session that treats any redirect as an error: the service answers directly."""
    with requests.Session() as session:
        session.max_redirects = 0
        yield session


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A path for a temporary config.json, created readable for the container's user."""
    path = tmp_path / "config.json"
    path.touch(mode=0o644)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the stack's logs (proxy and replicas) to every failed test that used it."""
    report = yield
    project = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(project, ComposeProject):
        report.sections.append(("calculator logs", project.logs()))
    return report
