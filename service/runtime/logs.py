"""Logs as JSON lines: the service's own records, gunicorn's, and one access line per request.

Lines can then be parsed without regular expressions. The access line is built
from the WSGI environ, where the web layer leaves the request id and the route
template under the keys below: one line per request, and none of the header and
environ copying that gunicorn's format atoms would do.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger  # type: ignore[import-untyped]

REQUEST_ID_KEY = "calculator.request_id"
"""WSGI environ key of the request id the web layer chose."""
ROUTE_KEY = "calculator.route"
"""WSGI environ key of the matched route template (for logs and metrics labels)."""

ACCESS_BATCH_BYTES = 32_768
"""Access lines are written once this many bytes of them wait."""
ACCESS_DELAY_SECONDS = 0.5
"""Access lines wait at most about this long before they are written."""

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single JSON line."""
        entry: dict[str, Any] = {
            "time": format_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def format_time(created: float) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str) -> None:
    """Send the service's log records to stdout as JSON lines at ``level`` and above."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    service_logger = logging.getLogger("service")
    service_logger.handlers[:] = [handler]
    service_logger.setLevel(level)
    service_logger.propagate = False


def configuration_error_line(error: Exception) -> str:
    """The single log line that reports why the service refuses to start."""
    record = logging.makeLogRecord(
        {"name": "service.runtime.settings", "levelno": logging.CRITICAL, "levelname": "CRITICAL"}
    )
    record.msg = f"configuration error: {error}"
    return JsonFormatter().format(record)


def _text(value: Any) -> str:
    return "null" if value is None else encode_basestring_ascii(str(value))


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn logger class writing JSON lines (``logger_class`` in the gunicorn config).

    Access lines bypass the logging module and are written in batches: this runs once
    per request, where a log record, the handler's lock and one write per line cost
    more than the request (each write may wait for the container's log pipe and hand
    the interpreter lock to another thread). A batch goes out once it holds
    ACCESS_BATCH_BYTES, and the worker flushes whatever waits at least every
    ACCESS_DELAY_SECONDS (service.runtime.worker) and when it stops.
    """

    def setup(self, cfg: Config) -> None:
        """Install gunicorn's handlers, then make them write JSON."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        self._access_fd = sys.stdout.fileno() if cfg.accesslog == "-" else None
        self._second = -1
        self._second_text = ""
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._oldest = 0.0
        self._pending_lock = threading.Lock()

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Queue one JSON line for an answered request."""
        if self._access_fd is None:
            return
        status = resp.status
        code = int(status.split(None, 1)[0]) if isinstance(status, str) else int(status)
        sent = getattr(resp, "sent", None)
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        line = (
            f'{{"time":"{self._second_text}.{int(now % 1 * 1000):03d}Z","level":"INFO",'
            f'"logger":"gunicorn.access","request_id":{_text(environ.get(REQUEST_ID_KEY))},'
            f'"method":{_text(environ.get("REQUEST_METHOD"))},'
            f'"route":{_text(environ.get(ROUTE_KEY))},"path":{_text(environ.get("PATH_INFO"))},'
            f'"status":{code},"duration_ms":{request_time.total_seconds() * 1000:.3f},'
            f'"bytes":{"null" if sent is None else int(sent)},'
            f'"remote":{_text(environ.get("REMOTE_ADDR"))}}}\n'
        ).encode("ascii")
        with self._pending_lock:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(line)
            self._pending_bytes += len(line)
            if self._pending_bytes < ACCESS_BATCH_BYTES:
                return
            batch = self._take_pending()
        self._write(batch)

    def flush_access(self, *, older_than: float = 0.0) -> None:
        """Write the waiting access lines, if the oldest has waited ``older_than`` seconds."""
        with self._pending_lock:
            if not self._pending or time.monotonic() - self._oldest < older_than:
                return
            batch = self._take_pending()
        self._write(batch)

    def _take_pending(self) -> bytes:
        batch = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        return batch

    def _write(self, batch: bytes) -> None:
        view = memoryview(batch)
        while view and self._access_fd is not None:
            view = view[os.write(self._access_fd, view) :]
