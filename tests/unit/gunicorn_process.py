"""Real gunicorn processes for the tests that need them, bound to 127.0.0.1 only."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
STARTUP_DEADLINE_SECONDS = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class GunicornServer:
    """A gunicorn process started with the project's config, bound to 127.0.0.1 only."""

    def __init__(self, environ: dict[str, str], app: str = "service.wsgi:app") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORT": str(self.port), **environ}
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--config",
                "python:service.runtime.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.port}",
                app,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_serving(self) -> None:
        """Poll /livez until it answers; fail with the server's output after the deadline."""
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/livez", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        out, err = self.stop()
        pytest.fail(f"gunicorn did not start serving:\n{out}\n{err}")

    def stop_when_exited(self) -> tuple[str, str]:
        """Wait for a process expected to exit by itself; fail if it keeps running."""
        try:
            return self.process.communicate(timeout=STARTUP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            out, err = self.stop()
            pytest.fail(f"gunicorn kept running:\n{out}\n{err}")

    def stop(self) -> tuple[str, str]:
        """Stop gracefully (SIGTERM), kill after a deadline; return stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.communicate(timeout=STARTUP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()
