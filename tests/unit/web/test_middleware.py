"""What every answer carries: problem details for every error, request ids, security headers."""

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/add/", 404),
        ("POST", "/add", 405),
        ("DELETE", "/evaluate", 405),
        ("GET", "/add?a=x&b=1", 400),
        ("GET", "/sqrt?a=-4", 422),
    ],
)
def test_every_error_is_a_problem_with_the_request_id_as_instance(
    client: FlaskClient, method: str, url: str, status: int
) -> None:
    """Errors answer application/problem+json with all RFC 9457 members; instance = request id."""
    response = client.open(url, method=method, headers={"X-Request-ID": "req-42"})
    problem = response.get_json()
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert problem.keys() >= PROBLEM_MEMBERS
    assert problem["status"] == status
    assert problem["instance"] == "req-42"


def test_method_not_allowed_lists_allowed_methods(client: FlaskClient) -> None:
    """405 keeps the Allow header."""
    response = client.put("/evaluate")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_unexpected_exception_is_a_500_problem_without_details(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug answers a generic 500 problem (no traceback) and logs the traceback as JSON."""
    app = make_app()

    def broken() -> str:
        raise RuntimeError("secret internal state")

    app.add_url_rule("/broken", view_func=broken)
    response = app.test_client().get("/broken", headers={"X-Request-ID": "bug-1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in body
    assert "Traceback" not in body
    assert "bug-1" in response.get_json()["detail"]
    logged = capsys.readouterr().out
    assert '"request_id": "bug-1"' in logged
    assert "secret internal state" in logged


@pytest.mark.parametrize("incoming", ["abc", "A.b_c-1", "x" * 64])
def test_well_formed_request_id_is_echoed(client: FlaskClient, incoming: str) -> None:
    """A short well-formed X-Request-ID is kept and echoed."""
    response = client.get("/livez", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 65, "a b", 'a"b', "ü", "a/b", "{jndi}"])
def test_malformed_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    """Anything else is replaced by a generated id, never echoed."""
    response = client.get("/livez", headers={"X-Request-ID": incoming})
    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32
    assert generated.isalnum()


def test_generated_request_ids_differ(client: FlaskClient) -> None:
    """Requests without an id get distinct ids."""
    ids = {client.get("/livez").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "url", ["/add?a=1&b=2", "/nowhere", "/divide?a=1&b=0", "/metrics", "/openapi.json"]
)
def test_security_headers_on_every_answer(client: FlaskClient, url: str) -> None:
    """nosniff, no framing and no caching are sent with successes and errors alike."""
    headers = client.get(url).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_debug_mode_is_off(client: FlaskClient) -> None:
    """The app never runs in debug mode (which would show tracebacks)."""
    assert client.application.debug is False
