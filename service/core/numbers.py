"""The one number grammar the calculator accepts, and the JSON text it answers with.

Grammar (ASCII only, nothing around it)::

    number   = [ "+" | "-" ] mantissa [ exponent ]
    mantissa = digits [ "." [ digits ] ] | "." digits
    exponent = ( "e" | "E" ) [ "+" | "-" ] digits      ; at most 6 significant digits
    digits   = 1*( "0" - "9" )

So ``-12.5e-3``, ``.5``, ``5.`` and ``+1`` are numbers; ``nan``, ``inf``,
``1_000``, ``0x10``, ``1,5``, non-ASCII digits, spaces and ``""`` are not.
Python's ``float()`` and ``Decimal()`` accept several of those, which is why
the text is matched against this grammar before any conversion.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from service.core.errors import (
    InputTooLargeError,
    InvalidNumberError,
    MissingParameterError,
    quote_input,
)

MAX_EXPONENT_DIGITS = 6
"""Exponents are bounded in the text so a tiny string cannot name an absurd Decimal."""

_MANTISSA = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"

UNSIGNED_NUMBER = rf"{_MANTISSA}(?:[eE][+-]?[0-9]+)?"
"""The pattern of an unsigned number; expressions use it, since there a sign is an operator.

Any exponent length matches, so that too long an exponent is reported as such
(InputTooLargeError) rather than as a malformed number.
"""

NUMBER_PATTERN = rf"^[+-]?{_MANTISSA}(?:[eE][+-]?0*[0-9]{{1,{MAX_EXPONENT_DIGITS}}})?$"
"""The whole accepted grammar as one anchored pattern, exponent bound included (OpenAPI)."""

_SIGNED_NUMBER = re.compile(rf"[+-]?{UNSIGNED_NUMBER}")

_PLAIN_INTEGER_DIGITS = 50
"""Integers up to this many digits are written out in full (parsers then see an int)."""

# Stripping trailing zeros (normalize) must never round or clamp: unbounded precision and range.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def parse_number(text: str | None, *, parameter: str, max_length: int) -> Decimal:
    """Convert ``text`` to a Decimal, exactly, if it follows the grammar above.

    Raises:
        MissingParameterError: ``text`` is None.
        InputTooLargeError: ``text`` is longer than ``max_length`` or its exponent too long.
        InvalidNumberError: anything else that is not a number in the grammar.
    """
    if text is None:
        raise MissingParameterError(f"parameter {parameter!r} is required", parameter=parameter)
    if len(text) > max_length:
        raise InputTooLargeError(
            f"parameter {parameter!r} is {len(text)} characters long; the limit is {max_length}",
            parameter=parameter,
        )
    if not _SIGNED_NUMBER.fullmatch(text):
        raise InvalidNumberError(_explain_invalid(text, parameter), parameter=parameter)
    return literal_value(text, parameter=parameter)


def literal_value(text: str, *, parameter: str) -> Decimal:
    """The exact Decimal of ``text`` (already matched by the grammar) if its exponent is bounded.

    Raises:
        InputTooLargeError: the exponent has more than MAX_EXPONENT_DIGITS significant digits.
    """
    _, _, exponent = text.lower().partition("e")
    if len(exponent.lstrip("+-").lstrip("0")) > MAX_EXPONENT_DIGITS:
        raise InputTooLargeError(
            f"parameter {parameter!r}: the exponent of {quote_input(text)} "
            f"has more than {MAX_EXPONENT_DIGITS} digits",
            parameter=parameter,
        )
    return Decimal(text)


def _explain_invalid(text: str, parameter: str) -> str:
    """Say why ``text`` is not a number, with a hint for the common surprises."""
    problem = f"parameter {parameter!r} is not a number: {quote_input(text)}"
    if text == "":
        return f"parameter {parameter!r} is empty; expected a number such as -12.5e-3"
    if " " in text:
        return f"{problem} contains a space (in a URL query '+' means a space: send %2B)"
    if not text.isascii():
        return f"{problem} (only ASCII digits 0-9 are accepted)"
    return f"{problem} (expected digits, an optional sign, fraction and exponent: -12.5e-3)"


def format_number(value: Decimal) -> str:
    """The canonical RFC 8259 number text for a finite Decimal; ``Decimal(result) == value``.

    Trailing fractional zeros are dropped (``3.00`` -> ``3``), negative zero is
    ``0``, integers of up to 50 digits are written in full (``1E+2`` -> ``100``),
    larger ones and very small fractions in scientific notation (``1.5E+60``,
    ``1E-7``).

    Raises:
        ValueError: ``value`` is NaN or infinite; JSON has no text for them.
    """
    if not value.is_finite():
        raise ValueError(f"{value} has no JSON number representation")
    if not value:
        return "0"
    reduced = value.normalize(_EXACT)
    text = str(reduced)
    # Decimal's own notation uses "E+" only for integers (positive exponent);
    # write those out in full while they are short enough to read.
    if "E+" in text and reduced.adjusted() < _PLAIN_INTEGER_DIGITS:
        return f"{reduced:f}"
    return text
