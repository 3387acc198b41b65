"""The gunicorn worker: gthread, with deadlines that keep idle and slow clients from holding it.

gunicorn's threaded worker serves kept-alive connections from a poller, but it
hands every new connection to a thread at once, where it may wait for its first
bytes, and a thread then reads headers and body with no deadline. A handful of
idle or trickling clients can so occupy every thread. Here:

- a new connection waits in the poller, costing no thread, until it has bytes
  (and is closed after ``keepalive`` seconds if none come);
- a request, headers and body, must arrive within READ_SECONDS of its first
  bytes; past that the connection ends like one whose client went away, and a
  body that stalls gets a 408 from the application (service.web.api). Behind a
  buffering proxy every request arrives whole and at once, so only clients that
  reach the service directly ever meet this deadline;
- a worker whose threads are all busy stops accepting, so the listening socket's
  other workers take new connections instead of queueing them behind slow ones.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http.errors import NoMoreData  # type: ignore[import-untyped]
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

READ_SECONDS = 5.0
"""Longest time a request, headers and body, may take to arrive once it has begun."""


class _DeadlineReader:
    """The socket as the request parser sees it: reads past the deadline are the end of input."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = 0.0

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise NoMoreData(b"")
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size)
        except TimeoutError:
            raise NoMoreData(b"") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineConnection(TConn):  # type: ignore[misc]
    """A connection whose every request gets READ_SECONDS to arrive, from its first bytes."""

    def init(self) -> None:
        # The worker calls this as it takes each request of the connection in hand.
        super().init()
        reader = self.parser.unreader.sock
        if not isinstance(reader, _DeadlineReader):
            reader = self.parser.unreader.sock = _DeadlineReader(self.sock)
        reader.deadline = time.monotonic() + READ_SECONDS


class DeadlineWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with the deadlines described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy_threads = 0

    def accept(self, listener: socket.socket) -> None:
        """Take a connection and let it wait, threadless, in the poller until it has bytes."""
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        connection = _DeadlineConnection(self.cfg, client, address, listener.getsockname())
        connection.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(connection)
        self.poller.register(
            connection.sock,
            selectors.EVENT_READ,
            partial(self.on_pending_socket_readable, connection),
        )

    def enqueue_req(self, conn: Any) -> None:
        """Hand a connection with bytes waiting to a thread."""
        self._busy_threads += 1
        self._refresh_accepting()
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """Take back a connection from its thread (on the worker's main thread)."""
        self._busy_threads -= 1
        super().finish_request(conn, fs)
        self._refresh_accepting()

    def set_accept_enabled(self, enabled: bool) -> None:
        """Accept only while a thread is free, besides gunicorn's own connection limit."""
        super().set_accept_enabled(enabled and self._busy_threads < self.cfg.threads)

    def _refresh_accepting(self) -> None:
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
