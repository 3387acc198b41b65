"""The gunicorn worker: gthread, with deadlines that keep idle and slow clients from holding it.

gunicorn's threaded worker serves kept-alive connections from a poller, but it
hands every new connection to a thread at once, where it may wait for its first
bytes, and a thread then reads headers and body with no deadline. A handful of
idle or trickling clients can so occupy every thread. Here:

- a new connection waits in the poller, costing no thread, until it has bytes
  (and is closed after ``keepalive`` seconds if none come);
- no read of a request waits more than READ_PAUSE_SECONDS for bytes, and none
  starts later than READ_SECONDS after the request's first bytes; past either
  the connection ends like one whose client went away, and a body that stalls
  gets a 408 from the application (service.web.api). So a slow client holds a
  thread for READ_SECONDS + READ_PAUSE_SECONDS at most. Behind a buffering proxy
  every request arrives whole and at once, and never meets these deadlines;
- a worker whose threads are all busy stops accepting, so the listening socket's
  other workers take new connections instead of queueing them behind slow ones.

Its main loop also writes out the access lines the logger batches
(service.runtime.logs), so none waits longer than ACCESS_DELAY_SECONDS or past
the worker's end.
"""

from __future__ import annotations

import errno
import selectors
import socket
import struct
import time
from functools import partial
from typing import Any

from gunicorn.http.errors import NoMoreData  # type: ignore[import-untyped]
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

from service.runtime.logs import ACCESS_DELAY_SECONDS

READ_SECONDS = 5.0
"""Longest time after a request's first bytes at which a read of it may start."""
READ_PAUSE_SECONDS = 0.5
"""Longest wait of one read for the next bytes of a request.

Short: a connection can become readable in a worker whose threads are all
held by stalled bodies, and then waits this long for one of them to let go.
"""
# The pause is the kernel's receive timeout (SO_RCVTIMEO), set once per connection:
# Python's own socket timeouts would cost a poll() before every read.
_RECEIVE_TIMEOUT = struct.pack(
    "ll", int(READ_PAUSE_SECONDS), int(READ_PAUSE_SECONDS % 1 * 1_000_000)
)


class _DeadlineReader:
    """The socket as the request parser sees it: reads past the deadlines are the end of input."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = 0.0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _RECEIVE_TIMEOUT)

    def recv(self, size: int) -> bytes:
        if time.monotonic() > self.deadline:
            raise NoMoreData(b"")
        try:
            return self._sock.recv(size)
        except (BlockingIOError, TimeoutError):
            raise NoMoreData(b"") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineConnection(TConn):  # type: ignore[misc]
    """A connection whose requests must arrive within the deadlines above."""

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

    def notify(self) -> None:
        """Tell the master this worker lives (every loop turn), and write due access lines."""
        super().notify()
        self._flush_access(older_than=ACCESS_DELAY_SECONDS)

    def run(self) -> None:
        """Serve until told to stop, then write every access line still waiting."""
        try:
            super().run()
        finally:
            self._flush_access(older_than=0.0)

    def _flush_access(self, *, older_than: float) -> None:
        # Any logger class may be configured; only the service's batches its lines.
        flush = getattr(self.log, "flush_access", None)
        if flush is not None:
            flush(older_than=older_than)

    def set_accept_enabled(self, enabled: bool) -> None:
        """Accept only while a thread is free, besides gunicorn's own connection limit."""
        super().set_accept_enabled(enabled and self._busy_threads < self.cfg.threads)

    def _refresh_accepting(self) -> None:
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
