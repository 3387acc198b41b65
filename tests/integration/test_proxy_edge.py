"""The HAProxy edge: its own answers keep the service's contract, request ids run through,
one JSON access record per request, keep-alive both ways, replicas found and checked,
slow and idle clients bounded, metrics kept off the public port."""

import contextlib
import json
import re
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import LOOPBACK, docker, frozen, haproxy_threads, proxy_metrics, wait_for
from .raw_http import GENERATED_ID, assert_problem, closed_by_peer, exchange, raw_answer

pytestmark = pytest.mark.integration

TIMEOUT = 10
# The edge's documented bound on a whole request (PROXY_REQUEST_TIMEOUT's default): half for
# its header from the first byte, the other half for its body once the header is in.
REQUEST_TIMEOUT = 5
HEADER_TIMEOUT = BODY_TIMEOUT = REQUEST_TIMEOUT / 2
# Room for a loaded machine above a bound (never below one).
MARGIN = 2.0
# A replica that stops answering its checks is out of the pool within this long.
OUT_OF_POOL_SECONDS = 3
IDLE_CONNECTIONS = 5000
ACCESS_RECORD_FIELDS = {
    "time", "request_id", "client", "method", "path", "status", "termination", "bytes",
    "duration_ms", "response_ms", "replica", "upstream", "retries",
}  # fmt: skip


def get(path: str, *headers: str) -> bytes:
    """A raw GET request with extra header lines."""
    extra = "".join(f"{header}\r\n" for header in headers)
    return f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n{extra}Connection: close\r\n\r\n".encode()


def body_request(method: str, path: str, length: int, *headers: str) -> bytes:
    """A raw request head announcing a body of `length` bytes."""
    extra = "".join(f"{header}\r\n" for header in headers)
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/.env"), 403),
        (get("/metrics"), 404),
        (get("/metrics/"), 404),
        (get("/%6Detrics"), 404),
        (get("//metrics"), 404),
        (get("/%2E%2E/metrics"), 403),
        (b"TRACE /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        (body_request("POST", "/evaluate", 2_000_000), 413),
        (get("/evaluate?expr=" + "1" * 9000), 414),
        (get("/livez", "X-Padding: " + "a" * 9000), 431),
        # 48 fields: Host and 47 more (HAProxy drops Connection: close before counting).
        (get("/livez", *(f"X-Field-{number}: 1" for number in range(47))), 431),
        (b"FROBNICATE /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 501),
        (b"M" * 40 + b" /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 501),
        (b"GET /livez HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n", 505),
    ],
    ids=[
        "dot-path", "metrics", "metrics-subpath", "metrics-encoded", "metrics-slashes",
        "dot-path-encoded", "trace", "body-too-large", "uri-too-long",
        "header-too-large", "too-many-headers", "unknown-method", "long-method", "http2-line",
    ],
)  # fmt: skip
def test_edge_refusals_are_problem_json(
    stack: ComposeProject, request_bytes: bytes, status: int
) -> None:
    """What the edge refuses itself is a problem document with the service's headers and id,
    below gunicorn's own limits so gunicorn's HTML never answers."""
    assert_problem(exchange(stack.port, request_bytes), status)


def test_the_most_header_fields_the_edge_passes_stay_within_gunicorn_s_limit(
    stack: ComposeProject,
) -> None:
    """47 header fields pass the edge and, with the 3 it adds, reach gunicorn within its 50:
    the replica answers, not gunicorn's HTML 431 (nor the 502 the edge would make of it)."""
    fields = "".join(f"X-Field-{number}: 1\r\n" for number in range(46))  # and Host
    answer = exchange(stack.port, f"GET /livez HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode())
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {"status": "alive"}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT A REQUEST\r\n\r\n",
        b"GET /livez\r\n\r\n",
        get("/livez", "Host: second.example"),
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
    ids=["malformed", "http-0.9", "two-hosts", "raw-bytes-in-path"],
)
def test_unparsable_requests_are_refused(stack: ComposeProject, request_bytes: bytes) -> None:
    """A request line or header HAProxy cannot parse gets a 400 status line (HAProxy 2.6's own
    answer: its parser refuses before any rule runs) and never reaches a replica."""
    answer = exchange(stack.port, request_bytes)
    assert answer.status == 400
    assert b"alive" not in answer.body


def trickle(connection: socket.socket, pieces: list[bytes], interval: float) -> tuple[float, bytes]:
    """Send `pieces` one every `interval` seconds until the peer answers or closes; return
    the seconds from the first piece to the answer, and everything the peer sent (nothing
    if it had not answered when the last piece went, at once)."""
    started = time.monotonic()
    for number, piece in enumerate(pieces):
        try:
            connection.sendall(piece)
        except OSError:  # closed by the peer: read what it said
            break
        if number == len(pieces) - 1:
            return time.monotonic() - started, b""
        readable, _, _ = select.select([connection], [], [], interval)
        if readable:
            break
        assert time.monotonic() - started < number * interval + MARGIN, "the pace fell behind"
    elapsed = time.monotonic() - started
    connection.settimeout(MARGIN)
    received = b""
    with contextlib.suppress(OSError):
        while chunk := connection.recv(65536):
            received += chunk
    return elapsed, received


def test_slow_body_gets_a_408_problem_within_the_bound(stack: ComposeProject) -> None:
    """A header sent at once and a body trickled a byte every 0.2 s get a 408 problem quoting
    the caller's id once the body's half of the request timeout has passed, recorded as 408
    without reaching a replica."""
    request_id = "edge-timeout-1"
    head = body_request("POST", "/evaluate", 100, f"X-Request-ID: {request_id}")
    with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
        connection.sendall(head)
        elapsed, received = trickle(connection, [b"1"] * 100, 0.2)
    assert_problem(raw_answer(received), 408, request_id=request_id)
    assert BODY_TIMEOUT - 0.1 <= elapsed <= BODY_TIMEOUT + MARGIN
    record = stack.access_record(request_id)
    assert record["status"] == 408
    assert record["method"] == "POST"
    assert record["replica"] == "<NOSRV>"


def test_slow_header_is_closed_within_the_bound(stack: ComposeProject) -> None:
    """A request header trickled a byte every 0.2 s is answered 408 and closed once the
    header's half of the request timeout has passed since its first byte."""
    with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
        head = get("/livez", "X-Slow: " + "s" * 100)
        elapsed, received = trickle(connection, [bytes([byte]) for byte in head], 0.2)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT <= elapsed <= HEADER_TIMEOUT + MARGIN


def test_whole_request_is_bounded_however_paced(stack: ComposeProject) -> None:
    """A header sent in four pieces over 1.5 s, then a body trickled: the 408 comes within
    the request timeout of the first byte (4 s here), not a header timeout plus a body
    timeout after it (6.5 s here)."""
    request_id = "edge-timeout-whole"
    head = body_request("POST", "/evaluate", 100, f"X-Request-ID: {request_id}")
    quarter = len(head) // 4
    pieces = [head[:quarter], head[quarter : 2 * quarter], head[2 * quarter : 3 * quarter]]
    with socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT) as connection:
        header_elapsed, early = trickle(connection, [*pieces, head[3 * quarter :]], 0.5)
        assert not early, early
        body_elapsed, received = trickle(connection, [b"1"] * 100, 0.2)
    assert_problem(raw_answer(received), 408, request_id=request_id)
    # The body's wait starts when HAProxy has the header, a moment before the body's first byte.
    assert body_elapsed >= BODY_TIMEOUT - 0.1
    # Lower than a header timeout plus a body timeout after this header (6.5 s) could be.
    assert header_elapsed + body_elapsed < REQUEST_TIMEOUT + 1


