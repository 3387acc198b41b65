"""CPU per request of both WSGI apps called in-process: no server, no network, no logging.

The container benchmark (containers.py) measures what a request costs the whole
container; this measures what the app alone costs, so the difference is what
the server around it (gunicorn, its logging, the kernel's network work) adds.
Both apps (the service and deploy/bench/baseline/app.py) are imported into this
process, as gunicorn's preload would, and called with the same GET /add
environ in alternating batches; the fastest batch of each counts, a figure that
other load on the machine disturbs little. Runs on the development venv.

Usage: python deploy/bench/inprocess.py
"""

import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINE_DIR = REPO_ROOT / "deploy" / "bench" / "baseline"
PATH = "/add?a=1&b=2"


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
    return {"baseline": bare, "calculator": service}


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
    """Time both apps and print them side by side with the ratio."""
    cpu = cpu_per_request(load_in_process())
    print(f"in-process CPU per GET {PATH} (app only), fastest of {IN_PROCESS_BATCHES} batches "
          f"of {IN_PROCESS_BATCH_SIZE}; ratio = calculator / baseline")  # fmt: skip
    print(f"{'figure':24}{'baseline':>10}{'calculator':>12}{'ratio':>8}")
    print(f"{'CPU per request (us)':24}{cpu['baseline']:>10.1f}{cpu['calculator']:>12.1f}"
          f"{cpu['calculator'] / cpu['baseline']:>7.2f}x")  # fmt: skip
    print()


if __name__ == "__main__":
    main()
