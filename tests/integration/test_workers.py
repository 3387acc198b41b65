"""A gunicorn worker killed from the host is replaced while the service keeps answering."""

import os
import signal

import pytest
import requests

from .compose_project import ComposeProject
from .docker_cli import gunicorn_workers, wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 10


def test_killed_worker_is_replaced_while_service_answers(stack: ComposeProject) -> None:
    """SIGKILL to one worker: the next requests succeed and the master forks a replacement."""
    container_id = stack.container_id()
    master, workers = gunicorn_workers(container_id)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):
        response = requests.get(f"{stack.base_url}/multiply?a=6&b=7", timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.json()["result"] == 42

    def replaced() -> bool:
        now_master, now_workers = gunicorn_workers(container_id)
        return (
            now_master == master and victim not in now_workers and len(now_workers) == len(workers)
        )

    wait_for(replaced, seconds=30, what=f"replacement of worker {victim}")
    assert requests.get(f"{stack.base_url}/livez", timeout=TIMEOUT).status_code == 200
