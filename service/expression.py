"""Arithmetic expressions: numbers, + - * / % **, unary signs, parentheses, sqrt().

User text is never handed to ``eval``, ``exec``, ``compile`` or ``ast``: those
accept far more than arithmetic and fail on deep nesting with RecursionError
or MemoryError. Instead the text is bounded in length, split by
``service.expression_tokens``, and parsed by ``service.expression_parser``
(which bounds node count and nesting depth) into a postfix program, all
before any arithmetic runs. The program is then run with an explicit stack,
so a long flat expression cannot exhaust the Python stack either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from service.arithmetic import Calculator
from service.errors import DomainError, InputTooLargeError
from service.expression_parser import Step, parse
from service.expression_tokens import PARAMETER, tokenize

__all__ = ["MAX_MAX_DEPTH", "PARAMETER", "ExpressionLimits", "evaluate"]

MAX_MAX_DEPTH = 100
"""A nesting level costs the parser up to six Python frames: 600 stays far below the limit."""


@dataclass(frozen=True)
class ExpressionLimits:
    """Bounds checked before any arithmetic: text length, node count, nesting depth."""

    max_length: int = 1000
    max_nodes: int = 200
    max_depth: int = 32

    def __post_init__(self) -> None:
        for name, value, ceiling in (
            ("max_length", self.max_length, 100_000),
            ("max_nodes", self.max_nodes, 10_000),
            ("max_depth", self.max_depth, MAX_MAX_DEPTH),
        ):
            if not 1 <= value <= ceiling:
                raise ValueError(f"{name} must be between 1 and {ceiling}, not {value}")


_BINARY: dict[str, Callable[[Calculator, Decimal, Decimal], Decimal]] = {
    "+": Calculator.add,
    "-": Calculator.subtract,
    "*": Calculator.multiply,
    "/": Calculator.divide,
    "%": Calculator.mod,
    "**": Calculator.power,
}
_UNARY: dict[str, Callable[[Calculator, Decimal], Decimal]] = {
    "negate": Calculator.negate,
    "plus": Calculator.plus,
    "sqrt": Calculator.sqrt,
}


def evaluate(expression: str, *, calculator: Calculator, limits: ExpressionLimits) -> Decimal:
    """The value of ``expression``, computed by ``calculator``.

    Raises:
        InputTooLargeError: the text, its node count or its nesting exceeds ``limits``.
        ExpressionSyntaxError: the text is not an expression; the detail says where.
        DomainError: an operation has no acceptable result (its detail says where).
    """
    if len(expression) > limits.max_length:
        raise InputTooLargeError(
            f"the expression is {len(expression)} characters long; the limit is "
            f"{limits.max_length}",
            parameter=PARAMETER,
        )
    program = parse(tokenize(expression), max_nodes=limits.max_nodes, max_depth=limits.max_depth)
    return _run(program, calculator)


def _run(program: list[Step], calculator: Calculator) -> Decimal:
    """Evaluate a postfix program with an explicit stack (no recursion)."""
    stack: list[Decimal] = []
    for step in program:
        try:
            if step.value is not None:
                stack.append(calculator.plus(step.value))
            elif step.kind in _UNARY:
                stack.append(_UNARY[step.kind](calculator, stack.pop()))
            else:
                right = stack.pop()
                stack.append(_BINARY[step.kind](calculator, stack.pop(), right))
        except DomainError as error:
            raise type(error)(f"at position {step.position}: {error.detail}") from error
    return stack.pop()
