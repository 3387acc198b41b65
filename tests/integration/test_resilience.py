"""The service on its own (``docker run -p``), as deployed: exact metrics under recycled
workers, bounded under hostile bodies, and what slow clients sent straight to it do."""

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .docker_cli import LOOPBACK, PREFIX, docker, free_port, wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 10
START_SECONDS = 60
# The hardening compose.yaml applies, less the /tmp size each test chooses.
SAMPLE_FILES_USAGE = (
    "import glob, os; files = glob.glob('/tmp/calculator-metrics-*/*.db'); "
    "print(len(files), sum(os.stat(name).st_blocks * 512 for name in files))"
)
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
    return count_in(requests.get(f"{url}/metrics", timeout=TIMEOUT).text)


def count_in(text: str) -> float:
    """The total of GET /add answers with status 200 in a scrape."""
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/add"' in line and '"200"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_scrapes_stay_exact_while_workers_recycle(image: str) -> None:
    """1,500 requests through workers recycled every 10 while a scraper polls every 50 ms:
    every scrape answers, the count never goes down and ends exact; each dead worker's two
    sample files stay small on the tmpfs."""
    options = (
        "--tmpfs=/tmp:size=64m,mode=1777",
        "--env=WEB_CONCURRENCY=4",
        "--env=ACCESS_LOG=off",
        "--env=GUNICORN_CMD_ARGS=--max-requests 10 --max-requests-jitter 0",
    )
    sent = 1500
    with service(image, *options) as running:
        running_scraper = threading.Event()
        running_scraper.set()
        with ThreadPoolExecutor(max_workers=2) as pool:
            scraper = pool.submit(scrape_while, running.url, running_scraper)
            with requests.Session() as session:
                statuses = [
                    session.get(
                        f"{running.url}/add?a=1&b=2",
                        headers={"Connection": "close"},
                        timeout=TIMEOUT,
                    ).status_code
                    for _ in range(sent)
                ]
            running_scraper.clear()
            scrapes = scraper.result()
        assert statuses == [200] * sent
        assert [status for status, _ in scrapes if status != 200] == []
        counts = [count for _, count in scrapes]
        assert counts == sorted(counts)
        assert counted(running.url) == sent
        # Python in the image, not a shell: the image has none.
        files, used = running.exec("python", "-c", SAMPLE_FILES_USAGE).split()
    # One lifetime per 10 requests (scrapes included), two files each, a few pages a file.
    assert int(files) >= 2 * sent // 10
    assert int(used) <= int(files) * 16_384


def scrape_while(url: str, running: threading.Event) -> list[tuple[int, float]]:
    """Scrape every 50 ms while ``running``: the status and the /add count of each scrape.

    Over one kept-alive connection, as Prometheus scrapes, and like its client a scrape
    is sent once more when the server closed that connection as it was sent (RFC 9112
    section 9.3.1: a recycled worker closes its idle connections). Any answer counts.
    """
    scrapes = []
    resend = Retry(total=1, connect=1, read=1, status=0, allowed_methods={"GET"})
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=resend))
        while running.is_set():
            answer = session.get(f"{url}/metrics", timeout=TIMEOUT)
            scrapes.append((answer.status_code, count_in(answer.text)))
            running.wait(0.05)
    return scrapes


def test_idle_and_slow_clients_do_not_hold_a_lone_replica(image: str) -> None:
    """Straight to a replica, 200 idle and 20 slow-header connections: /livez within 1 s."""
    with service(image, "--tmpfs=/tmp:size=64m,mode=1777", "--env=ACCESS_LOG=off") as running:
        held: list[socket.socket] = []
        try:
            for _ in range(200):
                held.append(socket.create_connection((LOOPBACK, running.port), timeout=TIMEOUT))
            for _ in range(20):
                slow = socket.create_connection((LOOPBACK, running.port), timeout=TIMEOUT)
                slow.sendall(b"GET /livez HTTP/1.1\r\nHost: calculator\r\n")
                held.append(slow)
            for _ in range(20):
                started = time.monotonic()
                answer = requests.get(f"{running.url}/livez", timeout=TIMEOUT)
                assert answer.status_code == 200
                assert time.monotonic() - started < 1
        finally:
            for connection in held:
                connection.close()


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
