"""Answers as exact JSON, and every error as an RFC 9457 problem.

Calculator problems get a stable URN per kind (``urn:calculator:problem:<slug>``);
plain HTTP errors use ``about:blank``, whose title is by definition the status
phrase (RFC 9457 section 4.2.1).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from service.core.errors import CalculatorError, InvalidInputError, error_types
from service.web.exact_json import encode_json
from service.web.middleware import REQUEST_ID_KEY

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:calculator:problem:"
BLANK_TYPE = "about:blank"


class UnexpectedParameterError(InvalidInputError):
    """A query parameter the endpoint does not take (often a typo such as ``?A=1``)."""

    slug = "unexpected-parameter"
    title = "Unexpected parameter"


class RepeatedParameterError(InvalidInputError):
    """A query parameter given more than once (``?a=1&a=2``): which one was meant is unknown."""

    slug = "repeated-parameter"
    title = "Repeated parameter"


class InvalidBodyError(InvalidInputError):
    """The POST body is not a JSON list of expression strings within the batch bound."""

    slug = "invalid-body"
    title = "Invalid request body"


class UnsupportedMediaTypeError(InvalidInputError):
    """The POST body is not declared as JSON."""

    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


def problem_kinds() -> tuple[type[CalculatorError], ...]:
    """Every calculator problem the service answers with: the core's and the web layer's."""
    return (
        *error_types(),
        UnexpectedParameterError,
        RepeatedParameterError,
        InvalidBodyError,
        UnsupportedMediaTypeError,
    )


def problem_type(slug: str) -> str:
    """Return the type URI of a calculator problem."""
    return f"{PROBLEM_TYPE_PREFIX}{slug}"


def describe_error(error: CalculatorError) -> dict[str, Any]:
    """Return the problem members of a calculator error, without ``instance``."""
    members: dict[str, Any] = {
        "type": problem_type(error.slug),
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    parameter = getattr(error, "parameter", None)
    if parameter is not None:
        members["parameter"] = parameter
    return members


def http_problem(status: int, detail: str) -> dict[str, Any]:
    """Return the problem members of a plain HTTP error."""
    return {
        "type": BLANK_TYPE,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }


def problem_response(members: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Render problem members as an application/problem+json answer to the current request."""
    body = encode_json({**members, "instance": request.environ[REQUEST_ID_KEY]})
    response = Response(body, status=members["status"], mimetype=PROBLEM_MEDIA_TYPE)
    if headers:
        response.headers.update(headers)
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error as a problem: calculator errors, HTTP errors and the unexpected."""

    @app.errorhandler(CalculatorError)
    def calculator_problem(error: CalculatorError) -> Response:
        return problem_response(describe_error(error))

    @app.errorhandler(HTTPException)
    def http_error_problem(error: HTTPException) -> Response:
        status = error.code or HTTPStatus.INTERNAL_SERVER_ERROR
        headers: dict[str, str] = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        detail = error.description or HTTPStatus(status).description
        return problem_response(http_problem(status, detail), headers)

    @app.errorhandler(Exception)
    def unexpected_problem(error: Exception) -> Response:
        request_id = request.environ[REQUEST_ID_KEY]
        logger.exception("unexpected error", extra={"request_id": request_id})
        detail = f"an unexpected error occurred; quote request id {request_id} when reporting it"
        return problem_response(http_problem(500, detail))
