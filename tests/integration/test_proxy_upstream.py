"""What the edge does with what replicas send, and with replicas that come and go: an answer
cut short is never recorded as served, a replica's non-JSON error becomes the edge's 502
problem, and replicas added or removed with `--scale` are found with no reload.

A stand-in replica (a few lines of Python in the calculator's image, joined to the stack's
network under the service's DNS name) answers what no real replica would."""

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .compose_project import SERVICE, ComposeProject
from .docker_cli import LOOPBACK, docker, inspect, wait_for
from .raw_http import assert_problem, raw_answer

pytestmark = pytest.mark.integration

TIMEOUT = 10
# /livez answers as a replica's does; /cut sends a header and 2 of 1000 bytes, then resets
# the connection; anything else is an HTML 500, as a server's own error page would be.
STAND_IN = r"""
import socket, struct, threading, time
ALIVE = b'{"status":"alive"}'
PAGE = b"<html><body><h1>Internal Server Error</h1></body></html>"
def answer(connection):
    with connection:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(65536)
            if not chunk:
                return
            request += chunk
        path = request.split(b" ", 2)[1]
        if path == b"/livez":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(ALIVE), ALIVE))
        elif path == b"/cut":
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n[1")
            time.sleep(0.2)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(PAGE), PAGE))
server = socket.create_server(("", 8000), backlog=64)
while True:
    threading.Thread(target=answer, args=(server.accept()[0],), daemon=True).start()
"""


@pytest.fixture
def stand_in(stack: ComposeProject, image: str) -> Iterator[set[str]]:
    """The stand-in replica, in the edge's pool beside the real ones; yields its addresses."""
    real = len(stack.container_ids())
    wait_for(lambda: stack.replicas_up() == real, seconds=15, what="every replica UP")
    name = f"{stack.name}-stand-in"
    docker("rm", "--force", name, check=False)
    docker(
        "run", "--detach", "--name", name, "--network", f"{stack.name}_{SERVICE}",
        "--network-alias", SERVICE, "--no-healthcheck", "--read-only", "--cap-drop", "ALL",
        "--entrypoint", "python", image, "-c", STAND_IN,
    )  # fmt: skip
    try:
        wait_for(lambda: stack.replicas_up() == real + 1, seconds=15, what="the stand-in UP")
        yield stack.addresses(name)
    finally:
        docker("rm", "--force", name, check=False)
        wait_for(lambda: stack.replicas_up() == real, seconds=15, what="the stand-in gone")


def send_until_served_by(
    stack: ComposeProject, addresses: set[str], path: str, tag: str
) -> tuple[bytes, dict[str, Any]]:
    """GET `path` on fresh connections until the stand-in answers one (round robin: within
    two rounds of the pool); return the raw answer and its access record."""
    for number in range(2 * (len(stack.container_ids()) + 1)):
        request_id = f"{tag}-{number}"
        with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
            connection.sendall(
                f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Request-ID: {request_id}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            received = b""
            try:
                while chunk := connection.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
        record = stack.access_record(request_id)
        if record["upstream"].rsplit(":", 1)[0] in addresses:
            return received, record
    raise AssertionError(f"the stand-in at {addresses} answered no {path}")


def test_answer_cut_short_is_not_recorded_as_served(
    stack: ComposeProject, stand_in: set[str]
) -> None:
    """A replica that resets its connection after the header and 2 of 1000 body bytes: the
    client gets less than announced, and the access record keeps the 200 it had begun with a
    server-side termination state, never "----", and the bytes actually sent."""
    received, record = send_until_served_by(stack, stand_in, "/cut", "upstream-cut")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert len(body) < 1000
    assert record["status"] == 200
    assert record["termination"] != "----"
    assert record["termination"][0] == "S", record  # the server's side ended it
    assert record["bytes"] < 1000 + len(head)


def test_non_json_error_from_a_replica_becomes_a_502_problem(
    stack: ComposeProject, stand_in: set[str]
) -> None:
    """A replica's HTML error page never reaches the client: the edge answers its own 502
    problem with the caller's request id, and records the 502."""
    received, record = send_until_served_by(stack, stand_in, "/oops", "upstream-html")
    answer = raw_answer(received)
    assert_problem(answer, 502, request_id=record["request_id"])
    assert b"<html" not in answer.body
    assert record["status"] == 502


def scale(stack: ComposeProject, replicas: int) -> None:
    """Scale the calculator to `replicas` with compose, the running ones untouched."""
    scaled = stack.compose(
        "up", "--detach", "--no-deps", "--no-recreate", "--no-build", "--pull", "never",
        "--wait", "--scale", f"{SERVICE}={replicas}", SERVICE,
    )  # fmt: skip
    assert scaled.returncode == 0, scaled.stdout + scaled.stderr


def edge_process(stack: ComposeProject) -> tuple[int, str, int]:
    """The edge's HAProxy process: host pid, container start time and restart count."""
    state = inspect(stack.container_id("proxy"))
    return state["State"]["Pid"], state["State"]["StartedAt"], state["RestartCount"]


def test_scaled_replicas_are_found_with_no_reload(stack: ComposeProject) -> None:
    """A replica added with `--scale` joins the pool and takes requests, and one removed
    leaves it while GETs keep succeeding (retried on another replica when the stopping one
    drops them); the edge's process is the same one throughout (DNS discovery, no reload
    or restart)."""
    before = stack.container_ids()
    process = edge_process(stack)
    scale(stack, len(before) + 1)
    (added,) = set(stack.container_ids()) - set(before)
    wait_for(lambda: stack.replicas_up() == len(before) + 1, seconds=15, what="the new one UP")
    ids = [f"upstream-scaled-{number}" for number in range(3 * (len(before) + 1))]
    with requests.Session() as session:
        for request_id in ids:
            answered = session.get(
                f"{stack.base_url}/add?a=1&b=2", headers={"X-Request-ID": request_id}, timeout=5
            )
            assert answered.status_code == 200
    reached = {stack.access_record(request_id)["upstream"].rsplit(":", 1)[0] for request_id in ids}
    assert stack.addresses(added) & reached

    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def get() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answer = session.get(f"{stack.base_url}/add?a=1&b=2", timeout=TIMEOUT)
                    outcomes[str(answer.status_code)] += 1
                except requests.RequestException as error:
                    outcomes[type(error).__name__] += 1

    client = threading.Thread(target=get, daemon=True)
    client.start()
    try:
        scale(stack, len(before))
        wait_for(lambda: stack.replicas_up() == len(before), seconds=15, what="one UP less")
    finally:
        stop.set()
        client.join(timeout=TIMEOUT + 5)
    assert sorted(stack.container_ids()) == sorted(before)
    assert set(outcomes) == {"200"}, outcomes
    assert edge_process(stack) == process
