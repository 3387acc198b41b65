"""What every request and answer passes through: request id, authentication, headers, metrics.

The route template and request id are left in the WSGI environ so gunicorn's
access log (service.gunicorn_logging) can write them without a second log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.auth import ApiKeys
from service.errors import CalculatorError
from service.metrics import RequestMetrics
from service.operations_routes import OPEN_ENDPOINTS, NotReadyError
from service.problems import (
    describe_error,
    describe_http_exception,
    http_problem,
    problem_response,
)
from service.request_id import REQUEST_ID_HEADER, choose_request_id

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "calculator.request_id"
ROUTE_KEY = "calculator.route"
UNMATCHED_ROUTE = "<unmatched>"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
    # Every answer is computed for one request; no cache may keep or share it.
    ("Cache-Control", "no-store"),
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="calculator"'}


def current_request_id() -> str:
    """The id of the request in hand (chosen by the Envelope before Flask saw the request)."""
    request_id: str = request.environ[REQUEST_ID_KEY]
    return request_id


class Envelope:
    """WSGI middleware around the Flask app: request id, security headers, metrics.

    Working on the raw WSGI header list spares Werkzeug's per-header validation of
    constant values, and every answer passes here, whichever part of Flask made it.
    """

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
            route = environ[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED_ROUTE
            self.metrics.observe(
                route,
                environ["REQUEST_METHOD"],
                int(status[:3]),
                perf_counter() - started,
            )
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def install_envelope(app: Flask, metrics: RequestMetrics, api_keys: ApiKeys) -> None:
    """Wrap ``app`` in the Envelope; register authentication and the problem+json handlers."""
    app.wsgi_app = Envelope(app.wsgi_app, metrics)  # type: ignore[method-assign]

    if api_keys.enabled:
        # Registered only when keys are configured: without keys no hook runs per request.

        @app.before_request
        def authenticate() -> Response | None:
            if request.endpoint in OPEN_ENDPOINTS or api_keys.accepts(
                request.environ.get("HTTP_AUTHORIZATION")
            ):
                return None
            detail = "this endpoint requires an Authorization: Bearer <API key> header"
            return problem_response(http_problem(401, detail), current_request_id(), CHALLENGE)

    @app.errorhandler(CalculatorError)
    def calculator_problem(error: CalculatorError) -> Response:
        return problem_response(describe_error(error), current_request_id())

    @app.errorhandler(NotReadyError)
    def not_ready_problem(error: NotReadyError) -> Response:
        return problem_response(error.problem, current_request_id())

    @app.errorhandler(HTTPException)
    def http_error_problem(error: HTTPException) -> Response:
        members, headers = describe_http_exception(error)
        if isinstance(error, RequestEntityTooLarge):
            members["detail"] = (
                f"the request body exceeds the limit of {app.config['MAX_CONTENT_LENGTH']} bytes"
            )
        return problem_response(members, current_request_id(), headers)

    @app.errorhandler(Exception)
    def unexpected_problem(error: Exception) -> Response:
        request_id = current_request_id()
        logger.exception("unexpected error", extra={"request_id": request_id})
        detail = f"an unexpected error occurred; quote request id {request_id} when reporting it"
        return problem_response(http_problem(500, detail), request_id)
