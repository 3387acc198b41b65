"""GET /add, /subtract, ... /sqrt: one route per arithmetic operation."""

from collections.abc import Callable
from decimal import Decimal

from flask import Flask, Response, request

from service.arithmetic import OPERATIONS, Calculator, Operation
from service.json_provider import json_response
from service.numbers import parse_number
from service.query import read_query

View = Callable[[], Response]


def operation_view(operation: Operation, calculator: Calculator, max_length: int) -> View:
    """Build the view for ``operation``: read the operands, compute, echo them with the result."""
    names = operation.parameters

    def view() -> Response:
        given = read_query(request.args, names)
        operands: list[Decimal] = [
            parse_number(given.get(name), parameter=name, max_length=max_length) for name in names
        ]
        result = operation.apply(calculator, *operands)
        return json_response(
            {
                "operation": operation.name,
                **dict(zip(names, operands, strict=True)),
                "result": result,
            }
        )

    return view


def register_operation_routes(app: Flask, calculator: Calculator, max_length: int) -> None:
    """Add a GET route for every operation the calculator offers."""
    for operation in OPERATIONS.values():
        app.add_url_rule(
            f"/{operation.name}",
            endpoint=operation.name,
            view_func=operation_view(operation, calculator, max_length),
            methods=["GET"],
        )
