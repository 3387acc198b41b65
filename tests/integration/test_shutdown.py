"""Graceful stop: `docker compose stop` lets requests in flight finish and exits 0 in time.

The requests in flight are ones the service is computing when SIGTERM arrives: batches
of square roots at precision 1000, a second or two of work each. This stack publishes
its one replica directly as well, so the requests reach it while the proxy stops too.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import LOOPBACK, PREFIX, ROOT, free_port, gunicorn_workers, inspect, wait_for

pytestmark = pytest.mark.integration

# Requests in flight at once; never more than there are workers, so each is computed by one.
IN_FLIGHT = 3
# About a second or two of computing at precision 1000 (each power a few tens of ms).
BATCH = ["2**0.5 + 3**0.5"] * 30
# CPU the workers spend before the stop begins (clock ticks, 1/100 s): they are computing.
BUSY_TICKS = 20
PUBLISH_THE_REPLICA = ROOT / "deploy/proxy/compose.publish-replica.yaml"


@pytest.fixture
def stoppable(image: str) -> Iterator[tuple[ComposeProject, int]]:
    """A stack of its own with one replica, also published directly; yields it and that port."""
    replica_port = free_port()
    project = ComposeProject(
        f"{PREFIX}-stop",
        free_port(),
        overrides=(PUBLISH_THE_REPLICA,),
        environment={
            "CALCULATOR_REPLICAS": "1",
            "CALCULATOR_REPLICA_PORT": str(replica_port),
            "CALCULATOR_PRECISION": "1000",
            "CALCULATOR_MAX_COMPUTE_MS": "10000",
        },
    )
    with project.running():
        yield project, replica_port


def compute(port: int) -> tuple[int, int]:
    """POST the batch straight to the replica; the status and how many items have results."""
    answer = requests.post(f"http://{LOOPBACK}:{port}/evaluate", json=BATCH, timeout=60)
    results = answer.json().get("results", [])
    return answer.status_code, sum("result" in item for item in results)


def cpu_ticks(pids: set[int]) -> int:
    """User and system CPU time of host processes ``pids``, in clock ticks (host /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def timed_stop(project: ComposeProject) -> tuple[float, int]:
    """Run `docker compose stop`; return its duration and exit code."""
    started = time.monotonic()
    stopped = project.compose("stop", timeout=120)
    return time.monotonic() - started, stopped.returncode


def test_stop_finishes_requests_in_flight_and_exits_zero(
    stoppable: tuple[ComposeProject, int],
) -> None:
    """Requests a worker holds when SIGTERM arrives complete with 200; exit 0 inside the grace."""
    project, replica_port = stoppable
    container_id = project.container_id()
    _, workers = gunicorn_workers(container_id)
    in_flight = min(IN_FLIGHT, len(workers))
    grace = inspect(container_id)["Config"]["StopTimeout"]
    idle = cpu_ticks(workers)
    with ThreadPoolExecutor(max_workers=in_flight + 1) as pool:
        computing = [pool.submit(compute, replica_port) for _ in range(in_flight)]
        wait_for(
            lambda: cpu_ticks(workers) - idle >= BUSY_TICKS,
            seconds=20,
            what="the workers computing the batches",
        )
        stopping = pool.submit(timed_stop, project)
        wait_for(
            lambda: "Handling signal: term" in project.logs("calculator"),
            seconds=20,
            what="gunicorn receiving SIGTERM",
        )
        # The requests are truly in flight when the stop begins.
        assert not all(request.done() for request in computing)
        answers = [request.result(timeout=60) for request in computing]
        seconds, returncode = stopping.result(timeout=120)
    assert answers == [(200, len(BATCH))] * in_flight
    state = inspect(container_id)["State"]
    assert returncode == 0
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0
    assert seconds < grace
