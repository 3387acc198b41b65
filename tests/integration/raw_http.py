"""HTTP at the socket level, for requests no client library will send: malformed, slow, cut."""

import http.client
import socket
from dataclasses import dataclass

from .docker_cli import LOOPBACK


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


def closed_by_peer(connection: socket.socket, timeout: float) -> bool:
    """True if the peer closes the connection within `timeout` seconds without sending data."""
    connection.settimeout(timeout)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
