"""The docker CLI as the integration tests use it: commands with deadlines, inspect, ports."""

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
COMMAND_TIMEOUT_SECONDS = 300
# Every project and container the tests create is named with this prefix, so that
# runs on a shared engine (CALCULATOR_IT_PREFIX=...) never meet.
PREFIX = os.environ.get("CALCULATOR_IT_PREFIX", "calculator-it")


class DockerCommandError(Exception):
    """A docker command failed; the message carries its output."""


def docker(
    *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS` with a deadline; raise DockerCommandError on failure when check."""
    completed = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and completed.returncode != 0:
        raise DockerCommandError(
            f"docker {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    return completed


def inspect(container: str) -> dict[str, Any]:
    """Return `docker inspect` of one container."""
    document: list[dict[str, Any]] = json.loads(docker("inspect", container).stdout)
    return document[0]


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    """Poll condition until it holds; fail with `what` once the deadline passes."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {seconds:g} s")
        time.sleep(0.2)


def read_host_status(pid: int) -> dict[str, str]:
    """Return the host kernel's /proc/<pid>/status fields for a container process."""
    text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def container_processes(container: str) -> list[tuple[int, int, str]]:
    """Return (host pid, host parent pid, command line) of every process in the container."""
    table = docker("top", container, "-o", "pid,ppid,args").stdout.splitlines()[1:]
    rows = [line.split(None, 2) for line in table]
    return [(int(pid), int(ppid), args) for pid, ppid, args in rows]


@contextmanager
def frozen(container: str) -> Iterator[None]:
    """Stop every process of the container with SIGSTOP for the block, then SIGCONT them all.

    What a frozen replica looks like to the edge: its sockets accept (the kernel completes
    the handshake) and nothing answers. `docker pause` does the same through the freezer
    cgroup, but fails ("unable to freeze") when a process is busy in the kernel under load.
    """
    stopped = [pid for pid, _, _ in container_processes(container)]
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        # Processes started meanwhile (a healthcheck's exec) were never stopped; resuming
        # them does no harm, and a stopped one gone since is no error.
        for pid in {*stopped, *(pid for pid, _, _ in container_processes(container))}:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def gunicorn_workers(container: str) -> tuple[int, set[int]]:
    """Return the gunicorn master's host pid and its workers' host pids."""
    processes = container_processes(container)
    gunicorn = {pid: ppid for pid, ppid, args in processes if "gunicorn" in args}
    masters = [pid for pid, ppid in gunicorn.items() if ppid not in gunicorn]
    assert len(masters) == 1, f"expected one gunicorn master, found {processes}"
    workers = {pid for pid, ppid in gunicorn.items() if ppid == masters[0]}
    return masters[0], workers


def haproxy_threads(container: str) -> int:
    """Return how many threads the container's HAProxy (its PID 1) runs."""
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", container).stdout)
    return int(read_host_status(pid)["Threads"])


def proxy_metrics(container: str) -> str:
    """The edge's Prometheus exporter, asked inside the container on its internal port."""
    script = (
        "exec 3<>/dev/tcp/127.0.0.1/8405 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3"
        " && cat <&3"
    )
    return docker("exec", container, "bash", "-c", script, timeout=30).stdout
