"""The proxy at the edge: its own answers keep the service's contract, request ids run
through, one access record per request, keep-alive, spread over replicas, slow clients."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import LOOPBACK, inspect, nginx_workers, wait_for
from .raw_http import GENERATED_ID, assert_problem, closed_by_peer, exchange

pytestmark = pytest.mark.integration

TIMEOUT = 10
# nginx's documented bounds (deploy/proxy/nginx.conf): whole header, and between body reads.
CLIENT_HEADER_TIMEOUT = 5
CLIENT_BODY_TIMEOUT = 5
ACCESS_RECORD_FIELDS = {
    "time", "request_id", "method", "path", "status", "bytes", "duration", "upstream_duration",
}  # fmt: skip


def get(path: str, *headers: str) -> bytes:
    """A raw GET request with extra header lines."""
    extra = "".join(f"{header}\r\n" for header in headers)
    return f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n{extra}Connection: close\r\n\r\n".encode()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (get("/livez", "Host: second.example"), 400),
        (get("/evaluate?expr=" + "1" * 9000), 414),
        (get("/livez", "X-Padding: " + "a" * 9000), 431),
        (
            b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000\r\nConnection: close\r\n\r\n",
            413,
        ),
    ],
    ids=["malformed", "two-hosts", "uri-too-long", "header-too-large", "body-too-large"],
)
def test_proxy_refusals_are_problem_json(
    stack: ComposeProject, request_bytes: bytes, status: int
) -> None:
    """What the proxy refuses itself is a problem document with the service's headers and id."""
    assert_problem(exchange(stack.port, request_bytes), status)


def test_timed_out_request_is_closed_and_recorded_as_408(stack: ComposeProject) -> None:
    """A body that stops short of its Content-Length is closed after the body timeout and
    recorded as 408 (nginx closes a timed-out request without an answer)."""
    request_id = "edge-timeout-1"
    with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
        connection.sendall(
            b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: " + request_id.encode() + b'\r\nContent-Length: 10\r\n\r\n["1'
        )
        started = time.monotonic()
        assert closed_by_peer(connection, timeout=CLIENT_BODY_TIMEOUT + 3)
        assert time.monotonic() - started >= CLIENT_BODY_TIMEOUT - 1

    def recorded() -> bool:
        return any(r["request_id"] == request_id for r in stack.access_records())

    wait_for(recorded, seconds=10, what="the access record of the timed-out request")
    (record,) = [r for r in stack.access_records() if r["request_id"] == request_id]
    assert record["status"] == 408
    assert record["upstream"] == ""


def test_one_nginx_worker_under_the_default_quota(stack: ComposeProject) -> None:
    """With compose's default PROXY_CPUS=1 nginx runs one worker, however many CPUs the host
    has (nginx's own "auto" would start one per host CPU)."""
    assert nginx_workers(stack.container_id("proxy")) == 1


