"""What every request and answer passes through: request id, authentication, headers, metrics.

The route template and request id are left in the WSGI environ so gunicorn's
access log (service.gunicorn_logging) can write them without a second log line.
"""

import logging
from time import perf_counter

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

logger = logging.getLogger(__name__)

REQUEST_ID_KEY = "calculator.request_id"
ROUTE_KEY = "calculator.route"
STARTED_KEY = "calculator.started"
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
    """The id of the request in hand (made here if the request failed before it got one)."""
    environ = request.environ
    request_id: str | None = environ.get(REQUEST_ID_KEY)
    if request_id is None:
        request_id = environ[REQUEST_ID_KEY] = choose_request_id(environ.get("HTTP_X_REQUEST_ID"))
    return request_id


def install_envelope(app: Flask, metrics: RequestMetrics, api_keys: ApiKeys) -> None:
    """Register the request hooks and the problem+json error handlers on ``app``."""

    @app.before_request
    def begin() -> Response | None:
        environ = request.environ
        environ[STARTED_KEY] = perf_counter()
        environ[REQUEST_ID_KEY] = choose_request_id(environ.get("HTTP_X_REQUEST_ID"))
        if (
            api_keys.enabled
            and request.endpoint not in OPEN_ENDPOINTS
            and not api_keys.accepts(environ.get("HTTP_AUTHORIZATION"))
        ):
            detail = "this endpoint requires an Authorization: Bearer <API key> header"
            return problem_response(http_problem(401, detail), environ[REQUEST_ID_KEY], CHALLENGE)
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        environ = request.environ
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED_ROUTE
        environ[ROUTE_KEY] = route
        headers = response.headers
        headers[REQUEST_ID_HEADER] = current_request_id()
        headers.extend(SECURITY_HEADERS)
        started = environ.get(STARTED_KEY)
        if started is not None:
            metrics.observe(route, request.method, response.status_code, perf_counter() - started)
        return response

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
