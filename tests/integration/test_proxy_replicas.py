"""Replicas behind the proxy under wrk load: `make rollout` replaces them without a failed
request, a broken rollout changes nothing, and a killed replica fails no GET it had not
begun to answer."""

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import requests

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


@contextmanager
def posting(project: ComposeProject) -> Iterator[Counter[str]]:
    """POST /evaluate one after another on one keep-alive connection for the block; the
    counter it yields holds each answer's status (or the error's name) once the block ends."""
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def post() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answer = session.post(
                        f"{project.base_url}/evaluate", json=["1 + 2"], timeout=10
                    )
                    outcomes[str(answer.status_code)] += 1
                except requests.RequestException as error:
                    outcomes[type(error).__name__] += 1

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    try:
        yield outcomes
    finally:
        stop.set()
        poster.join(timeout=15)


def failures(project: ComposeProject) -> list[str]:
    """The edge's records of requests not served whole and its server state changes, in
    time order, for failure messages."""
    shown = project.compose("logs", "--no-color", "--no-log-prefix", "--timestamps", "proxy")
    lines = []
    for line in shown.stdout.splitlines():
        stamp, _, message = line.partition(" ")
        if message.startswith("{"):
            r = json.loads(message)
            if r["status"] >= 500 or r["termination"] != "----":
                lines.append(
                    f"{stamp} {r['method']} {r['status']} {r['termination']} {r['replica']} "
                    f"retries={r['retries']} connect={r['connect_ms']}"
                )
        elif "Server calculator/" in message and not message.startswith("["):
            lines.append(f"{stamp} {message[:110]}")
    return lines


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
    """`make rollout` to 2, 3 and 5 replicas under 32 connections of wrk and a stream of
    POSTs: new replica ids, 0 non-2xx, 0 socket errors, every POST answered 200."""
    before = replicated.container_ids()
    with load(f"{replicated.base_url}/add?a=1&b=2") as summary, posting(replicated) as posts:
        wait_for(replicated.is_ready, seconds=10, what="the stack serving under load")
        done = rollout(replicated, CALCULATOR_REPLICAS=str(replicas))
        wait_for(replicated.is_ready, seconds=10, what="the stack serving after the rollout")
    print(summary[0].text, posts)  # the figures, for anyone running with -s
    assert done.returncode == 0, done.stdout + done.stderr
    after = replicated.container_ids()
    assert len(after) == replicas
    assert not set(after) & set(before)
    (result,) = summary
    assert result.requests > 0, result.text
    if result.failed or set(posts) != {"200"}:
        print(done.stderr, *failures(replicated), sep="\n")  # shown with the failure
    assert result.non_2xx == 0, result.text
    assert result.socket_errors == 0, result.text
    assert set(posts) == {"200"}, posts
    assert posts["200"] > 0


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
    """A replica killed under wrk load of GETs: every GET it had not begun to answer is
    retried on another replica, and the edge takes it out of the pool.

    The one failure a proxy cannot hide is an answer already begun: gunicorn sends the
    status line and headers, then the body, in two writes, and a kill between them leaves
    a response the edge has passed on and may not send again. Those are allowed, and only
    those: each must be in the edge's records as a 2xx cut by the server in its data phase
    (termination SD) on the killed replica's address, and wrk may fail no more requests
    than there are such records."""
    replicas = replicated.container_ids()
    killed = replicated.addresses(replicas[0])
    started = datetime.now(UTC).isoformat()
    with load(f"{replicated.base_url}/add?a=1&b=2", seconds=KILL_LOAD_SECONDS * 3) as summary:
        wait_for(replicated.is_ready, seconds=10, what="the stack serving under load")
        docker("kill", replicas[0])
        wait_for(
            lambda: replicated.replicas_up() == len(replicas) - 1,
            seconds=KILL_LOAD_SECONDS,
            what="the killed replica out of the pool",
        )
        wait_for(replicated.is_ready, seconds=10, what="the stack serving after the kill")
    (result,) = summary
    print(result.text)
    records = replicated.access_records(since=started)
    failed = [r for r in records if r["status"] >= 500 or r["termination"].startswith("S")]
    cut = [
        r
        for r in failed
        if r["termination"].startswith("SD")
        and r["status"] < 300
        and r["upstream"].rpartition(":")[0] in killed
    ]
    if result.failed:
        print(*failures(replicated), sep="\n")  # shown with the failure
    assert result.requests > 0, result.text
    assert result.non_2xx == 0, result.text
    assert [r for r in failed if r not in cut] == [], "a GET not begun was not retried"
    assert result.socket_errors <= len(cut), result.text
