"""The calculator's API Blueprint: GET /<operation> for each operation, GET and POST /evaluate.

Query strings are read strictly (an unknown or repeated parameter is an error,
not ignored) and request bodies are read here, bounded in size and in time,
whatever their framing: a chunked body over the limit is a 413 like one whose
Content-Length says so, and a body cut short is a 408. How long a body may take
to arrive is the proxy's to bound (docs/operations.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from service.core.calculator import OPERATIONS, Calculator, ComputeBudget, Operation
from service.core.errors import CalculatorError, MissingParameterError
from service.core.expression import PARAMETER, ExpressionLimits, evaluate
from service.core.numbers import format_number, parse_number
from service.web.exact_json import JSON_MEDIA_TYPE, encode_json
from service.web.problems import (
    InvalidBodyError,
    RepeatedParameterError,
    UnexpectedParameterError,
    UnsupportedMediaTypeError,
    describe_error,
)

BODY = "body"
_READ_SIZE = 16_384


@dataclass(frozen=True)
class ApiLimits:
    """The request bounds the API enforces on top of the core's own (named after settings)."""

    max_number_length: int
    max_batch_size: int
    max_body_bytes: int
    max_compute_ms: int


def create_api(
    calculator: Calculator, expressions: ExpressionLimits, limits: ApiLimits
) -> Blueprint:
    """The API Blueprint, computing with ``calculator`` within ``expressions`` and ``limits``."""
    api = Blueprint("api", __name__)
    for operation in OPERATIONS.values():
        api.add_url_rule(
            f"/{operation.name}",
            endpoint=operation.name,
            view_func=_operation_view(operation, calculator, limits.max_number_length),
            methods=["GET"],
            provide_automatic_options=False,
        )

    def evaluate_one(expression: str, budget: ComputeBudget) -> Decimal:
        return evaluate(expression, calculator=calculator, limits=expressions, budget=budget)

    def answer(index: int, expression: str, budget: ComputeBudget) -> dict[str, Any]:
        try:
            # Once the budget is spent, every item left gets the problem that says so.
            budget.check()
            return {"expression": expression, "result": evaluate_one(expression, budget)}
        except CalculatorError as error:
            problem = describe_error(error)
            if "parameter" in problem:
                problem["parameter"] = f"{BODY}[{index}]"
            return {"expression": expression, "problem": problem}

    def evaluate_query() -> dict[str, Any]:
        expression = read_query(request.args, (PARAMETER,)).get(PARAMETER)
        if expression is None:
            raise MissingParameterError(f"parameter {PARAMETER!r} is required", parameter=PARAMETER)
        budget = ComputeBudget(limits.max_compute_ms / 1000)
        return {"expression": expression, "result": evaluate_one(expression, budget)}

    def evaluate_batch() -> dict[str, Any]:
        read_query(request.args, ())
        expressions = read_batch(limits.max_batch_size, limits.max_body_bytes)
        budget = ComputeBudget(limits.max_compute_ms / 1000)
        return {"results": [answer(index, text, budget) for index, text in enumerate(expressions)]}

    views: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
        ("GET", evaluate_query),
        ("POST", evaluate_batch),
    )
    for method, view in views:
        api.add_url_rule(
            "/evaluate",
            endpoint=f"evaluate_{method.lower()}",
            view_func=view,
            methods=[method],
            provide_automatic_options=False,
        )
    return api


def _operation_view(
    operation: Operation, calculator: Calculator, max_length: int
) -> Callable[[], Response]:
    """The view of ``operation``: read the operands, compute, echo them with the result."""
    names = operation.parameters
    # The constant text of the answers is made once, here.
    head = encode_json({"operation": operation.name})[:-1]
    keys = [f",{encode_json(name)}:" for name in names]

    def view() -> Response:
        given = read_query(request.args, names)
        operands = [
            parse_number(given.get(name), parameter=name, max_length=max_length) for name in names
        ]
        result = operation.apply(calculator, *operands)
        echoed = "".join(
            key + format_number(value) for key, value in zip(keys, operands, strict=True)
        )
        return Response(
            f'{head}{echoed},"result":{format_number(result)}}}', content_type=JSON_MEDIA_TYPE
        )

    return view


def read_query(args: MultiDict[str, str], accepted: Collection[str]) -> dict[str, str]:
    """Return the single value of each parameter given; refuse unknown or repeated names."""
    values: dict[str, str] = {}
    for name, given in args.lists():
        if name not in accepted:
            expected = ", ".join(repr(item) for item in accepted) or "no parameters"
            raise UnexpectedParameterError(
                f"unexpected query parameter {name[:40]!r}; this endpoint takes {expected}",
                parameter=name[:40],
            )
        if len(given) > 1:
            raise RepeatedParameterError(
                f"query parameter {name!r} is given {len(given)} times; give it once",
                parameter=name,
            )
        values[name] = given[0]
    return values


def read_body(max_bytes: int) -> bytes:
    """The request body, whatever its framing, refused past ``max_bytes`` or when it stalls."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestEntityTooLarge(f"the request body exceeds the limit of {max_bytes} bytes")
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= max_bytes:
            chunk = stream.read(min(_READ_SIZE, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        # The client left, or the connection failed, before the whole body arrived.
        raise RequestTimeout("the request body stopped arriving before it was complete") from None
    if size > max_bytes:
        raise RequestEntityTooLarge(f"the request body exceeds the limit of {max_bytes} bytes")
    body = b"".join(chunks)
    if request.content_length is not None and len(body) < request.content_length:
        raise RequestTimeout("the request body ended before its Content-Length")
    return body


def read_batch(max_batch_size: int, max_body_bytes: int) -> list[str]:
    """Return the expressions of a POST /evaluate body; refuse any other shape."""
    if not request.is_json:
        raise UnsupportedMediaTypeError(
            "the body must be a JSON list of expressions sent as application/json",
            parameter=BODY,
        )
    body = read_body(max_body_bytes)
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidBodyError("the body is not valid JSON", parameter=BODY) from None
    except RecursionError:
        raise InvalidBodyError("the body nests too deeply to be read", parameter=BODY) from None
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
        if not _is_unicode_text(item):
            raise InvalidBodyError(
                f"item {index} of the body holds an unpaired surrogate escape, which is not text",
                parameter=f"{BODY}[{index}]",
            )
    return document


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
