"""Start the service as the image does, serve real requests, and record what that used.

Run by the Dockerfile's builder stage with the image's gunicorn arguments:
``python smoke_test.py [--record=FILE] --config=python:service.runtime.gunicorn_conf
service.wsgi:app``.

It is the image's smoke test: gunicorn starts with the runtime command's arguments on a
free loopback port, boots its workers and answers a table of HTTP requests (every
status the API documents, the probes, the metrics); the health check must pass, the
settings must print (``--print-config``, what deploy/verify reads) and SIGTERM must stop
it cleanly. Any other answer fails the build: no image is made from an app that cannot
serve.

It is also the measurement the runtime root is cut from (deploy/scripts/runtime_root.py).
Every Python process involved (gunicorn's master and workers, the health check, the
settings print, this client, whose requests go through urllib.request as an operator's
in-container scrape does) records, as it exits, the standard-library modules it loaded
and the files it opened outside the interpreter's own trees (an audit hook). With
``--record`` the union is written as JSON. The builder runs this twice: with the base's
full standard library to measure, then chrooted inside the assembled root, as the
runtime user, to prove that what was kept is enough.
"""

import atexit
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# Internal: run a module (gunicorn, the health check) and record what it used into DIR.
RECORDED = "--recorded-into="
STARTUP_SECONDS = 60
STOP_SECONDS = 30
# A JSON body in each encoding json.loads detects: the codec module is looked up by
# name from what the client sent, so only a request in it measures it.
JSON_ENCODINGS = ("utf-8-sig", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
# (method, path, JSON body (encoded as UTF-8 unless bytes) or None, expected status):
# every answer the API documents.
REQUESTS: tuple[tuple[str, str, object, int], ...] = (
    ("GET", "/add?a=1&b=2", None, 200),
    ("GET", "/evaluate?expr=%281%20%2B%202%29%20%2A%20sqrt%2816%29", None, 200),
    ("POST", "/evaluate", ["1 + 2", "sqrt(2)"], 200),
    *(("POST", "/evaluate", '["1 + 2"]'.encode(name), 200) for name in JSON_ENCODINGS),
    ("POST", "/evaluate", {"not": "a list"}, 400),
    ("GET", "/add?a=abc&b=1", None, 400),
    ("GET", "/divide?a=1&b=0", None, 422),
    ("GET", "/nowhere", None, 404),
    ("POST", "/add?a=1&b=2", None, 405),
    ("GET", "/livez", None, 200),
    ("GET", "/metrics", None, 200),
    ("GET", "/openapi.json", None, 200),
)


def record_on_exit(directory: Path) -> Callable[[], None]:
    """At this process's exit (and its forks'), write what it loaded and opened to DIRECTORY;
    return the writer, to call earlier."""
    opened: set[str] = set()

    def hook(event: str, arguments: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(arguments[0], str):
            opened.add(os.path.abspath(arguments[0]))

    def write() -> None:
        used = {"stdlib": loaded_stdlib_files(), "opened": sorted(opened)}
        (directory / f"{os.getpid()}.json").write_text(json.dumps(used), encoding="utf-8")

    sys.addaudithook(hook)
    atexit.register(write)
    return write


def loaded_stdlib_files() -> list[str]:
    """Files of the loaded modules (sources and extensions) that belong to the standard library."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    files = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file)
        # The official image keeps site-packages inside the stdlib directory.
        if path.is_relative_to(stdlib) and not {"site-packages", "dist-packages"} & set(path.parts):
            files.add(str(path))
    return sorted(files)


def run_recorded(directory: Path, module: str, arguments: list[str]) -> None:
    """Run ``python -m MODULE ARGUMENTS`` in this process, recording what it uses."""
    record_on_exit(directory)
    sys.argv = [module, *arguments]
    # As `python -m` does: the working directory (the app's) comes first on the path.
    sys.path[0] = os.getcwd()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def recorded(directory: Path, module: str, *arguments: str) -> list[str]:
    """The command line that runs MODULE under this script's recorder."""
    return [sys.executable, __file__, f"{RECORDED}{directory}", module, *arguments]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def status_of(base_url: str, method: str, path: str, body: object) -> int:
    """The status of one request, sent with urllib.request."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def wait_until_serving(server: subprocess.Popen[bytes], base_url: str) -> None:
    """Poll /livez until it answers 200; fail if the server exits or the deadline passes."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"smoke_test: gunicorn exited {server.returncode} before serving")
        try:
            if status_of(base_url, "GET", "/livez", None) == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"smoke_test: no answer from gunicorn within {STARTUP_SECONDS} s")


def exercise(directory: Path, gunicorn_args: list[str]) -> None:
    """Start gunicorn, send the requests, run the health check and print-config, stop it."""
    port = free_port()
    environment = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(recorded(directory, "gunicorn", *gunicorn_args), env=environment)  # noqa: S603
    try:
        wait_until_serving(server, base_url)
        for method, path, body, expected in REQUESTS:
            status = status_of(base_url, method, path, body)
            if status != expected:
                raise SystemExit(f"smoke_test: {method} {path} answered {status}, not {expected}")
        checks = (
            recorded(directory, "service.runtime.healthcheck"),
            recorded(directory, "gunicorn", *gunicorn_args, "--print-config"),
        )
        for command in checks:
            # Captured, not sent to /dev/null: the chrooted run has no /dev.
            done = subprocess.run(command, env=environment, capture_output=True, check=False)  # noqa: S603
            if done.returncode:
                sys.stderr.buffer.write(done.stdout + done.stderr)
                raise SystemExit(f"smoke_test: {' '.join(command[3:5])} exited {done.returncode}")
        server.send_signal(signal.SIGTERM)
        if server.wait(timeout=STOP_SECONDS) != 0:
            raise SystemExit(f"smoke_test: gunicorn stopped with status {server.returncode}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def outside_python(paths: Iterable[str]) -> list[str]:
    """The files that exist outside the standard library, the environment, the app, /tmp
    and the kernel's views (/proc, /sys, /dev: the engine mounts those)."""
    trees = [sysconfig.get_path("stdlib"), sys.prefix, os.getcwd(), tempfile.gettempdir()]
    trees += ["/proc", "/sys", "/dev"]
    return sorted(
        {
            path
            for path in paths
            if os.path.isfile(path) and not any(Path(path).is_relative_to(tree) for tree in trees)
        }
    )


def main(argv: list[str]) -> int:
    """Serve and check; with --record=FILE, write what every process used there as JSON."""
    arguments = argv[1:]
    if arguments and arguments[0].startswith(RECORDED):
        directory = Path(arguments[0].removeprefix(RECORDED))
        run_recorded(directory, arguments[1], arguments[2:])
        return 0
    record = None
    if arguments and arguments[0].startswith("--record="):
        record = Path(arguments.pop(0).removeprefix("--record="))
    if not arguments:
        print(f"usage: {argv[0]} [--record=FILE] GUNICORN_ARGUMENT...", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        write_own_record = record_on_exit(directory)
        exercise(directory, arguments)
        atexit.unregister(write_own_record)
        write_own_record()
        records = [json.loads(path.read_text()) for path in directory.glob("*.json")]
    stdlib = sorted({file for used in records for file in used["stdlib"]})
    opened = outside_python(file for used in records for file in used["opened"])
    if record is not None:
        record.write_text(json.dumps({"stdlib": stdlib, "opened": opened}, indent=1))
    print(
        f"smoke_test: served {len(REQUESTS)} requests; {len(records)} processes loaded "
        f"{len(stdlib)} standard-library files; opened elsewhere: {', '.join(opened) or 'none'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
