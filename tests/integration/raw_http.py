"""HTTP at the socket level, for requests no client library will send: malformed, slow, cut."""

import http.client
import io
import json
import re
import socket
from dataclasses import dataclass
from http import HTTPStatus

from .docker_cli import LOOPBACK

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Answer:
    """A parsed HTTP answer."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def exchange(port: int, request: bytes, timeout: float = 10) -> Answer:
    """Send raw bytes as one request on a new connection and return the parsed answer."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return Answer(response.status, response.headers, response.read())


def raw_answer(data: bytes) -> Answer:
    """Parse an answer already read whole from a connection."""

    class Replay:
        def makefile(self, *_: object, **__: object) -> io.BufferedReader:
            return io.BufferedReader(io.BytesIO(data))

    response = http.client.HTTPResponse(Replay())  # type: ignore[arg-type]
    response.begin()
    return Answer(response.status, response.headers, response.read())


def closed_by_peer(connection: socket.socket, timeout: float) -> bool:
    """True if the peer closes the connection within `timeout` seconds without sending data."""
    connection.settimeout(timeout)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def assert_problem(answer: Answer, status: int, request_id: str | None = None) -> dict[str, object]:
    """The answer is the proxy's problem document for `status`, with every contract header."""
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value, name
    problem: dict[str, object] = json.loads(answer.body)
    assert problem["type"] == "about:blank"
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["status"] == status
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    assert problem["instance"] == answer.headers["X-Request-ID"]
    if request_id is None:
        assert GENERATED_ID.fullmatch(answer.headers["X-Request-ID"])
    else:
        assert answer.headers["X-Request-ID"] == request_id
    return problem
