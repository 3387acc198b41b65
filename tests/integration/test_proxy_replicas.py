"""Replicas behind the proxy under wrk load: `make rollout` replaces them without a failed
request, a broken rollout changes nothing, and a killed replica costs almost nothing."""

import subprocess
import time
from collections.abc import Iterator

import pytest

from .compose_project import ComposeProject
from .docker_cli import PREFIX, ROOT, docker, free_port, wait_for
from .wrk_load import load

pytestmark = pytest.mark.integration

ROLLOUT_TIMEOUT_SECONDS = 600
# A broken replica is given this long before the rollout gives up on it.
ROLLOUT_WAIT_SECONDS = "30"
KILL_LOAD_SECONDS = 8


@pytest.fixture(scope="module")
def replicated(image: str) -> Iterator[ComposeProject]:
    """A stack of its own with two replicas, since these tests replace and kill them."""
    with ComposeProject(f"{PREFIX}-replicas", free_port()).running() as project:
        yield project


def rollout(project: ComposeProject, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `make rollout` on the project, with extra environment settings."""
    environment = {
        **project.tool_environment(),
        "ROLLOUT_WAIT_SECONDS": ROLLOUT_WAIT_SECONDS,
        **settings,
    }
    return subprocess.run(
        ["make", "--no-print-directory", "rollout"],
        capture_output=True,
        text=True,
        timeout=ROLLOUT_TIMEOUT_SECONDS,
        check=False,
        env=environment,
        cwd=ROOT,
    )


@pytest.mark.parametrize("replicas", [2, 3, 5])
def test_rollout_under_load_fails_no_request(replicated: ComposeProject, replicas: int) -> None:
    """`make rollout` to 2, 3 and 5 replicas under 32 connections of wrk: new replica ids,
    0 non-2xx, 0 socket errors."""
    before = replicated.container_ids()
    with load(f"{replicated.base_url}/add?a=1&b=2") as summary:
        wait_for(replicated.is_ready, seconds=10, what="the stack serving under load")
        done = rollout(replicated, CALCULATOR_REPLICAS=str(replicas))
        wait_for(replicated.is_ready, seconds=10, what="the stack serving after the rollout")
    print(summary[0].text)  # the figures, for anyone running with -s
    assert done.returncode == 0, done.stdout + done.stderr
    after = replicated.container_ids()
    assert len(after) == replicas
    assert not set(after) & set(before)
    (result,) = summary
    assert result.requests > 0, result.text
    assert result.non_2xx == 0, result.text
    assert result.socket_errors == 0, result.text


def test_broken_rollout_rolls_nothing_out(replicated: ComposeProject) -> None:
    """New replicas that cannot start abort the rollout with a message and exit status 1;
    the old replicas keep serving every request."""
    before = replicated.container_ids()
    with load(f"{replicated.base_url}/add?a=1&b=2") as summary:
        done = rollout(replicated, CALCULATOR_PRECISION="0")
    assert done.returncode != 0
    assert "rollout: ABORTED" in done.stderr
    assert f"the {len(before)} old ones keep serving" in done.stderr
    assert replicated.container_ids() == before
    (result,) = summary
    assert result.requests > 0, result.text
    assert result.failed == 0, result.text


def test_killed_replica_under_load_fails_no_get(replicated: ComposeProject) -> None:
    """A replica killed under wrk load of GETs: no request fails (retried on another)."""
    victim = replicated.container_ids()[0]
    with load(f"{replicated.base_url}/add?a=1&b=2", seconds=KILL_LOAD_SECONDS) as summary:
        time.sleep(2)
        docker("kill", victim)
        time.sleep(KILL_LOAD_SECONDS)  # wrk ends on its own meanwhile
    (result,) = summary
    print(result.text)
    assert result.requests > 0, result.text
    assert result.failed == 0, result.text
