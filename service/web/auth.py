"""Optional bearer API keys, read from a secret file and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from flask import Blueprint, Flask, Response, request

from service.runtime.settings import ConfigurationError
from service.web.problems import http_problem, problem_response

BEARER_PREFIX = "bearer "
MIN_KEY_LENGTH = 16
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="calculator"'}


def _digest(key: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison time independent of key length.
    return hashlib.sha256(key.encode("ascii")).digest()


class ApiKeys:
    """The accepted keys; an empty set means authentication is off."""

    def __init__(self, keys: frozenset[str] = frozenset()) -> None:
        self._digests = tuple(_digest(key) for key in sorted(keys))

    @property
    def enabled(self) -> bool:
        """Whether calculation endpoints require a key."""
        return bool(self._digests)

    def accepts(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries one of the keys."""
        if not authorization or authorization[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
            return False
        presented = authorization[len(BEARER_PREFIX) :].strip()
        if not presented.isascii():
            return False
        matched = False
        for digest in self._digests:
            # No early exit: every key is compared whatever the outcome.
            matched |= hmac.compare_digest(_digest(presented), digest)
        return matched


def read_api_keys(path: Path | None) -> ApiKeys:
    """Load keys from ``path``: one per line; lines starting with ``#`` are comments.

    Raises:
        ConfigurationError: the file is unreadable, holds no key, or a line that
            cannot be a key: too short, with blanks inside, not ASCII (an HTTP header
            could never carry it), or an indented ``#`` (a comment gone astray).
    """
    if path is None:
        return ApiKeys()
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigurationError(f"API keys file {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"API keys file {path} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigurationError(f"API keys file {path} cannot be read: {error.strerror}") from None
    keys = set()
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if not key or line.startswith("#"):
            continue
        problem = _key_problem(key)
        if problem:
            raise ConfigurationError(f"API keys file {path} line {number}: {problem}")
        keys.add(key)
    if not keys:
        raise ConfigurationError(f"API keys file {path} holds no keys")
    return ApiKeys(frozenset(keys))


def _key_problem(key: str) -> str | None:
    if key.startswith("#"):
        return "an indented '#' line; a comment must start at the beginning of its line"
    if not key.isascii() or not key.isprintable():
        return "a key with characters other than printable ASCII"
    if len(key) < MIN_KEY_LENGTH or any(char.isspace() for char in key):
        return f"a key shorter than {MIN_KEY_LENGTH} characters or with blanks inside"
    return None


def require_api_key(app: Flask, keys: ApiKeys, protected: Blueprint) -> None:
    """Make every endpoint of ``protected`` answer 401 without one of ``keys``.

    Registered only when keys are configured: without keys no hook runs per request.
    """
    if not keys.enabled:
        return

    @app.before_request
    def authenticate() -> Response | None:
        if request.blueprint != protected.name or keys.accepts(
            request.environ.get("HTTP_AUTHORIZATION")
        ):
            return None
        detail = "this endpoint requires an Authorization: Bearer <API key> header"
        return problem_response(http_problem(401, detail), CHALLENGE)
