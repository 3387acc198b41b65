"""Throughput of GET /add: the full service beside a bare Flask app, same gunicorn settings.

Both run under the project's gunicorn config (service/gunicorn_conf.py) on
127.0.0.1, one after the other, and are loaded by wrk (2 threads, 32
connections) for the same time. Prints requests/s and p99 latency side by side
and the service/bare ratio. Installs wrk with apt-get when it is missing (root).

It also measures CPU time per request of both WSGI apps called in-process (no
server, no network), alternating short batches and keeping the fastest: a
figure that other load on the machine disturbs far less than wrk's.

Usage: python deploy/bench/throughput.py [--seconds 10] [--rounds 2]
"""

import argparse
import importlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINE_DIR = REPO_ROOT / "deploy" / "bench" / "baseline"
GUNICORN = Path(sys.executable).with_name("gunicorn")
PATH = "/add?a=1&b=2"
START_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Result:
    """One wrk run: requests per second and the 99th percentile latency in milliseconds."""

    requests_per_second: float
    p99_ms: float


def ensure_wrk() -> str:
    """Return the wrk executable, installing Debian's package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get") or sys.exit("wrk is missing and apt-get is not available")
    for command in (["update"], ["install", "-y", "--no-install-recommends", "wrk"]):
        subprocess.run([apt_get, *command], check=True)  # noqa: S603 - fixed arguments
    return shutil.which("wrk") or sys.exit("wrk is still missing after apt-get install")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(app: str, port: int, extra_args: list[str]) -> subprocess.Popen[bytes]:
    """Start gunicorn with the project's config on 127.0.0.1:port; return once /add answers."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CALCULATOR_")}
    environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            str(GUNICORN),
            "--config",
            "python:service.runtime.gunicorn_conf",
            *extra_args,
            "--bind",
            f"127.0.0.1:{port}",
            app,
        ],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{PATH}", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    sys.exit(f"{app} did not start serving on 127.0.0.1:{port}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn gracefully; kill it if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def parse_wrk(output: str) -> Result:
    """Extract requests/s and the p99 latency from wrk --latency output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if rate is None or p99 is None:
        sys.exit(f"cannot read wrk output:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return Result(float(rate.group(1)), float(p99.group(1)) * scale)


def load(wrk: str, port: int, seconds: int) -> Result:
    """Run wrk against 127.0.0.1:port for ``seconds`` after a one-second warm-up."""
    url = f"http://127.0.0.1:{port}{PATH}"
    subprocess.run([wrk, "-t2", "-c32", "-d1s", url], check=True, capture_output=True)  # noqa: S603
    output = subprocess.run(  # noqa: S603 - fixed arguments
        [wrk, "-t2", "-c32", f"-d{seconds}s", "--timeout", "5s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse_wrk(output)


def measure(wrk: str, app: str, extra_args: list[str], seconds: int) -> Result:
    """Start one app, load it, stop it."""
    port = free_port()
    process = start_server(app, port, extra_args)
    try:
        return load(wrk, port, seconds)
    finally:
        stop_server(process)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
IN_PROCESS_BATCHES = 15
IN_PROCESS_BATCH_SIZE = 1000


def load_in_process() -> dict[str, WSGIApp]:
    """Import both apps into this process, as gunicorn's preload would."""
    sys.path[:0] = [str(REPO_ROOT), str(BASELINE_DIR)]
    for name in [name for name in os.environ if name.startswith("CALCULATOR_")]:
        del os.environ[name]
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ["CALCULATOR_LOG_LEVEL"] = "WARNING"  # keep the start-up lines out of the report
    service = importlib.import_module("service.web.app").create_app()
    bare = importlib.import_module("app").app
    return {"bare Flask (baseline)": bare, "calculator service": service}


def cpu_per_request(apps: dict[str, WSGIApp]) -> dict[str, float]:
    """Fastest batch's CPU microseconds per GET /add, batches of the apps alternating."""
    path, _, query = PATH.partition("?")

    def environ() -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    def start_response(*_: object) -> None:
        return None

    best = dict.fromkeys(apps, float("inf"))
    for _ in range(IN_PROCESS_BATCHES):
        for name, app in apps.items():
            started = time.process_time()
            for _ in range(IN_PROCESS_BATCH_SIZE):
                b"".join(app(environ(), start_response))
            elapsed = (time.process_time() - started) / IN_PROCESS_BATCH_SIZE * 1e6
            best[name] = min(best[name], elapsed)
    return best


def main() -> None:
    """Measure both apps (alternating over the rounds) and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="load time per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per app, alternating")
    options = parser.parse_args()
    wrk = ensure_wrk()
    contenders = {
        "bare Flask (baseline)": ("app:app", ["--pythonpath", str(BASELINE_DIR)]),
        "calculator service": ("service.wsgi:app", []),
    }
    results: dict[str, list[Result]] = {name: [] for name in contenders}
    for _ in range(options.rounds):
        for name, (app, extra_args) in contenders.items():
            results[name].append(measure(wrk, app, extra_args, options.seconds))
    print(
        f"GET {PATH}, wrk 2 threads / 32 connections / {options.seconds} s, "
        f"{options.rounds} round(s), same gunicorn config"
    )
    print(f"{'':24}{'requests/s':>12}{'p99 ms':>10}")
    best: dict[str, Result] = {}
    for name, runs in results.items():
        best[name] = Result(
            max(run.requests_per_second for run in runs), min(run.p99_ms for run in runs)
        )
        print(f"{name:24}{best[name].requests_per_second:>12.0f}{best[name].p99_ms:>10.1f}")
    service, bare = best["calculator service"], best["bare Flask (baseline)"]
    print(
        f"{'service / bare':24}{service.requests_per_second / bare.requests_per_second:>11.2f}x"
        f"{service.p99_ms / bare.p99_ms:>9.2f}x"
    )
    print_cpu_comparison(cpu_per_request(load_in_process()))


def print_cpu_comparison(cpu: dict[str, float]) -> None:
    """Print the in-process CPU figures beside each other, and their ratio as throughput."""
    print(
        f"\nin-process CPU per request, fastest of {IN_PROCESS_BATCHES} batches of "
        f"{IN_PROCESS_BATCH_SIZE}"
    )
    print(f"{'':24}{'us/request':>12}{'requests/s/core':>17}")
    for name, micros in cpu.items():
        print(f"{name:24}{micros:>12.1f}{1e6 / micros:>17.0f}")
    ratio = cpu["bare Flask (baseline)"] / cpu["calculator service"]
    print(f"{'service / bare':24}{'':>12}{ratio:>16.2f}x")


if __name__ == "__main__":
    main()
