"""The calculation core's errors: the only exceptions the core raises.

Each class carries what an RFC 9457 problem needs (``slug`` for the type URI,
``title``, ``status``) so the HTTP layer can render any of them without a table
of its own. ``detail`` is one human sentence about this occurrence.
"""

from __future__ import annotations

from typing import ClassVar

_QUOTE_LIMIT = 40


def quote_input(text: str, *, limit: int = _QUOTE_LIMIT) -> str:
    """Quote user text for an error detail: escaped, and truncated so details stay short."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class CalculatorError(Exception):
    """Base class: something about the request makes a calculation impossible."""

    slug: ClassVar[str] = "calculator-error"
    title: ClassVar[str] = "Calculation failed"
    status: ClassVar[int] = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInputError(CalculatorError):
    """The input is missing or malformed; ``parameter`` names the offending field."""

    slug = "invalid-input"
    title = "Invalid input"
    status = 400

    def __init__(self, detail: str, *, parameter: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


class MissingParameterError(InvalidInputError):
    """A required parameter was not given at all."""

    slug = "missing-parameter"
    title = "Missing parameter"


class InvalidNumberError(InvalidInputError):
    """A parameter is not a number in the accepted grammar."""

    slug = "invalid-number"
    title = "Invalid number"


class ExpressionSyntaxError(InvalidInputError):
    """An expression does not follow the expression grammar.

    ``position`` is the 1-based character index where parsing stopped.
    """

    slug = "invalid-expression"
    title = "Invalid expression"

    def __init__(self, detail: str, *, parameter: str, position: int) -> None:
        super().__init__(detail, parameter=parameter)
        self.position = position


class InputTooLargeError(InvalidInputError):
    """An input exceeds a size bound: length, exponent digits, node count or nesting depth."""

    slug = "input-too-large"
    title = "Input too large"


class DomainError(CalculatorError):
    """The input is well formed but the operation has no acceptable result."""

    slug = "domain-error"
    title = "No result in the calculator's domain"
    status = 422


class DivisionByZeroError(DomainError):
    """A non-zero number divided (or reduced modulo) by zero."""

    slug = "division-by-zero"
    title = "Division by zero"


class NegativeSquareRootError(DomainError):
    """The square root of a negative number (no real result)."""

    slug = "negative-square-root"
    title = "Square root of a negative number"


class UndefinedResultError(DomainError):
    """An operation whose result is mathematically undefined: 0/0, 0**-1, (-8)**0.5."""

    slug = "undefined-result"
    title = "Undefined result"


class ResultTooLargeError(DomainError):
    """The result's magnitude exceeds the configured bound."""

    slug = "result-too-large"
    title = "Result too large"


class ResultTooSmallError(DomainError):
    """A non-zero result is closer to zero than the configured bound allows."""

    slug = "result-too-small"
    title = "Result too small"


class OperandOutOfRangeError(DomainError):
    """An operand's magnitude lies outside the configured bound."""

    slug = "operand-out-of-range"
    title = "Operand out of range"


class TooMuchWorkError(DomainError):
    """The request needs more computation than its budget allows.

    A 422, not a 503: the same request at the same settings would need the same work
    again, so the client must simplify it or split the batch rather than retry.
    """

    slug = "too-much-work"
    title = "Too much work"


def error_types() -> tuple[type[CalculatorError], ...]:
    """Every concrete error the core raises, e.g. to document problem types."""
    return (
        MissingParameterError,
        InvalidNumberError,
        ExpressionSyntaxError,
        InputTooLargeError,
        DivisionByZeroError,
        NegativeSquareRootError,
        UndefinedResultError,
        ResultTooLargeError,
        ResultTooSmallError,
        OperandOutOfRangeError,
        TooMuchWorkError,
    )
