"""GET /evaluate (one expression) and POST /evaluate (a JSON list, one answer per item)."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from service.arithmetic import Calculator
from service.errors import CalculatorError, InvalidInputError, MissingParameterError
from service.expression import PARAMETER, ExpressionLimits, evaluate
from service.problems import describe_error
from service.query import read_query

BODY = "body"


class InvalidBodyError(InvalidInputError):
    """The POST body is not a JSON list of expression strings within the batch bound."""

    slug = "invalid-body"
    title = "Invalid request body"


class UnsupportedMediaTypeError(InvalidInputError):
    """The POST body is not declared as JSON."""

    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


def read_batch(max_batch_size: int) -> list[str]:
    """Return the expressions of a POST /evaluate body; refuse any other shape."""
    if not request.is_json:
        raise UnsupportedMediaTypeError(
            "the body must be a JSON list of expressions sent as application/json",
            parameter=BODY,
        )
    try:
        document = request.get_json()
    except BadRequest:
        raise InvalidBodyError("the body is not valid JSON", parameter=BODY) from None
    if not isinstance(document, list):
        raise InvalidBodyError(
            'the body must be a JSON list of expression strings, e.g. ["1 + 2", "sqrt(2)"]',
            parameter=BODY,
        )
    if len(document) > max_batch_size:
        raise InvalidBodyError(
            f"the body holds {len(document)} expressions; the limit is {max_batch_size}",
            parameter=BODY,
        )
    for index, item in enumerate(document):
        if not isinstance(item, str):
            raise InvalidBodyError(
                f"item {index} of the body is not a string", parameter=f"{BODY}[{index}]"
            )
    return document


def register_evaluate_routes(
    app: Flask, calculator: Calculator, limits: ExpressionLimits, max_batch_size: int
) -> None:
    """Add GET and POST /evaluate, sharing one calculator and one set of bounds."""

    def evaluate_one(expression: str) -> Decimal:
        return evaluate(expression, calculator=calculator, limits=limits)

    def answer(index: int, expression: str) -> dict[str, Any]:
        try:
            return {"expression": expression, "result": evaluate_one(expression)}
        except CalculatorError as error:
            problem = describe_error(error)
            if "parameter" in problem:
                problem["parameter"] = f"{BODY}[{index}]"
            return {"expression": expression, "problem": problem}

    def evaluate_query() -> dict[str, Any]:
        expression = read_query(request.args, (PARAMETER,)).get(PARAMETER)
        if expression is None:
            raise MissingParameterError(f"parameter {PARAMETER!r} is required", parameter=PARAMETER)
        return {"expression": expression, "result": evaluate_one(expression)}

    def evaluate_batch() -> dict[str, Any]:
        read_query(request.args, ())
        return {
            "results": [
                answer(index, text) for index, text in enumerate(read_batch(max_batch_size))
            ]
        }

    routes: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
        ("GET", evaluate_query),
        ("POST", evaluate_batch),
    )
    for method, view in routes:
        app.add_url_rule(
            "/evaluate", endpoint=f"evaluate_{method.lower()}", view_func=view, methods=[method]
        )
