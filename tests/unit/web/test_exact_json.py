"""Exact JSON output: Decimal is a JSON number with all its digits, never a float or string."""

import json
from decimal import Decimal

import pytest

from service.web.exact_json import encode_json


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.3"), "0.3"),
        (Decimal("9007199254740993"), "9007199254740993"),
        (Decimal("1.5E+60"), "1.5E+60"),
        ({"a": [Decimal("1"), None, True, False, 7]}, '{"a":[1,null,true,false,7]}'),
        ('quote" and \u00fc', '"quote\\" and \\u00fc"'),
    ],
)
def test_values_encode_exactly(value: object, text: str) -> None:
    """Each value has one exact, valid JSON text."""
    assert encode_json(value) == text
    json.loads(text)


def test_big_integer_keeps_every_digit() -> None:
    """Digits beyond float precision survive a round trip through JSON."""
    parsed = json.loads(
        encode_json({"r": Decimal("12345678901234567890.123456789")}), parse_float=Decimal
    )
    assert parsed["r"] == Decimal("12345678901234567890.123456789")


@pytest.mark.parametrize(
    "value", [0.1, float("nan"), Decimal("NaN"), Decimal("Infinity"), object()]
)
def test_inexact_or_invalid_values_are_refused(value: object) -> None:
    """Floats, NaN, infinities and unknown types never reach a response."""
    with pytest.raises((TypeError, ValueError)):
        encode_json(value)
