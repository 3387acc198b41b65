"""The gunicorn worker (service.runtime.worker) in a real gunicorn: connections closed
after their response linger in the poller, never in the worker's main loop."""

import socket
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest
import requests
from gunicorn_process import GunicornServer

from service.runtime.worker import LINGER_SECONDS

CLOSING_REQUEST = b"GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
HELD = 5


def read_to_end(connection: socket.socket) -> bytes:
    """Everything the server sends until it stops writing."""
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received


def test_clients_that_never_close_neither_stall_the_worker_nor_stay_open(
    gunicorn_server: Callable[..., GunicornServer],
) -> None:
    """Clients that keep their end open after a `Connection: close` answer cost the worker no
    wait: with one worker and five such clients, other requests are answered within the
    linger time each (a blocking linger would hold each of them up for all five clients),
    and each held connection is closed once the linger time is over."""
    server = gunicorn_server({"WEB_CONCURRENCY": "1"})
    with ExitStack() as stack:
        held = []
        for _ in range(HELD):
            connection = stack.enter_context(
                socket.create_connection(("127.0.0.1", server.port), timeout=10)
            )
            connection.sendall(CLOSING_REQUEST)
            held.append(connection)
        for connection in held:
            assert read_to_end(connection).startswith(b"HTTP/1.1 200 ")
        # Written after the answers, so the worker is lingering on all five meanwhile.
        for _ in range(HELD):
            started = time.monotonic()
            assert requests.get(f"{server.url}/livez", timeout=10).status_code == 200
            assert time.monotonic() - started < LINGER_SECONDS
        time.sleep(LINGER_SECONDS + 1.5)
        for connection in held:
            # A socket the server has closed answers bytes with a reset; the next send fails.
            connection.sendall(b"late")
            time.sleep(0.2)
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                connection.sendall(b"late")
