"""The operator's debug recipe: a toolbox beside a running replica, since the image has no shell."""

import subprocess

import pytest

from .compose_project import ComposeProject
from .docker_cli import ROOT

pytestmark = pytest.mark.integration

LOOK = 'tr "\\0" " " < /proc/1/cmdline; echo; ls /proc/1/root/app; id -u'


def test_toolbox_sees_the_replicas_processes_and_files(stack: ComposeProject) -> None:
    """deploy/scripts/debug.sh runs a shell in the replica's PID namespace, as its user, with
    the replica's files under /proc/1/root, and leaves the replica untouched."""
    replica = stack.container_id()
    ran = subprocess.run(
        [str(ROOT / "deploy/scripts/debug.sh"), replica, "sh", "-c", LOOK],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stderr
    command, files, uid = ran.stdout.splitlines()
    assert "gunicorn" in command
    assert files == "service"
    assert uid == "10001"
    assert stack.container()["State"]["Health"]["Status"] == "healthy"