def test_one_haproxy_thread_under_the_default_quota(stack: ComposeProject) -> None:
    """With compose's default PROXY_CPUS=1 HAProxy runs one thread, however many CPUs the
    host has (HAProxy's own default would start one per CPU it may run on)."""
    assert haproxy_threads(stack.container_id("proxy")) == 1


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
        assert record["termination"] == "----"
        assert record["replica"].startswith("app")
        assert record["retries"] == "0"
        assert 0 <= record["response_ms"] <= record["duration_ms"]


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
        r["upstream"].rsplit(":", 1)[0] for r in stack.access_records() if r["request_id"] in ids
    }
    replicas = set().union(*(stack.addresses(replica) for replica in stack.container_ids()))
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
    within 1 s, 20 times in a row; the idle connections are closed within the header half of the
    request timeout."""
    with requests.Session() as session:
        for _ in range(20):
            for path in ("/livez", "/add?a=1&b=2"):
                started = time.monotonic()
                response = session.get(f"{stack.base_url}{path}", timeout=1)
                assert response.status_code == 200
                assert time.monotonic() - started < 1
    deadline = HEADER_TIMEOUT + MARGIN
    assert all(closed_by_peer(connection, timeout=deadline) for connection in hostile_clients[:5])


def test_access_record_is_utf8_whatever_the_client_sent(stack: ComposeProject) -> None:
    """Raw non-UTF-8 bytes and quotes in a header still give one valid JSON record, in UTF-8,
    with the real method."""
    request_id = "edge-utf8"
    answer = exchange(
        stack.port,
        b'POST /evaluate HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xe9 "\\ \xff\r\n'
        b"X-Request-ID: edge-utf8\r\nContent-Type: application/json\r\n"
        b'Content-Length: 9\r\nConnection: close\r\n\r\n["1 + 1"]',
    )
    assert answer.status == 200
    record = stack.access_record(request_id)  # parsed as JSON from UTF-8 text
    assert record["method"] == "POST"
    assert record["user_agent"].startswith("caf")
    assert '"' in record["user_agent"]


def test_metrics_stay_on_the_internal_networks(stack: ComposeProject) -> None:
    """/metrics is a 404 problem on the public port (pinned above); the edge's exporter
    answers on its internal port, and the replicas' /metrics on the internal network."""
    metrics = proxy_metrics(stack.container_id("proxy"))
    assert 'haproxy_backend_active_servers{proxy="calculator"}' in metrics
    replica = docker(
        "exec", stack.container_id("proxy"), "bash", "-c",
        "exec 3<>/dev/tcp/calculator/8000 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3"
        " && cat <&3", timeout=30,
    ).stdout  # fmt: skip
    assert replica.startswith("HTTP/1.1 200") or replica.startswith("HTTP/1.0 200"), replica[:200]
    assert "# TYPE" in replica


