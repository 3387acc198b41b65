"""Liveness and readiness: /readyz answers 503 once shutdown has begun."""

import signal
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from service.readiness import Readiness, drain_on_sigterm


@pytest.fixture
def restore_sigterm() -> Iterator[None]:
    original = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, original)


def test_livez_and_readyz_answer_200_when_started(make_app: Callable[..., Flask]) -> None:
    """A freshly built app is alive and ready."""
    client = make_app().test_client()
    assert client.get("/livez").get_json() == {"status": "alive"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_answers_503_problem_while_draining(make_app: Callable[..., Flask]) -> None:
    """After shutdown begins, /readyz is a 503 problem while /livez stays 200."""
    app = make_app()
    app.extensions["readiness"].mark_draining()
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "shutting down" in response.get_json()["detail"]
    assert client.get("/livez").status_code == 200


def test_not_ready_before_start() -> None:
    """Readiness is false until the app marks itself started."""
    readiness = Readiness()
    assert not readiness.ready
    readiness.mark_started()
    assert readiness.ready


@pytest.mark.usefixtures("restore_sigterm")
def test_sigterm_marks_draining_and_runs_the_previous_handler() -> None:
    """The SIGTERM hook flips readiness and still calls gunicorn's own handler."""
    calls: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: calls.append(signum))
    readiness = Readiness()
    readiness.mark_started()
    drain_on_sigterm(readiness)
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    handler(signal.SIGTERM, None)
    assert readiness.draining
    assert not readiness.ready
    assert calls == [signal.SIGTERM]
