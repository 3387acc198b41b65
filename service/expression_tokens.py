"""The tokenizer of arithmetic expressions: numbers, operators, parentheses and names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from service.errors import ExpressionSyntaxError
from service.numbers import UNSIGNED_NUMBER, literal_value

PARAMETER = "expr"
"""Errors about an expression name the field that carries it."""

# One pattern for every token: a single regex match per token keeps long inputs cheap.
_TOKEN = re.compile(
    rf"(?P<number>{UNSIGNED_NUMBER})"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>\*\*|[-+*/%()])"  # "**" before "*": the longest operator wins
)
_BLANKS = " \t"


@dataclass(frozen=True)
class Token:
    """One lexical unit: ``kind`` is "number", "name", "end" or the operator text."""

    kind: str
    text: str
    position: int  # 1-based, as people count characters
    value: Decimal | None = None


def tokenize(expression: str) -> Iterator[Token]:
    """Split ``expression`` into tokens, ending with an "end" token.

    Raises:
        ExpressionSyntaxError: a character that starts no token.
        InputTooLargeError: a number whose exponent has too many digits.
    """
    index, end = 0, len(expression)
    while True:
        while index < end and expression[index] in _BLANKS:
            index += 1
        if index == end:
            break
        match = _TOKEN.match(expression, index)
        if match is None:
            raise syntax_error(f"unexpected character {expression[index]!r}", index + 1)
        text, position = match.group(), index + 1
        if match["number"] is not None:
            yield Token("number", text, position, literal_value(text, parameter=PARAMETER))
        elif match["name"] is not None:
            yield Token("name", text, position)
        else:
            yield Token(text, text, position)
        index = match.end()
    yield Token("end", "", end + 1)


def syntax_error(message: str, position: int) -> ExpressionSyntaxError:
    """An ExpressionSyntaxError whose detail starts with the position."""
    return ExpressionSyntaxError(
        f"at position {position}: {message}", parameter=PARAMETER, position=position
    )
