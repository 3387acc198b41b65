"""The gunicorn worker: gthread, with deadlines that keep idle and slow clients from holding it.

gunicorn's threaded worker serves kept-alive connections from a poller, but it
hands every new connection to a thread at once, where it may wait for its first
bytes, and a thread then reads headers and body with no deadline. A handful of
idle or trickling clients can so occupy every thread. Here:

- a new connection waits in the poller, costing no thread, until it has bytes
  (and is closed after ``keepalive`` seconds if none come); one whose bytes are
  already in, as a proxy's are, goes to a thread at once;
- no read of a request waits more than READ_PAUSE_SECONDS for bytes, and none
  starts later than READ_SECONDS after the request's first bytes; past either
  the connection ends like one whose client went away, and a body that stalls
  gets a 408 from the application (service.web.api). So a slow client holds a
  thread for READ_SECONDS + READ_PAUSE_SECONDS at most. Behind a buffering proxy
  every request arrives whole and at once, and never meets these deadlines;
- a worker whose threads are all busy stops accepting, so the listening socket's
  other workers take new connections instead of queueing them behind slow ones;
- a connection closed after its response lingers in the poller, not in the main
  loop: gunicorn's own lingering close waits there, blocking, for the client to
  close too, so a few clients that never close after ``Connection: close`` could
  stall the worker two seconds each.

Its main loop also writes out the access lines the logger batches
(service.runtime.logs), so none waits longer than ACCESS_DELAY_SECONDS or past
the worker's end.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
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
LINGER_SECONDS = 2.0
"""Longest wait, after a response that ends its connection, for the client to close too.

Meanwhile request bytes still arriving are read and dropped (at most LINGER_DRAIN_BYTES),
so the kernel does not answer them with a reset that could cut the response short
(RFC 9112, section 9.6). gunicorn's own bounds, kept."""
LINGER_DRAIN_BYTES = 65536
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


def _has_bytes(sock: socket.socket) -> bool:
    """Whether bytes (or the client's close) wait on a non-blocking socket."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True  # an error the thread's first read will meet and end the connection on
    return True


@dataclass
class _Lingering:
    """A connection closed for writing, waiting in the poller for its client to close."""

    sock: socket.socket
    deadline: float
    drained: int = 0
    closed: bool = False


class _DeadlineConnection(TConn):  # type: ignore[misc]
    """A connection whose requests must arrive within the deadlines above."""

    linger: Callable[[socket.socket], None] | None = None
    """Set by the worker: takes over the socket for a lingering close."""

    def close(self, graceful: bool = False) -> None:
        """Close; a graceful close (after a response) lingers in the worker's poller."""
        if graceful and self.linger is not None:
            self.linger(self.sock)
        else:
            super().close(graceful)

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
        self._lingering: deque[_Lingering] = deque()

    def accept(self, listener: socket.socket) -> None:
        """Take a connection: to a thread if it has bytes, else to wait threadless in the poller."""
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        connection = _DeadlineConnection(self.cfg, client, address, listener.getsockname())
        connection.timeout = time.monotonic() + self.cfg.keepalive
        connection.linger = self._linger
        if _has_bytes(client):
            # The usual case behind a proxy, which sends its request as it connects:
            # straight to a thread, without a turn through the poller.
            connection.data_ready = True
            self.enqueue_req(connection)
            return
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

    def murder_pending(self) -> None:
        """Close connections that waited too long for their first bytes, or lingered."""
        super().murder_pending()
        now = time.monotonic()
        while self._lingering and (self._lingering[0].deadline <= now or self._lingering[0].closed):
            self._close_lingering(self._lingering.popleft())

    def run(self) -> None:
        """Serve until told to stop, then write every access line still waiting."""
        try:
            super().run()
        finally:
            while self._lingering:
                self._close_lingering(self._lingering.popleft())
            self._flush_access(older_than=0.0)

    def _linger(self, sock: socket.socket) -> None:
        # Called on the main thread, where gunicorn closes a connection after its response.
        # Never raises: gunicorn has already counted the connection as closed.
        lingering = _Lingering(sock, time.monotonic() + LINGER_SECONDS)
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, partial(self._drain, lingering))
        except (OSError, ValueError, KeyError):
            sock.close()
            return
        self._lingering.append(lingering)

    def _drain(self, lingering: _Lingering, _sock: socket.socket) -> None:
        try:
            data = lingering.sock.recv(LINGER_DRAIN_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        lingering.drained += len(data)
        if not data or lingering.drained >= LINGER_DRAIN_BYTES:
            self._close_lingering(lingering)

    def _close_lingering(self, lingering: _Lingering) -> None:
        if lingering.closed:
            return
        lingering.closed = True
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(lingering.sock)
        lingering.sock.close()

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