def reused_connections(stack: ComposeProject) -> int:
    """Connections to the replicas the edge has reused for another request, summed."""
    metrics = proxy_metrics(stack.container_id("proxy"))
    pattern = r'^haproxy_server_connection_reuses_total\{proxy="calculator",[^}]*\} (\d+)'
    return sum(int(count) for count in re.findall(pattern, metrics, re.MULTILINE))


def test_connections_to_the_replicas_are_reused(
    stack: ComposeProject, http: requests.Session
) -> None:
    """Requests on one client connection reuse the edge's keep-alive connections to the
    replicas instead of opening one per request."""
    before = reused_connections(stack)
    for _ in range(20):
        assert http.get(f"{stack.base_url}/livez", timeout=TIMEOUT).status_code == 200
    assert reused_connections(stack) - before >= 10


def logged_at(stack: ComposeProject, text: str, since: float) -> float:
    """When the edge first logged a line holding `text` after `since` (epoch seconds)."""
    shown = docker("logs", "--timestamps", "--since", f"{since:.3f}", stack.container_id("proxy"))
    for line in (shown.stdout + shown.stderr).splitlines():
        stamp, _, message = line.partition(" ")
        if text in message:
            # RFC 3339 with nanoseconds; microseconds are as far as datetime goes.
            return datetime.fromisoformat(stamp[:26] + "+00:00").timestamp()
    raise AssertionError(f"the edge logged no {text!r} since {since}")


def test_frozen_replica_leaves_the_pool_and_comes_back(stack: ComposeProject) -> None:
    """A frozen replica (every process stopped) is out of the pool within 3 s (its /livez
    checks time out, by the edge's own log), requests keep succeeding meanwhile, and it is
    back once it thaws."""
    replicas = stack.container_ids()
    wait_for(lambda: stack.replicas_up() == len(replicas), seconds=10, what="every replica UP")
    frozen_at = time.time()
    with frozen(replicas[0]):
        wait_for(
            lambda: stack.replicas_up() == len(replicas) - 1,
            seconds=OUT_OF_POOL_SECONDS + MARGIN,
            what="the frozen replica out of the pool",
        )
        for _ in range(10):
            assert requests.get(f"{stack.base_url}/livez", timeout=2).status_code == 200
    assert logged_at(stack, " is DOWN, ", since=frozen_at) - frozen_at <= OUT_OF_POOL_SECONDS
    wait_for(
        lambda: stack.replicas_up() == len(replicas),
        seconds=10,
        what="the thawed replica back in the pool",
    )


def test_trickled_bodies_do_not_lock_others_out(stack: ComposeProject) -> None:
    """With 64 bodies trickled from one address held open, /livez still answers."""
    with ExitStack() as held:
        for _ in range(64):
            connection = held.enter_context(
                socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT)
            )
            connection.sendall(body_request("POST", "/evaluate", 1000)[:-2] + b"\r\n[")
        for _ in range(5):
            assert requests.get(f"{stack.base_url}/livez", timeout=2).status_code == 200


def test_published_port_outlasts_thousands_of_idle_connections(stack: ComposeProject) -> None:
    """5,000 idle connections to the published port, then probes still answer: neither the
    port's forwarding nor the edge's connection limit gives out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_CONNECTIONS + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.skip(f"this process may open only {hard} files")
    with ExitStack() as held:
        for _ in range(IDLE_CONNECTIONS):
            held.enter_context(socket.create_connection((LOOPBACK, stack.port), timeout=TIMEOUT))
        for _ in range(5):
            assert requests.get(f"{stack.base_url}/livez", timeout=5).status_code == 200
    wait_for(stack.is_ready, seconds=10, what="/livez after the idle connections closed")
