"""RFC 9457 problem details for calculator errors and for plain HTTP errors."""

from http import HTTPStatus
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from service.errors import CalculatorError
from service.json_provider import encode_json

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Calculator problems get a stable URN per kind; plain HTTP errors use "about:blank",
# whose title is by definition the status phrase (RFC 9457 section 4.2.1).
PROBLEM_TYPE_PREFIX = "urn:calculator:problem:"
BLANK_TYPE = "about:blank"


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


def problem_response(
    members: dict[str, Any], instance: str, headers: dict[str, str] | None = None
) -> Response:
    """Render problem members as an application/problem+json response."""
    body = encode_json({**members, "instance": instance})
    response = Response(body, status=members["status"], mimetype=PROBLEM_MEDIA_TYPE)
    if headers:
        response.headers.update(headers)
    return response


def http_problem(status: int, detail: str) -> dict[str, Any]:
    """Return the problem members of a plain HTTP error."""
    return {
        "type": BLANK_TYPE,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }


def describe_http_exception(error: HTTPException) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the problem members and headers (Allow on 405) for a Werkzeug HTTP error."""
    status = error.code or HTTPStatus.INTERNAL_SERVER_ERROR
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return http_problem(status, error.description or HTTPStatus(status).description), headers