def test_caller_request_id_reaches_the_service(
    stack: ComposeProject, http: requests.Session
) -> None:
    """A well-formed X-Request-ID is passed upstream: the service's problem quotes it and the
    proxy's access record carries it."""
    response = http.get(
        f"{stack.base_url}/add?a=x&b=1", headers={"X-Request-ID": "edge.trace-7"}, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert response.json()["type"].startswith("urn:calculator:problem:")  # the service's own
    assert response.json()["instance"] == "edge.trace-7"
    wait_for(
        lambda: any(r["request_id"] == "edge.trace-7" for r in stack.access_records()),
        seconds=10,
        what="the access record of edge.trace-7",
    )


def test_malformed_request_id_is_replaced_at_the_edge(
    stack: ComposeProject, http: requests.Session
) -> None:
    """An unsafe X-Request-ID is replaced by the proxy's 32-hex id, which the service keeps."""
    response = http.get(
        f"{stack.base_url}/add?a=1&b=2", headers={"X-Request-ID": "bad id;rm"}, timeout=TIMEOUT
    )
    request_id = response.headers["X-Request-ID"]  # written by the service
    assert GENERATED_ID.fullmatch(request_id)
    wait_for(
        lambda: any(r["request_id"] == request_id for r in stack.access_records()),
        seconds=10,
        what="an access record with the generated id",
    )


def test_one_access_record_per_request(stack: ComposeProject, http: requests.Session) -> None:
    """Each request leaves exactly one JSON access record at the proxy, with every field."""
    ids = [f"edge-record-{number}" for number in range(5)]
    for request_id in ids:
        http.get(
            f"{stack.base_url}/multiply?a=2&b=3",
            headers={"X-Request-ID": request_id},
            timeout=TIMEOUT,
        )

    def all_recorded() -> bool:
        return {r["request_id"] for r in stack.access_records()} >= set(ids)

    wait_for(all_recorded, seconds=10, what="the access records of five requests")
    records = [r for r in stack.access_records() if r["request_id"] in ids]
    assert len(records) == len(ids)
    for record in records:
        assert record.keys() >= ACCESS_RECORD_FIELDS
        assert record["method"] == "GET"
        assert record["path"] == "/multiply"
        assert record["status"] == 200
        assert record["bytes"] > 0
        assert float(record["upstream_duration"]) <= record["duration"] + 0.001


def test_replicas_write_no_access_log(stack: ComposeProject, http: requests.Session) -> None:
    """Behind the proxy the replicas run with ACCESS_LOG=off: a request's id appears in the
    proxy's access record only."""
    request_id = "edge-only-at-the-proxy"
    http.get(f"{stack.base_url}/add?a=1&b=1", headers={"X-Request-ID": request_id}, timeout=10)
    wait_for(
        lambda: any(r["request_id"] == request_id for r in stack.access_records()),
        seconds=10,
        what="the proxy's access record",
    )
    assert request_id not in stack.logs("calculator")


def test_keep_alive_with_clients(stack: ComposeProject) -> None:
    """Several requests are answered on one client connection."""
    with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
        reader = connection.makefile("rb")
        for _ in range(3):
            connection.sendall(f"GET /livez HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode())
            status_line = reader.readline()
            assert status_line.startswith(b"HTTP/1.1 200"), status_line
            length = 0
            while (line := reader.readline()) not in {b"\r\n", b""}:
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert json.loads(reader.read(length)) == {"status": "alive"}


def test_requests_are_spread_over_the_replicas(
    stack: ComposeProject, http: requests.Session
) -> None:
    """Requests through the proxy reach every replica."""
    ids = [f"edge-spread-{number}" for number in range(40)]
    for request_id in ids:
        http.get(f"{stack.base_url}/livez", headers={"X-Request-ID": request_id}, timeout=TIMEOUT)
    wait_for(
        lambda: {r["request_id"] for r in stack.access_records()} >= set(ids),
        seconds=10,
        what="the access records of 40 requests",
    )
    reached = {
        r["upstream"].split(":")[0] for r in stack.access_records() if r["request_id"] in ids
    }
    replicas = {
        network["IPAddress"]
        for replica in stack.container_ids()
        for network in inspect(replica)["NetworkSettings"]["Networks"].values()
    }
    assert reached == replicas


def slow_header_sender(port: int, stop: threading.Event) -> None:
    """Send a request header one byte a second until the proxy closes or `stop` is set."""
    head = f"GET /livez HTTP/1.1\r\nHost: {LOOPBACK}\r\nX-Slow: {'s' * 64}\r\n\r\n".encode()
    with socket.create_connection((LOOPBACK, port), timeout=TIMEOUT) as connection:
        for byte in head:
            if stop.wait(1):
                return
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                return  # closed by the proxy: what it should do in the end


@pytest.fixture
def hostile_clients(stack: ComposeProject) -> Iterator[list[socket.socket]]:
    """200 idle connections, 20 clients sending headers a byte a second and 10 bodies
    shorter than their Content-Length, all open at once; yields the idle connections."""
    stop = threading.Event()
    with ExitStack() as cleanup:
        idle = [
            cleanup.enter_context(socket.create_connection((LOOPBACK, stack.port), timeout=5))
            for _ in range(200)
        ]
        for _ in range(10):
            short = cleanup.enter_context(
                socket.create_connection((LOOPBACK, stack.port), timeout=5)
            )
            short.sendall(
                b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n["1 + 1"'
            )
        senders = [
            threading.Thread(target=slow_header_sender, args=(stack.port, stop), daemon=True)
            for _ in range(20)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            cleanup.callback(sender.join, timeout=5)
        cleanup.callback(stop.set)
        time.sleep(1)  # every hostile connection is open and has sent something
        yield idle


def test_slow_and_idle_clients_do_not_hold_up_others(
    stack: ComposeProject, hostile_clients: list[socket.socket]
) -> None:
    """With idle, slow-header and short-body clients open, /livez and /add each answer 200
    within 1 s, 20 times in a row; the idle connections are closed within the header timeout."""
    with requests.Session() as session:
        for _ in range(20):
            for path in ("/livez", "/add?a=1&b=2"):
                started = time.monotonic()
                response = session.get(f"{stack.base_url}{path}", timeout=1)
                assert response.status_code == 200
                assert time.monotonic() - started < 1
    deadline = CLIENT_HEADER_TIMEOUT + 3
    assert all(closed_by_peer(connection, timeout=deadline) for connection in hostile_clients[:5])
