"""What every request and answer passes through: request id, security headers, metrics.

It works on the raw WSGI header list (sparing Werkzeug's per-header validation
of constant values), and every answer passes here, whichever part of Flask made
it. The request id is left in the WSGI environ for the problem documents, and
sent back in a header, where gunicorn's access log reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from service.runtime.metrics import RequestMetrics

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = "calculator.request_id"
"""WSGI environ key of the request id chosen here."""
REQUEST_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
"""A caller's id is kept only if short and log-safe: no spaces, quotes or control characters."""
_WELL_FORMED_ID = re.compile(REQUEST_ID_PATTERN)
UNMATCHED_ROUTE = "<unmatched>"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
    # Every answer is computed for one request; no cache may keep or share it.
    ("Cache-Control", "no-store"),
)


def choose_request_id(incoming: str | None) -> str:
    """Return ``incoming`` if it is a well-formed id, else a fresh random one."""
    if incoming is not None and _WELL_FORMED_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


class Envelope:
    """WSGI middleware around the Flask app: request id, security headers, metrics."""

    def __init__(self, app: WSGIApplication, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request through the wrapped app."""
        started = perf_counter()
        request_id = environ[REQUEST_ID_KEY] = choose_request_id(environ.get("HTTP_X_REQUEST_ID"))

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            headers.extend(SECURITY_HEADERS)
            headers.append((REQUEST_ID_HEADER, request_id))
            # Flask's request object (left in the environ by Werkzeug) knows the matched rule.
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            route = rule.rule if rule is not None else UNMATCHED_ROUTE
            self.metrics.observe(
                route, environ["REQUEST_METHOD"], int(status[:3]), perf_counter() - started
            )
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
