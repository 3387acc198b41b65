"""A bounded load on 127.0.0.1 (wrk, 32 connections) gets no errors and only 2xx answers."""

import os
import subprocess

import pytest

from .compose_project import ComposeProject
from .docker_cli import inspect
from .wrk_load import CONNECTIONS, parse, wrk_path

pytestmark = pytest.mark.integration

SECONDS = int(os.environ.get("LOAD_TEST_SECONDS", "30"))


def test_bounded_load_has_no_errors(stack: ComposeProject) -> None:
    """wrk through the proxy for a bounded time: no socket errors, no non-2xx, no restart."""
    wrk = wrk_path()
    url = f"{stack.base_url}/add?a=1.5&b=2.25"
    ran = subprocess.run(
        [wrk, "--threads", "2", "--connections", str(CONNECTIONS), "--duration", f"{SECONDS}s",
         "--timeout", "5s", "--latency", url],
        capture_output=True, text=True, timeout=SECONDS + 60, check=True,
    )  # fmt: skip
    print(ran.stdout)  # the figures, for anyone running with -s
    summary = parse(ran.stdout)
    assert summary.requests > 0
    assert (summary.non_2xx, summary.socket_errors) == (0, 0)
    for container_id in stack.container_ids() + stack.container_ids("proxy"):
        state = inspect(container_id)
        assert state["RestartCount"] == 0
        assert state["State"]["OOMKilled"] is False
        assert state["State"]["Health"]["Status"] == "healthy"
