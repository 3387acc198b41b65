"""wrk as the tests run it: on 127.0.0.1 only, bounded in time, its summary parsed."""

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

CONNECTIONS = 32
# The longest any load may run, even if the test forgets to stop it.
MAX_SECONDS = 180


@dataclass(frozen=True)
class Summary:
    """What wrk counted."""

    requests: int
    non_2xx: int
    socket_errors: int
    text: str

    @property
    def failed(self) -> int:
        """Requests that got no 2xx answer."""
        return self.non_2xx + self.socket_errors


def parse(text: str) -> Summary:
    """Read wrk's summary."""
    served = re.search(r"(\d+) requests in", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return Summary(
        requests=int(served[1]) if served else 0,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
        text=text,
    )


def wrk_path() -> str:
    """The wrk binary; missing it fails in CI and skips elsewhere."""
    wrk = shutil.which("wrk")
    if wrk is None:
        message = "wrk is not installed (make integration installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return wrk


@contextmanager
def load(url: str, seconds: int = MAX_SECONDS) -> Iterator[list[Summary]]:
    """Run wrk (2 threads, 32 connections) on `url` for the block; the list it yields holds
    the summary once the block ends (wrk prints it when interrupted)."""
    assert url.startswith("http://127.0.0.1:"), url  # never any other address
    wrk = subprocess.Popen(
        [wrk_path(), "--threads", "2", "--connections", str(CONNECTIONS),
         "--duration", f"{min(seconds, MAX_SECONDS)}s", "--timeout", "5s", url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    summaries: list[Summary] = []
    try:
        yield summaries
    finally:
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)
        output, _ = wrk.communicate(timeout=MAX_SECONDS + 30)
        summaries.append(parse(output))
