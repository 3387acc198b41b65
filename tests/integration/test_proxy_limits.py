"""The proxy's limits and its answers when no replica answers, on a stack of its own with
rate limiting on, a low connection limit and a short upstream timeout."""

import json
import math
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import LOOPBACK, PREFIX, docker, free_port, nginx_workers, wait_for
from .raw_http import Answer, assert_problem

pytestmark = pytest.mark.integration

RATE = 5  # requests per second per client address
CONNECTIONS = 3  # requests in progress per client address
UPSTREAM_TIMEOUT = 2  # seconds
PROXY_CPUS = "1.5"  # a quota of one and a half CPUs: nginx rounds it up to 2 workers
# Slower than the rate, so the requests of a test are never refused for it.
PACE = 1.5 / RATE
TIMEOUT = 15


@pytest.fixture(scope="module")
def limited(image: str) -> Iterator[ComposeProject]:
    """A stack with PROXY_RATE_LIMIT, PROXY_RATE_BURST=0, PROXY_CONNECTIONS_PER_CLIENT,
    PROXY_UPSTREAM_TIMEOUT and PROXY_CPUS set."""
    settings = {
        "PROXY_RATE_LIMIT": str(RATE),
        "PROXY_RATE_BURST": "0",
        "PROXY_CONNECTIONS_PER_CLIENT": str(CONNECTIONS),
        "PROXY_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT),
        "PROXY_CPUS": PROXY_CPUS,
    }
    with ComposeProject(f"{PREFIX}-limits", free_port(), environment=settings).running() as project:
        yield project


def answer(response: requests.Response) -> Answer:
    """A requests response as the raw-HTTP answer the problem assertions read."""
    return Answer(response.status_code, response.headers, response.content)  # type: ignore[arg-type]


def record_of(project: ComposeProject, request_id: str) -> dict[str, object]:
    """The proxy's one access record of a request."""
    wait_for(
        lambda: any(r["request_id"] == request_id for r in project.access_records()),
        seconds=10,
        what=f"the access record of {request_id}",
    )
    (record,) = [r for r in project.access_records() if r["request_id"] == request_id]
    return record


def test_rate_limit_answers_429_with_retry_after(limited: ComposeProject) -> None:
    """Requests above the rate from one address get 429 with Retry-After; later ones pass."""
    with requests.Session() as session:
        statuses = []
        for _ in range(10):
            response = session.get(f"{limited.base_url}/livez", timeout=TIMEOUT)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert_problem(answer(response), 429)
                assert response.headers["Retry-After"] == "1"
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
        time.sleep(1.1)
        assert session.get(f"{limited.base_url}/livez", timeout=TIMEOUT).status_code == 200


def test_requests_in_progress_per_client_are_limited(limited: ComposeProject) -> None:
    """With the address's connection limit held by bodies in progress, one more request gets
    503 with Retry-After; once they are gone, requests pass again."""
    with ExitStack() as held:
        for _ in range(CONNECTIONS):
            time.sleep(PACE)
            connection = held.enter_context(
                socket.create_connection((LOOPBACK, limited.port), timeout=TIMEOUT)
            )
            connection.sendall(
                b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n["1'
            )
        time.sleep(PACE)
        refused = requests.get(f"{limited.base_url}/livez", timeout=TIMEOUT)
        assert_problem(answer(refused), 503)
        assert refused.headers["Retry-After"] == "1"
    time.sleep(PACE)
    assert requests.get(f"{limited.base_url}/livez", timeout=TIMEOUT).status_code == 200


def test_replicas_not_answering_give_504_get_retried_post_not(limited: ComposeProject) -> None:
    """With every replica frozen, a GET is tried on each replica and a POST on one only
    (never sent twice); both end in a 504 problem."""
    replicas = limited.container_ids()
    docker("pause", *replicas)
    try:
        time.sleep(PACE)
        got = requests.get(
            f"{limited.base_url}/add?a=1&b=2",
            headers={"X-Request-ID": "limits-get"},
            timeout=TIMEOUT * 2,
        )
        time.sleep(PACE)
        posted = requests.post(
            f"{limited.base_url}/evaluate",
            data=json.dumps(["1 + 1"]),
            headers={"X-Request-ID": "limits-post", "Content-Type": "application/json"},
            timeout=TIMEOUT * 2,
        )
    finally:
        docker("unpause", *replicas)
    assert got.status_code == 504
    assert posted.status_code == 504
    for response in (got, posted):
        problem = json.loads(response.content)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert problem["status"] == 504
        assert problem["title"] == "Gateway Timeout"
    assert problem["instance"] == "limits-post"
    get_tries = str(record_of(limited, "limits-get")["upstream"]).split(", ")
    post_tries = str(record_of(limited, "limits-post")["upstream"]).split(", ")
    assert len(set(get_tries)) == len(replicas)
    assert len(post_tries) == 1


def test_no_replica_running_gives_502(limited: ComposeProject) -> None:
    """With every replica stopped, the proxy answers a 502 problem (the last test here)."""
    stopped = limited.compose("stop", "calculator", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    time.sleep(PACE)
    response = requests.get(f"{limited.base_url}/add?a=1&b=2", timeout=TIMEOUT)
    assert response.status_code == 502
    problem = json.loads(response.content)
    assert problem["title"] == "Bad Gateway"
    assert problem["instance"] == response.headers["X-Request-ID"]


def test_nginx_workers_follow_the_cpu_quota(limited: ComposeProject) -> None:
    """nginx starts one worker per CPU of its quota (rounded up), not one per host CPU."""
    assert nginx_workers(limited.container_id("proxy")) == min(
        len(os.sched_getaffinity(0)), math.ceil(float(PROXY_CPUS))
    )
