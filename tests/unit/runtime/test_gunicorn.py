"""The gunicorn configuration: checked settings, JSON logs, and fail-fast start on bad config."""

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from gunicorn.workers import gthread  # type: ignore[import-untyped]
from gunicorn_process import GUNICORN, REPO_ROOT, GunicornServer

from service.runtime.gunicorn_conf import IDLE_CONNECTION_HANDOFF_SECONDS
from service.runtime.logs import EX_CONFIG

CONFIG = ["--config", "python:service.runtime.gunicorn_conf"]


def gunicorn(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GUNICORN), *CONFIG, *args, "service.wsgi:app"],
        cwd=REPO_ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed_config(**environ: str) -> dict[str, str]:
    result = gunicorn("--print-config", **environ)
    assert result.returncode == 0, result.stderr
    lines = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in lines}


def test_check_config_accepts_the_default_configuration() -> None:
    """gunicorn --check-config loads the config and the app without error."""
    result = gunicorn("--check-config")
    assert result.returncode == 0, result.stderr


def test_printed_config_has_the_container_settings() -> None:
    """Stock gthread workers, no recycling, heartbeat in memory, limits and logging set."""
    config = printed_config(WEB_CONCURRENCY="3", PORT="8123")
    expected = {
        # Both read by gunicorn itself.
        "bind": "['0.0.0.0:8123']",
        "workers": "3",
        "worker_class": "gthread",
        "threads": "32",
        "keepalive": "5",
        "worker_tmp_dir": "/dev/shm",  # noqa: S108 - the expected setting, not a file we use
        "control_socket_disable": "True",
        "preload_app": "True",
        "timeout": "30",
        "graceful_timeout": "20",
        "max_requests": "0",
        "limit_request_line": "8190",
        "limit_request_fields": "50",
        "accesslog": "-",
        "logger_class": "service.runtime.gunicorn_conf.JsonLogger",
    }
    assert {name: config[name] for name in expected} == expected


def test_without_port_every_address_is_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PORT gunicorn would bind 127.0.0.1 only; the config binds 0.0.0.0:8000."""
    monkeypatch.delenv("PORT", raising=False)
    assert printed_config()["bind"] == "['0.0.0.0:8000']"


def test_default_worker_count_follows_usable_cpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without WEB_CONCURRENCY, workers = 2 x usable CPUs (affinity and cgroup quota) + 1."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from service.runtime.gunicorn_conf import available_cpus  # noqa: PLC0415 - env set first

    assert printed_config()["workers"] == str(2 * available_cpus() + 1)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000"}, 64),
        ({"cpu.max": "150000 100000"}, 2),
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu.max": "garbage"}, 64),
        ({"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000"}, 2),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 64),
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),
        ({}, 64),
    ],
)
def test_usable_cpus_follow_the_cgroup_quota(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict[str, str], expected: int
) -> None:
    """A cgroup v2 or v1 quota caps the CPU count, rounded up to whole CPUs; no quota leaves
    the affinity mask."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(64)))
    from service.runtime.gunicorn_conf import available_cpus  # noqa: PLC0415 - env set first

    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    assert available_cpus(root) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CALCULATOR_PRECISON": "5"}, "unknown environment variable CALCULATOR_PRECISON"),
        ({"CALCULATOR_PRECISION": "0"}, "precision = 0 from CALCULATOR_PRECISION"),
        ({"CALCULATOR_PRECISION": "+34"}, "precision = '+34' from CALCULATOR_PRECISION"),
        ({"ACCESS_LOG": "yes"}, "ACCESS_LOG='yes' is neither 'on' nor 'off'"),
        ({"THREADS": "0"}, "THREADS='0' is not an integer from 1 to 64"),
        ({"CALCULATOR_CONFIG_FILE": "/nonexistent/config.json"}, "/nonexistent/config.json"),
    ],
)
def test_bad_configuration_stops_gunicorn_with_one_line(
    gunicorn_server: Callable[..., GunicornServer], environ: dict[str, str], message: str
) -> None:
    """gunicorn exits with EX_CONFIG before serving, printing one JSON line naming the problem."""
    server = gunicorn_server(environ, wait=False)
    out, err = server.stop_when_exited()
    assert server.process.returncode == EX_CONFIG
    assert "Booting worker" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert json.loads(lines[0])["level"] == "CRITICAL"
    assert message in lines[0]


def test_bad_config_file_stops_gunicorn(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """A malformed config file stops gunicorn the same way, with the same status."""
    config = tmp_path / "config.json"
    config.write_text('{"precision": 12,,}')
    server = gunicorn_server({"CALCULATOR_CONFIG_FILE": str(config)}, wait=False)
    _, err = server.stop_when_exited()
    assert server.process.returncode == EX_CONFIG
    assert "is not valid JSON" in err
    assert "Traceback" not in err


def test_access_log_is_gunicorns_with_the_request_id(
    gunicorn_server: Callable[..., GunicornServer],
) -> None:
    """A replica on its own writes gunicorn's access line (request line, status, request id) on
    stdout, and its error log as JSON lines on stderr."""
    server = gunicorn_server({"WEB_CONCURRENCY": "1"})
    requests.get(f"{server.url}/divide?a=1&b=0", headers={"X-Request-ID": "log-me"}, timeout=5)
    out, err = server.stop()
    access = [line for line in out.splitlines() if "log-me" in line]
    assert len(access) == 1, out
    assert '"GET /divide?a=1&b=0 HTTP/1.1" 422 ' in access[0]
    errors = [json.loads(line) for line in err.splitlines()]
    assert any(entry["logger"] == "gunicorn.error" for entry in errors)


def test_access_log_can_be_switched_off(gunicorn_server: Callable[..., GunicornServer]) -> None:
    """ACCESS_LOG=off leaves requests out of the log (a proxy in front writes them instead)."""
    server = gunicorn_server({"WEB_CONCURRENCY": "1", "ACCESS_LOG": "off"})
    requests.get(f"{server.url}/add?a=1&b=2", headers={"X-Request-ID": "quiet"}, timeout=5)
    out, err = server.stop()
    assert "quiet" not in out + err
    assert "gunicorn.error" in err


def test_an_idle_connection_holds_no_worker_thread(
    gunicorn_server: Callable[..., GunicornServer],
) -> None:
    """With one worker of one thread, a connection that sends nothing does not keep the next
    request waiting: it goes to the poller at once, not after gthread's 5 s data wait
    (the override in gunicorn_conf, whose name an upgrade may change)."""
    assert gthread.DEFAULT_WORKER_DATA_TIMEOUT == IDLE_CONNECTION_HANDOFF_SECONDS
    server = gunicorn_server({"WEB_CONCURRENCY": "1", "THREADS": "1"})
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))):
        # Well under the 5 s a thread would wait for the idle connection's first bytes.
        answer = requests.get(f"{server.url}/livez", timeout=2.5)
    assert answer.status_code == 200
