"""Request ids: keep a caller's well-formed id, otherwise make one."""

import os
import re

REQUEST_ID_HEADER = "X-Request-ID"
# Short and log-safe: no spaces, quotes or control characters can reach a log line.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")


def choose_request_id(incoming: str | None) -> str:
    """Return ``incoming`` if it is a well-formed id, else a fresh random one."""
    if incoming is not None and _WELL_FORMED.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()
