"""The edge's limits, retries and answers when replicas fail, on a stack of its own with
rate limiting on, a short upstream timeout and a CPU quota of one and a half."""

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import PREFIX, free_port, frozen, haproxy_threads, wait_for
from .raw_http import Answer, assert_problem

pytestmark = pytest.mark.integration

RATE = 5  # requests per second per client address
UPSTREAM_TIMEOUT = 2  # seconds
PROXY_CPUS = "1.5"  # a quota of one and a half CPUs: HAProxy rounds it up to 2 threads
TIMEOUT = 15


@pytest.fixture(scope="module")
def limited(image: str) -> Iterator[ComposeProject]:
    """A stack with PROXY_RATE_LIMIT, PROXY_UPSTREAM_TIMEOUT and PROXY_CPUS set."""
    settings = {
        "PROXY_RATE_LIMIT": str(RATE),
        "PROXY_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT),
        "PROXY_CPUS": PROXY_CPUS,
    }
    with ComposeProject(f"{PREFIX}-limits", free_port(), environment=settings).running() as project:
        yield project


def answer(response: requests.Response) -> Answer:
    """A requests response as the raw-HTTP answer the problem assertions read."""
    return Answer(response.status_code, response.headers, response.content)  # type: ignore[arg-type]


def passes(project: ComposeProject) -> bool:
    """True when a request is let through the rate limit again."""
    return requests.get(f"{project.base_url}/livez", timeout=TIMEOUT).status_code == 200


def test_rate_limit_answers_429_with_retry_after(limited: ComposeProject) -> None:
    """Requests above the rate from one address get a 429 problem with Retry-After; once the
    window has passed, requests pass again."""
    wait_for(lambda: passes(limited), seconds=10, what="a request under the rate")
    with requests.Session() as session:
        statuses = []
        for _ in range(RATE * 3):
            response = session.get(f"{limited.base_url}/livez", timeout=TIMEOUT)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert_problem(answer(response), 429)
                assert response.headers["Retry-After"] == "1"
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
    wait_for(lambda: passes(limited), seconds=10, what="a request after the window")


def send_while_frozen(
    project: ComposeProject, method: str, tag: str
) -> tuple[requests.Response, dict[str, Any]]:
    """With every replica in the pool and the first one frozen, send requests until one was
    given to the frozen one (round robin: within as many requests as there are replicas);
    return that answer with its access record."""
    replicas = project.container_ids()
    wait_for(lambda: project.replicas_up() == len(replicas), seconds=15, what="every replica UP")
    victim = replicas[0]
    victim_addresses = project.addresses(victim)
    url = f"{project.base_url}/evaluate" if method == "POST" else f"{project.base_url}/add"
    with frozen(victim):
        for number in range(len(replicas)):
            request_id = f"{tag}-{number}"
            response = requests.request(
                method,
                url,
                params=None if method == "POST" else {"a": "1", "b": "2"},
                data=json.dumps(["1 + 1"]) if method == "POST" else None,
                headers={"X-Request-ID": request_id, "Content-Type": "application/json"},
                timeout=TIMEOUT * 2,
            )
            record = project.access_record(request_id)
            tried = record["retries"] != "0" or record["upstream"].rsplit(":", 1)[0] in (
                victim_addresses
            )
            if tried:
                break
    wait_for(lambda: passes(project), seconds=10, what="the stack serving again")
    assert tried, f"no request was given to the frozen replica: {record}"
    return response, record


def test_get_is_retried_on_another_replica(limited: ComposeProject) -> None:
    """A GET given to a replica that gives no answer in time is sent again to another one:
    the client gets 200 and the access record counts the retry."""
    response, record = send_while_frozen(limited, "GET", "limits-get")
    assert response.status_code == 200, record
    assert record["retries"] != "0", record
    assert record["termination"] == "----"


def test_post_that_reached_a_replica_is_not_sent_again(limited: ComposeProject) -> None:
    """A POST given to a replica that gives no answer in time is never sent again: a 504
    problem, and the record counts no retry."""
    response, record = send_while_frozen(limited, "POST", "limits-post")
    assert response.status_code == 504, record
    assert_problem(answer(response), 504, request_id=record["request_id"])
    assert record["retries"] == "0"
    assert record["termination"].startswith("sH")


def test_haproxy_threads_follow_the_cpu_quota(limited: ComposeProject) -> None:
    """HAProxy starts one thread per CPU of its quota (rounded up), not one per host CPU."""
    assert haproxy_threads(limited.container_id("proxy")) == min(
        len(os.sched_getaffinity(0)), math.ceil(float(PROXY_CPUS))
    )


def test_no_replica_running_gives_503(limited: ComposeProject) -> None:
    """With every replica stopped, the edge answers a 503 problem (the last test here)."""
    stopped = limited.compose("stop", "calculator", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    wait_for(
        lambda: requests.get(f"{limited.base_url}/add?a=1&b=2", timeout=TIMEOUT).status_code == 503,
        seconds=10,
        what="503 once the replicas are gone",
    )
    response = requests.get(f"{limited.base_url}/add?a=1&b=2", timeout=TIMEOUT)
    assert_problem(answer(response), 503)
