"""GET /add, /subtract, ... /sqrt: one route per arithmetic operation."""

from collections.abc import Callable
from decimal import Decimal

from flask import Flask, Response, request

from service.arithmetic import OPERATIONS, Calculator, Operation
from service.json_provider import JSON_MEDIA_TYPE, encode_json
from service.numbers import format_number, parse_number
from service.query import read_query

View = Callable[[], Response]


def answer_writer(operation: Operation) -> Callable[[list[Decimal], Decimal], str]:
    """Build the JSON writer of ``operation``'s answers; its constant text is made once, here."""
    head = encode_json({"operation": operation.name})[:-1]
    keys = [f",{encode_json(name)}:" for name in operation.parameters]

    def write(operands: list[Decimal], result: Decimal) -> str:
        echoed = "".join(
            key + format_number(value) for key, value in zip(keys, operands, strict=True)
        )
        return f'{head}{echoed},"result":{format_number(result)}}}'

    return write


def operation_view(operation: Operation, calculator: Calculator, max_length: int) -> View:
    """Build the view for ``operation``: read the operands, compute, echo them with the result."""
    names = operation.parameters
    write = answer_writer(operation)

    def view() -> Response:
        given = read_query(request.args, names)
        operands = [
            parse_number(given.get(name), parameter=name, max_length=max_length) for name in names
        ]
        return Response(
            write(operands, operation.apply(calculator, *operands)), content_type=JSON_MEDIA_TYPE
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
