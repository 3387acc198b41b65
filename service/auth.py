"""Optional bearer API keys, read from a secret file and compared in constant time."""

import hashlib
import hmac
from pathlib import Path

from service.config_errors import ConfigurationError

BEARER_PREFIX = "bearer "


def _digest(key: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison time independent of key length.
    return hashlib.sha256(key.encode("utf-8")).digest()


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
        presented = _digest(authorization[len(BEARER_PREFIX) :].strip())
        matched = False
        for digest in self._digests:
            # No early exit: every key is compared whatever the outcome.
            matched |= hmac.compare_digest(presented, digest)
        return matched


def read_api_keys(path: Path | None) -> ApiKeys:
    """Load keys from ``path`` (one per line, ``#`` comments); no path means no keys."""
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
    keys = frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    if not keys:
        raise ConfigurationError(f"API keys file {path} holds no keys")
    if any(len(key) < 16 or any(char.isspace() for char in key) for key in keys):
        raise ConfigurationError(
            f"API keys file {path} holds a key shorter than 16 characters or with spaces"
        )
    return ApiKeys(keys)
