"""Strict reading of query parameters: unknown or repeated names are errors, not ignored."""

from collections.abc import Collection

from werkzeug.datastructures import MultiDict

from service.errors import InvalidInputError


class UnexpectedParameterError(InvalidInputError):
    """A query parameter the endpoint does not take (often a typo such as ``?A=1``)."""

    slug = "unexpected-parameter"
    title = "Unexpected parameter"


class RepeatedParameterError(InvalidInputError):
    """A query parameter given more than once (``?a=1&a=2``): which one was meant is unknown."""

    slug = "repeated-parameter"
    title = "Repeated parameter"


def read_query(args: MultiDict[str, str], accepted: Collection[str]) -> dict[str, str]:
    """Return the single value of each parameter given; refuse unknown or repeated names."""
    values: dict[str, str] = {}
    for name, given in args.lists():
        if name not in accepted:
            expected = ", ".join(repr(item) for item in accepted)
            raise UnexpectedParameterError(
                f"unexpected query parameter {name[:40]!r}; this endpoint takes {expected}",
                parameter=name[:40],
            )
        if len(given) > 1:
            raise RepeatedParameterError(
                f"query parameter {name!r} is given {len(given)} times; give it once",
                parameter=name,
            )
        values[name] = given[0]
    return values
