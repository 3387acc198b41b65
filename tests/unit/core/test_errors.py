"""The domain error hierarchy: what the HTTP layer renders as problem details."""

from __future__ import annotations

import re

import pytest

from service.core import errors
from service.core.errors import (
    CalculatorError,
    DomainError,
    ExpressionSyntaxError,
    InputTooLargeError,
    InvalidInputError,
    error_types,
    quote_input,
)


def defined_errors() -> set[type[CalculatorError]]:
    """Every CalculatorError subclass defined in service.core.errors that has no subclass there."""
    found: set[type[CalculatorError]] = set()
    pending: list[type[CalculatorError]] = [CalculatorError]
    while pending:
        cls = pending.pop()
        children = [c for c in cls.__subclasses__() if c.__module__ == errors.__name__]
        if not children:
            found.add(cls)
        pending.extend(children)
    return found


def test_error_types_lists_every_leaf() -> None:
    """error_types() names every concrete error of the module, so documentation misses none."""
    assert set(error_types()) == defined_errors()
    assert len(error_types()) == len(set(error_types()))


@pytest.mark.parametrize("error", error_types(), ids=lambda cls: cls.__name__)
def test_problem_attributes(error: type[CalculatorError]) -> None:
    """Each error has its own kebab-case slug, a title, and 400 (input) or 422 (domain)."""
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", error.slug)
    assert error.title
    assert error.status == (422 if issubclass(error, DomainError) else 400)
    assert error.__name__.endswith("Error")


def test_slugs_are_unique() -> None:
    """No two errors share a problem type."""
    slugs = [error.slug for error in error_types()]
    assert len(slugs) == len(set(slugs))


def test_detail_and_parameter_kept() -> None:
    """The detail is the message; input errors also carry the parameter they concern."""
    error = InputTooLargeError("parameter 'a' is too long", parameter="a")
    assert (error.detail, error.parameter, str(error)) == (
        "parameter 'a' is too long",
        "a",
        "parameter 'a' is too long",
    )
    assert isinstance(error, InvalidInputError)


def test_syntax_error_carries_position() -> None:
    """An expression syntax error knows where parsing stopped."""
    error = ExpressionSyntaxError("at position 3: oops", parameter="expr", position=3)
    assert (error.position, error.parameter) == (3, "expr")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", "'12'"),
        ("a\nb", "'a\\nb'"),
        ("x" * 41, "'" + "x" * 40 + "'... (41 characters)"),
    ],
)
def test_quote_input(text: str, expected: str) -> None:
    """User text in details is escaped and truncated to a bounded length."""
    assert quote_input(text) == expected
