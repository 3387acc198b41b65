"""python -m service.runtime.healthcheck: exit 0 only if /livez answers 200 in time."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from gunicorn_process import REPO_ROOT, free_port

from service.runtime.healthcheck import is_alive


def serve(status: int) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/livez" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def healthy_port() -> Iterator[int]:
    yield from serve(200)


@pytest.fixture
def failing_port() -> Iterator[int]:
    yield from serve(503)


def test_alive_when_livez_answers_200(healthy_port: int) -> None:
    """A 200 from /livez means alive."""
    assert is_alive(healthy_port)


def test_not_alive_on_error_status(failing_port: int) -> None:
    """Any other status means not alive."""
    assert not is_alive(failing_port)


def test_not_alive_when_nothing_listens() -> None:
    """A refused connection means not alive, without an exception."""
    assert not is_alive(free_port())


def run_module(port: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "service.runtime.healthcheck"],
        cwd=REPO_ROOT,
        env={"PORT": port},
        timeout=10,
        check=False,
    ).returncode


def test_module_exit_status_follows_liveness(healthy_port: int) -> None:
    """The command exits 0 against a live port and 1 against a dead one or a bad PORT."""
    assert run_module(str(healthy_port)) == 0
    assert run_module(str(free_port())) == 1
    assert run_module("eighty") == 1
