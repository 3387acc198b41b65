"""The service on its own (``docker run -p``), as deployed: bounded under slow clients, recycled
workers and hostile bodies, and gone (for its supervisor to replace) when it cannot serve."""

import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from .docker_cli import LOOPBACK, PREFIX, docker, free_port, wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 10
START_SECONDS = 60
# The hardening compose.yaml applies, less the /tmp size each test chooses.
HARDENING = ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges:true")


@dataclass
class Service:
    """One container of the image, published on a loopback port."""

    container: str
    port: int

    @property
    def url(self) -> str:
        """Where the service answers on the host."""
        return f"http://{LOOPBACK}:{self.port}"

    def logs(self) -> str:
        """Everything the container wrote."""
        shown = docker("logs", self.container, check=False, timeout=60)
        return shown.stdout + shown.stderr

    def exec(self, *command: str) -> str:
        """Run a command in the container as its user; its output."""
        return docker("exec", self.container, *command, timeout=60).stdout


@contextlib.contextmanager
def service(image: str, *options: str, wait: bool = True) -> Iterator[Service]:
    """Run the image with the compose hardening and ``options``; always remove it."""
    name = f"{PREFIX}-resilience-{uuid.uuid4().hex[:8]}"
    port = free_port()
    docker("run", "--detach", "--name", name, *HARDENING, *options,
           "--publish", f"{LOOPBACK}:{port}:8000", image)  # fmt: skip
    running = Service(name, port)
    try:
        if wait:
            wait_for(lambda: alive(running.url), seconds=START_SECONDS, what=f"{name} /livez")
        yield running
    finally:
        docker("rm", "--force", name, check=False, timeout=60)


def alive(url: str) -> bool:
    """Whether /livez answers 200 now."""
    try:
        return requests.get(f"{url}/livez", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def counted(url: str) -> float:
    """The scraped total of GET /add answers with status 200."""
    text = requests.get(f"{url}/metrics", timeout=TIMEOUT).text
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/add"' in line and '"200"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_stay_small_and_exact_on_a_2_mb_tmp(image: str) -> None:
    """1,500 requests through workers recycled every 10: all 200, exact count, tmpfs barely used."""
    options = (
        "--tmpfs=/tmp:size=2m,mode=1777",
        "--env=WEB_CONCURRENCY=4",
        "--env=GUNICORN_CMD_ARGS=--max-requests 10 --max-requests-jitter 0",
    )
    sent = 1500
    with service(image, *options) as running:
        statuses = [
            requests.get(
                f"{running.url}/add?a=1&b=2", headers={"Connection": "close"}, timeout=TIMEOUT
            ).status_code
            for _ in range(sent)
        ]
        assert statuses == [200] * sent
        assert counted(running.url) == sent
        used_kib = int(running.exec("du", "-sk", "/tmp").split()[0])  # noqa: S108 - in the container
        files = running.exec("sh", "-c", "ls /tmp/calculator-metrics-* | wc -l").strip()
    # Four live workers' two files each, two archives and a lock, where 150 lifetimes left
    # 300 files before; a few pages each.
    assert int(files) <= 4 * 2 + 3
    assert used_kib < 256


def test_idle_and_slow_clients_do_not_hold_the_service(image: str) -> None:
    """50 idle connections and 10 half-sent bodies: /livez answers within 1 s, 20 times."""
    with service(image, "--tmpfs=/tmp:size=64m,mode=1777") as running:
        held: list[socket.socket] = []
        try:
            for _ in range(50):
                held.append(socket.create_connection((LOOPBACK, running.port), timeout=TIMEOUT))
            for _ in range(10):
                half = socket.create_connection((LOOPBACK, running.port), timeout=TIMEOUT)
                half.sendall(
                    b"POST /evaluate HTTP/1.1\r\nHost: calculator\r\n"
                    b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n["1 +'
                )
                held.append(half)
            for _ in range(20):
                started = time.monotonic()
                answer = requests.get(f"{running.url}/livez", timeout=TIMEOUT)
                assert answer.status_code == 200
                assert time.monotonic() - started < 1
            # Each half-sent body is answered 408 once its deadline passes, not dropped.
            for half in held[50:]:
                assert half.recv(64).startswith(b"HTTP/1.1 408")
        finally:
            for connection in held:
                connection.close()
        assert "WORKER TIMEOUT" not in running.logs()


def test_a_chunked_body_over_the_limit_is_refused(image: str) -> None:
    """A chunked body past max_body_bytes is a 413 problem, as with Content-Length."""

    def chunks() -> Iterator[bytes]:
        yield b'["1+1"'
        for _ in range(70):
            yield b" " * 1024
        yield b"]"

    with service(image, "--tmpfs=/tmp:size=64m,mode=1777") as running:
        answer = requests.post(
            f"{running.url}/evaluate",
            data=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_the_highest_precision_keeps_a_batch_bounded(image: str) -> None:
    """At precision 1000 a batch of costly expressions ends within the budget, workers intact."""
    costly = "2**0.5 + 3**0.5 + 5**0.5 + 7**0.5 + 11**0.5 + 13**0.5"
    options = ("--tmpfs=/tmp:size=64m,mode=1777", "--env=CALCULATOR_PRECISION=1000")
    with service(image, *options) as running:
        started = time.monotonic()
        answer = requests.post(f"{running.url}/evaluate", json=[costly] * 100, timeout=30)
        elapsed = time.monotonic() - started
        problems = [
            item["problem"]["type"] for item in answer.json()["results"] if "problem" in item
        ]
        logs = running.logs()
    assert answer.status_code == 200
    assert problems
    assert set(problems) == {"urn:calculator:problem:too-much-work"}
    # The default budget is 2 s of CPU; the whole batch would need far more.
    assert elapsed < 10
    assert "WORKER TIMEOUT" not in logs


def test_a_service_that_cannot_serve_exits(image: str) -> None:
    """With no room for metrics, workers die as they serve: the container stops, status 3."""
    with service(image, "--tmpfs=/tmp:size=8k,mode=1777") as running:
        deadline = time.monotonic() + START_SECONDS

        def stopped() -> bool:
            return (
                docker("inspect", "-f", "{{.State.Running}}", running.container).stdout.strip()
                == "false"
            )

        while not stopped() and time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{running.url}/add?a=1&b=2", timeout=2)
        assert stopped()
        status = docker("inspect", "-f", "{{.State.ExitCode}}", running.container).stdout.strip()
        reasons = [line for line in running.logs().splitlines() if "supervisor replaces" in line]
    assert status == "3"
    assert len(reasons) == 1
    assert '"level": "CRITICAL"' in reasons[0]
