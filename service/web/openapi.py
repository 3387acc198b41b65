"""The OpenAPI 3.1 document, generated from the operations, the error types and the settings,
and the Blueprint serving it at GET /openapi.json."""

import json
from typing import Any

from flask import Blueprint, Response

from service.core.calculator import OPERATIONS
from service.core.expression import PARAMETER
from service.core.numbers import NUMBER_PATTERN
from service.runtime.settings import Settings
from service.web.exact_json import JSON_MEDIA_TYPE
from service.web.middleware import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from service.web.problems import PROBLEM_MEDIA_TYPE, problem_kinds, problem_type

CALCULATION_PROBLEMS = ("400", "401", "422")
ALWAYS_POSSIBLE = ("405", "500")
# A key is needed only when the operator configures keys; {} allows calls without one.
OPTIONAL_API_KEY: list[dict[str, list[str]]] = [{"apiKey": []}, {}]


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}},
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}},
        "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _responses(ok: dict[str, Any], problems: tuple[str, ...]) -> dict[str, Any]:
    refs = {code: {"$ref": f"#/components/responses/{code}"} for code in problems}
    return {"200": ok, **refs}


def _number_parameter(name: str, settings: Settings) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": "A decimal number: optional sign, digits, fraction, exponent (ASCII).",
        "schema": {
            "type": "string",
            "pattern": NUMBER_PATTERN,
            "maxLength": settings.max_number_length,
            "examples": ["1", "-12.5e-3"],
        },
    }


def _operation_paths(settings: Settings) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for operation in OPERATIONS.values():
        paths[f"/{operation.name}"] = {
            "get": {
                "operationId": operation.name,
                "summary": operation.summary,
                "tags": ["arithmetic"],
                "security": OPTIONAL_API_KEY,
                "parameters": [_number_parameter(name, settings) for name in operation.parameters],
                "responses": _responses(
                    _json_response("The operands and the result.", "OperationResult"),
                    CALCULATION_PROBLEMS + ALWAYS_POSSIBLE,
                ),
            }
        }
    return paths


def _evaluate_path(settings: Settings) -> dict[str, Any]:
    expression_schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_expression_length,
    }
    return {
        "get": {
            "operationId": "evaluate",
            "security": OPTIONAL_API_KEY,
            "summary": "Evaluate one expression: numbers, + - * / % **, parentheses, sqrt().",
            "tags": ["expressions"],
            "parameters": [
                {"name": PARAMETER, "in": "query", "required": True, "schema": expression_schema}
            ],
            "responses": _responses(
                _json_response("The expression and its value.", "EvaluationResult"),
                CALCULATION_PROBLEMS + ALWAYS_POSSIBLE,
            ),
        },
        "post": {
            "operationId": "evaluateBatch",
            "security": OPTIONAL_API_KEY,
            "summary": "Evaluate a list of expressions; each item gets a result or a problem.",
            "tags": ["expressions"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            # Any string is a valid item: one that is empty, too long or
                            # not an expression gets a problem of its own in the answer.
                            "items": {"type": "string"},
                            "maxItems": settings.max_batch_size,
                        }
                    }
                },
            },
            "responses": _responses(
                _json_response("One answer per expression, in order.", "BatchResult"),
                ("400", "401", "408", "413", "415", "422", *ALWAYS_POSSIBLE),
            ),
        },
    }


def _operations_paths() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/livez": {
            "get": {
                "operationId": "livez",
                "summary": "Liveness: the process answers.",
                "tags": ["operations"],
                "responses": _responses(_json_response("Alive.", "Status"), ALWAYS_POSSIBLE),
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics of all workers.",
                "tags": ["operations"],
                "responses": _responses(
                    {"description": "Prometheus text exposition format.", "content": text},
                    ALWAYS_POSSIBLE,
                ),
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "tags": ["operations"],
                "responses": _responses(
                    {
                        "description": "OpenAPI 3.1 document.",
                        "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
                    },
                    ALWAYS_POSSIBLE,
                ),
            }
        },
    }


def _schemas() -> dict[str, Any]:
    kinds = [problem_type(kind.slug) for kind in problem_kinds()]
    members: dict[str, Any] = {
        "type": {"type": "string", "description": "about:blank or one of: " + ", ".join(kinds)},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "parameter": {"type": "string", "description": "The input at fault (400 only)."},
    }
    required = ["type", "title", "status", "detail"]
    problem = {
        "type": "object",
        "required": [*required, "instance"],
        "properties": {**members, "instance": {"type": "string", "description": "Request id."}},
    }
    # A batch item's problem has no instance of its own: the batch response carries the id.
    item_problem = {"type": "object", "required": required, "properties": members}
    return {
        "Problem": problem,
        "OperationResult": {
            "type": "object",
            "required": ["operation", "a", "result"],
            "properties": {
                "operation": {"type": "string", "enum": list(OPERATIONS)},
                "a": {"type": "number"},
                "b": {"type": "number"},
                "result": {"type": "number"},
            },
        },
        "EvaluationResult": {
            "type": "object",
            "required": ["expression", "result"],
            "properties": {"expression": {"type": "string"}, "result": {"type": "number"}},
        },
        "BatchResult": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["expression"],
                        "properties": {
                            "expression": {"type": "string"},
                            "result": {"type": "number"},
                            "problem": item_problem,
                        },
                    },
                }
            },
        },
        "Status": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}},
        },
    }


RESPONSE_DESCRIPTIONS = {
    "400": "Missing, malformed, unexpected or too large input; `parameter` names it.",
    "401": "API keys are configured and the request carries none of them.",
    "405": "Method not allowed; the Allow header lists the allowed ones.",
    "408": "The request body stopped arriving before it was complete.",
    "413": "The request body exceeds max_body_bytes.",
    "415": "The request body is not application/json.",
    "422": "Well-formed input without a result: division by zero, too large, too much work.",
    "500": "Unexpected server error (no details are disclosed).",
}


def build_openapi(settings: Settings, version: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for a service running with ``settings``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "calculator-service",
            "version": version,
            "description": "Exact decimal arithmetic over HTTP. Errors are RFC 9457 problems.",
        },
        "paths": {
            **_operation_paths(settings),
            "/evaluate": _evaluate_path(settings),
            **_operations_paths(),
        },
        "components": {
            "schemas": _schemas(),
            "headers": {
                "RequestId": {
                    "description": "The caller's well-formed id, or a generated one.",
                    "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
                }
            },
            "responses": {
                code: _problem_response(text) for code, text in RESPONSE_DESCRIPTIONS.items()
            },
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def create_openapi_endpoint(document: dict[str, Any]) -> Blueprint:
    """The Blueprint serving ``document`` at GET /openapi.json (never behind an API key)."""
    endpoint = Blueprint("openapi", __name__)
    # The document never changes while the process runs: serialise it once.
    body = json.dumps(document, indent=1)

    def openapi_view() -> Response:
        return Response(body, content_type=JSON_MEDIA_TYPE)

    endpoint.add_url_rule(
        "/openapi.json", view_func=openapi_view, methods=["GET"], provide_automatic_options=False
    )
    return endpoint
