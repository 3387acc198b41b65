"""The gunicorn configuration: checked settings, JSON logs, and fail-fast start on bad config."""

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from gunicorn_process import GUNICORN, REPO_ROOT, GunicornServer, free_port

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
    """Bind, heartbeat dir, control socket, timeouts, limits and logging are set explicitly."""
    config = printed_config(WEB_CONCURRENCY="3", PORT="8123")
    expected = {
        "bind": "['0.0.0.0:8123']",
        "workers": "3",
        "worker_tmp_dir": "/dev/shm",  # noqa: S108 - the expected setting, not a file we use
        "control_socket_disable": "True",
        "preload_app": "True",
        "timeout": "30",
        "graceful_timeout": "20",
        "max_requests": "10000",
        "max_requests_jitter": "1000",
        "limit_request_line": "8190",
        "limit_request_fields": "50",
        "forwarded_allow_ips": "['127.0.0.1']",
        "accesslog": "-",
        "logger_class": "service.runtime.logs.JsonLogger",
        "worker_class": "service.runtime.worker.DeadlineWorker",
        "threads": "8",
        "keepalive": "5",
    }
    assert {name: config[name] for name in expected} == expected


def test_default_worker_count_follows_usable_cpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without WEB_CONCURRENCY, workers = 2 x usable CPUs (affinity and cgroup quota) + 1."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from service.runtime.gunicorn_conf import available_cpus  # noqa: PLC0415 - env set first

    assert printed_config()["workers"] == str(2 * available_cpus() + 1)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", 64), ("150000 100000", 2), ("50000 100000", 1), ("garbage", 64)],
)
def test_usable_cpus_follow_the_cgroup_quota(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpu_max: str, expected: int
) -> None:
    """A cgroup quota caps the CPU count, rounded up to whole CPUs; no quota leaves affinity."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(64)))
    from service.runtime.gunicorn_conf import available_cpus  # noqa: PLC0415 - env set first

    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    assert available_cpus(quota) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CALCULATOR_PRECISON": "5"}, "unknown environment variable CALCULATOR_PRECISON"),
        ({"CALCULATOR_PRECISION": "0"}, "precision = 0 from CALCULATOR_PRECISION"),
        ({"CALCULATOR_PRECISION": "+34"}, "precision = '+34' from CALCULATOR_PRECISION"),
        ({"ACCESS_LOG": "yes"}, "ACCESS_LOG='yes' is neither 'on' nor 'off'"),
        ({"THREADS": "0"}, "THREADS='0' is not an integer from 1 to 64"),
        ({"CALCULATOR_CONFIG_FILE": "/nonexistent/config.json"}, "/nonexistent/config.json"),
        ({"PORT": "http"}, "PORT='http' is not an integer from 1 to 65535"),
        ({"PORT": "70000"}, "PORT='70000' is not an integer from 1 to 65535"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' is not an integer from 1 to 256"),
    ],
)
def test_bad_configuration_stops_gunicorn_with_one_line(
    gunicorn_server: Callable[..., GunicornServer], environ: dict[str, str], message: str
) -> None:
    """gunicorn exits non-zero before serving, printing one JSON line that names the problem."""
    server = gunicorn_server(environ, wait=False)
    out, err = server.stop_when_exited()
    assert server.process.returncode not in (0, None)
    assert "Booting worker" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert json.loads(lines[0])["level"] == "CRITICAL"
    assert message in lines[0]


def test_bad_config_file_stops_gunicorn(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """A malformed config file stops gunicorn the same way."""
    config = tmp_path / "config.json"
    config.write_text('{"precision": 12,,}')
    server = gunicorn_server({"CALCULATOR_CONFIG_FILE": str(config)}, wait=False)
    _, err = server.stop_when_exited()
    assert server.process.returncode == 4
    assert "is not valid JSON" in err
    assert "Traceback" not in err


def test_logs_are_json_lines_with_request_fields(
    gunicorn_server: Callable[..., GunicornServer],
) -> None:
    """Access log lines carry request id, method, route template, status and duration."""
    server = gunicorn_server({"WEB_CONCURRENCY": "1"})
    requests.get(f"{server.url}/divide?a=1&b=0", headers={"X-Request-ID": "log-me"}, timeout=5)
    out, err = server.stop()
    entries = [json.loads(line) for line in (out + err).splitlines()]
    access = [entry for entry in entries if entry.get("request_id") == "log-me"]
    assert len(access) == 1
    assert access[0]["method"] == "GET"
    assert access[0]["route"] == "/divide"
    assert access[0]["status"] == 422
    assert access[0]["duration_ms"] >= 0
    assert any(entry["logger"] == "gunicorn.error" for entry in entries)


def test_access_log_can_be_switched_off(gunicorn_server: Callable[..., GunicornServer]) -> None:
    """ACCESS_LOG=off leaves requests out of the log (a proxy in front writes them instead)."""
    server = gunicorn_server({"WEB_CONCURRENCY": "1", "ACCESS_LOG": "off"})
    requests.get(f"{server.url}/add?a=1&b=2", headers={"X-Request-ID": "quiet"}, timeout=5)
    out, err = server.stop()
    assert "quiet" not in out + err
    assert "gunicorn.error" in out + err


def test_workers_dying_as_they_boot_stop_the_master(
    gunicorn_server: Callable[..., GunicornServer],
) -> None:
    """Workers that keep dying at their first request stop gunicorn, non-zero, with one reason."""
    server = gunicorn_server(
        {"WEB_CONCURRENCY": "2"}, wait=False, app="tests.unit.crashing_app:app"
    )
    deadline = time.monotonic() + 30
    while server.process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{server.url}/", timeout=2)
    out, err = server.stop_when_exited()
    assert server.process.returncode == 3
    reasons = [line for line in (out + err).splitlines() if "died within" in line]
    assert len(reasons) == 1
    assert json.loads(reasons[0])["level"] == "CRITICAL"


def test_access_lines_are_written_promptly_while_serving(tmp_path: Path) -> None:
    """Batched access lines still reach the log within about a second, with no more traffic."""
    port = free_port()
    log = tmp_path / "out.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(GUNICORN), *CONFIG, "--bind", f"127.0.0.1:{port}", "service.wsgi:app"],
            cwd=REPO_ROOT,
            env={**os.environ, "WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/add?a=1&b=2", headers={"X-Request-ID": "prompt"}, timeout=2)
                break
            time.sleep(0.1)
        answered = time.monotonic()
        while "prompt" not in log.read_text() and time.monotonic() - answered < 3:
            time.sleep(0.05)
        assert "prompt" in log.read_text()
        assert time.monotonic() - answered < 2
    finally:
        process.terminate()
        process.wait(timeout=30)
