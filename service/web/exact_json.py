"""Answers as exact JSON: a Decimal is written as its number text, never rounded to a float.

Flask's default provider turns a Decimal into a string and the json module cannot
emit raw number text, so answers (small dicts and lists of plain values) are
serialised by a short recursive encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from flask.json.provider import DefaultJSONProvider

from service.core.numbers import format_number

JSON_MEDIA_TYPE = "application/json"
_CONSTANTS = {None: "null", True: "true", False: "false"}


def encode_json(value: Any) -> str:
    """Serialise ``value`` compactly; Decimal becomes its exact number text."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if isinstance(value, Decimal):
        return format_number(value)
    if isinstance(value, Mapping):
        members = ",".join(
            f"{encode_basestring_ascii(str(key))}:{encode_json(item)}"
            for key, item in value.items()
        )
        return f"{{{members}}}"
    if isinstance(value, list | tuple):
        return f"[{','.join(encode_json(item) for item in value)}]"
    if value is None or isinstance(value, bool):
        return _CONSTANTS[value]
    if isinstance(value, int):
        return int.__repr__(value)
    # Floats would bring NaN, Infinity and binary round-off back: the service never emits them.
    raise TypeError(f"cannot encode {type(value).__name__} as exact JSON")


class ExactJSONProvider(DefaultJSONProvider):
    """Flask JSON provider whose output keeps every Decimal exact."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj``; formatting keyword arguments are ignored (output is compact)."""
        return encode_json(obj)
