"""A WSGI app whose worker dies at its first request, as one would on a full metrics tmpfs."""

import os
import signal
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
    """Kill the serving process before answering."""
    os.kill(os.getpid(), signal.SIGBUS)
    return []
