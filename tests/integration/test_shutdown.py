"""Graceful stop: `docker compose stop` lets requests in flight finish and exits 0 in time.

The proxy buffers whole requests, so a half-sent one never reaches a replica through it:
this stack publishes its one replica directly as well, to hold requests inside gunicorn.
"""

import http.client
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .compose_project import ComposeProject
from .docker_cli import LOOPBACK, PREFIX, free_port, gunicorn_workers, inspect, wait_for

pytestmark = pytest.mark.integration

# Requests held open at once; never more than there are workers, so each is accepted by one.
IN_FLIGHT = 3
REQUEST_HEAD = b"GET /add?a=40&b=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
# The replicas' own network is internal, where nothing can be published: the edge one too.
PUBLISH_THE_REPLICA = """
services:
  calculator:
    ports:
      - "127.0.0.1:{port}:8000"
    networks: [calculator, edge]
"""


@pytest.fixture
def stoppable(image: str, tmp_path: Path) -> Iterator[tuple[ComposeProject, int]]:
    """A stack of its own with one replica, also published directly; yields it and that port."""
    replica_port = free_port()
    override = tmp_path / "publish-replica.yaml"
    override.write_text(PUBLISH_THE_REPLICA.format(port=replica_port))
    project = ComposeProject(
        f"{PREFIX}-stop",
        free_port(),
        overrides=(override,),
        environment={"CALCULATOR_REPLICAS": "1"},
    )
    with project.running():
        yield project, replica_port


def open_request(port: int) -> socket.socket:
    """Send all of a request but its final blank line: a worker now waits inside it."""
    connection = socket.create_connection((LOOPBACK, port), timeout=30)
    connection.sendall(REQUEST_HEAD)
    return connection


def finish_request(connection: socket.socket) -> tuple[int, dict[str, object]]:
    """Send the blank line that completes the request; return the status and JSON body."""
    with connection:
        connection.sendall(b"\r\n")
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = response.read()  # IncompleteRead if the answer is cut short
        return response.status, json.loads(body)


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
    connections = [open_request(replica_port) for _ in range(in_flight)]
    time.sleep(0.5)  # let the workers accept them
    with ThreadPoolExecutor(max_workers=1) as pool:
        stopping = pool.submit(timed_stop, project)
        wait_for(
            lambda: "Handling signal: term" in project.logs("calculator"),
            seconds=20,
            what="gunicorn receiving SIGTERM",
        )
        assert not stopping.done()  # the requests below are truly in flight during the stop
        answers = [finish_request(connection) for connection in connections]
        seconds, returncode = stopping.result(timeout=120)
    assert answers == [(200, {"operation": "add", "a": 40, "b": 2, "result": 42})] * in_flight
    state = inspect(container_id)["State"]
    assert returncode == 0
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0
    assert seconds < grace
