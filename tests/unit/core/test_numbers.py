"""The number grammar (parse_number) and the JSON number text (format_number)."""

from __future__ import annotations

import decimal
import json
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.core.errors import (
    CalculatorError,
    InputTooLargeError,
    InvalidNumberError,
    MissingParameterError,
)
from service.core.numbers import MAX_EXPONENT_DIGITS, format_number, parse_number

MAX_LENGTH = 100
# RFC 8259, section 6, written out independently of the code under test.
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def parse(text: str | None) -> Decimal:
    return parse_number(text, parameter="a", max_length=MAX_LENGTH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("-0", Decimal(0)),
        ("+1", Decimal(1)),
        ("42", Decimal(42)),
        ("-12.5e-3", Decimal("-0.0125")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("1E+3", Decimal(1000)),
        ("007", Decimal(7)),
        ("9007199254740993", Decimal(9007199254740993)),
        ("0.1", Decimal(1) / Decimal(10)),
        ("1e999999", Decimal("1e999999")),
        ("1e0000000000005", Decimal("1e5")),
    ],
)
def test_grammar_accepts(text: str, expected: Decimal) -> None:
    """Signed decimals with optional fraction and exponent parse to their exact value."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nan",
        "NaN",
        "-nan",
        "snan",
        "inf",
        "-inf",
        "Infinity",
        "1_000",
        "0x10",
        "0b1",
        "1,5",
        "\u0661\u0662",  # Arabic-Indic digits, which float() accepts
        "\uff11\uff12",  # full-width digits
        "\u00b2",  # superscript two
        "1 2",  # what ?a=1+2 arrives as
        " 1",
        "1 ",
        "\t1",
        "1\n",
        "",
        ".",
        "-",
        "+",
        "e5",
        "1e",
        "1e+",
        "+-1",
        "--1",
        "1.2.3",
        "1e1.5",
        "1/2",
        "(1)",
        "1e1_0",
    ],
)
def test_grammar_rejects(text: str) -> None:
    """Everything float() or Decimal() would coerce but the grammar excludes is refused."""
    with pytest.raises(InvalidNumberError) as caught:
        parse(text)
    assert caught.value.parameter == "a"
    assert "'a'" in caught.value.detail


def test_missing_value_is_named() -> None:
    """An absent parameter is a MissingParameterError naming it, not a silent default."""
    with pytest.raises(MissingParameterError) as caught:
        parse_number(None, parameter="b", max_length=MAX_LENGTH)
    assert caught.value.parameter == "b"
    assert "'b'" in caught.value.detail


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("1 2", "%2B"),
        ("\u0661", "ASCII"),
        ("", "empty"),
    ],
)
def test_detail_explains_common_surprises(text: str, hint: str) -> None:
    """The detail tells the user why a plausible-looking value was refused."""
    with pytest.raises(InvalidNumberError, match=re.escape(hint)):
        parse(text)


def test_length_bound() -> None:
    """Text longer than max_length is refused before matching; exactly max_length is fine."""
    assert parse("1" * MAX_LENGTH) == Decimal("1" * MAX_LENGTH)
    with pytest.raises(InputTooLargeError) as caught:
        parse("1" * (MAX_LENGTH + 1))
    assert caught.value.parameter == "a"


def test_exponent_digits_bound() -> None:
    """An exponent with more significant digits than the bound is refused as too large."""
    assert parse("1e" + "9" * MAX_EXPONENT_DIGITS) == Decimal("1e" + "9" * MAX_EXPONENT_DIGITS)
    with pytest.raises(InputTooLargeError):
        parse("1e-1" + "0" * MAX_EXPONENT_DIGITS)


def test_detail_quotes_input_safely() -> None:
    """Quoted input in the detail is truncated and has control characters escaped."""
    text = "\n<script>" + "x" * 80
    with pytest.raises(InvalidNumberError) as caught:
        parse(text)
    assert "\n" not in caught.value.detail
    assert "x" * 80 not in caught.value.detail
    assert len(caught.value.detail) < 200


@given(
    sign=st.sampled_from(["", "+", "-"]),
    whole=st.text("0123456789", max_size=8),
    fraction=st.none() | st.text("0123456789", max_size=8),
    exponent=st.none() | st.integers(-9999, 9999),
)
def test_grammar_matches_reference_value(
    sign: str, whole: str, fraction: str | None, exponent: int | None
) -> None:
    """Every grammatical number parses to the value computed digit by digit."""
    text = sign + whole + ("" if fraction is None else "." + fraction)
    text += "" if exponent is None else f"e{exponent}"
    if not (whole or fraction):
        with pytest.raises(InvalidNumberError):
            parse(text)
        return
    digits = whole + (fraction or "")
    value = Fraction(int(digits or "0"), 10 ** len(fraction or "")) * Fraction(10) ** (
        exponent or 0
    )
    assert Fraction(parse(text)) == (-value if sign == "-" else value)


@given(st.text(max_size=MAX_LENGTH + 20))
def test_arbitrary_text_raises_only_calculator_errors(text: str) -> None:
    """For any text, parse_number returns a finite Decimal or raises a CalculatorError."""
    try:
        value = parse(text)
    except CalculatorError:
        return
    assert value.is_finite()
    assert text.isascii()
    assert text.strip() == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(9007199254740993), "9007199254740993"),
        (Decimal("1E+2"), "100"),
        (Decimal("3.00"), "3"),
        (Decimal("-2.50"), "-2.5"),
        (Decimal("-0"), "0"),
        (Decimal("0E-5"), "0"),
        (Decimal("0E+5"), "0"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("1E-7"), "1E-7"),
        (Decimal("-1.5E+60"), "-1.5E+60"),
        (Decimal(10) ** 49, "1" + "0" * 49),
        (Decimal(10) ** 50, "1E+50"),
        (Decimal("0.3"), "0.3"),
    ],
)
def test_format_canonical_form(value: Decimal, expected: str) -> None:
    """Trailing zeros go, -0 is 0, integers up to 50 digits are written in full."""
    assert format_number(value) == expected


def test_format_large_integer_stays_integer_in_json() -> None:
    """An integer above 2**53 is emitted so json.loads yields the same int, not a float."""
    assert json.loads(format_number(Decimal(2**53 + 1))) == 2**53 + 1


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")])
def test_format_refuses_non_finite(value: Decimal) -> None:
    """NaN and Infinity are not JSON: formatting them is a programming error, not output."""
    with pytest.raises(ValueError, match="JSON"):
        format_number(value)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_format_round_trips_as_json(value: Decimal) -> None:
    """Any finite Decimal becomes a valid JSON number that reads back as the same value."""
    text = format_number(value)
    assert JSON_NUMBER.fullmatch(text)
    assert json.loads(text, parse_float=Decimal, parse_int=Decimal) == value
    assert Decimal(text) == value


@given(
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: abs(d.adjusted()) < 10**5)
)
def test_format_output_is_accepted_input(value: Decimal) -> None:
    """What the service answers is itself valid input (the grammar is a superset of the output)."""
    text = format_number(value)
    assert parse_number(text, parameter="a", max_length=len(text)) == value


@pytest.mark.parametrize("text", ["1E+2", "-2.50", "1.5E+60", "0.000001", "9007199254740993"])
def test_format_ignores_hostile_thread_context(text: str) -> None:
    """Formatting neither rounds nor traps under a thread context of 2 digits trapping all."""
    expected = format_number(Decimal(text))
    with decimal.localcontext() as context:
        context.prec = 2
        context.traps = dict.fromkeys(context.traps, True)
        assert format_number(Decimal(text)) == expected
