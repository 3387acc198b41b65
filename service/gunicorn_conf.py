"""gunicorn settings for the service.

Run: ``gunicorn --config python:service.gunicorn_conf service.wsgi:app``.

Environment: PORT (default 8000), WEB_CONCURRENCY (workers; default 2 per usable
CPU + 1, counting the cgroup quota), FORWARDED_ALLOW_IPS (default 127.0.0.1),
PROMETHEUS_MULTIPROC_DIR (default a fresh directory under the temp dir).
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from service.cpu_quota import available_cpus
from service.log_format import configuration_error_line

# prometheus_client's own variable; it is read when prometheus_client is first imported,
# so nothing above may import it (service.metrics does).
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a fixed system mount, not a temp file name


def _integer_from_env(name: str, default: int, highest: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= highest:
        problem = ValueError(f"{name}={text!r} is not an integer from 1 to {highest}")
        print(configuration_error_line(problem), file=sys.stderr, flush=True)
        raise SystemExit(2)
    return int(text)


port = _integer_from_env("PORT", 8000, highest=65535)
bind = [f"0.0.0.0:{port}"]
workers = _integer_from_env("WEB_CONCURRENCY", 2 * available_cpus() + 1, highest=256)
# Sync workers: the handlers are short and CPU-bound, where threads only add switching.
worker_class = "sync"
# The heartbeat file lives in memory: works with a read-only root and never stalls on disk.
worker_tmp_dir = str(SHARED_MEMORY) if SHARED_MEMORY.is_dir() else None
# The control socket would need a writable home or runtime dir; the service does not use it.
control_socket_disable = True
# Load the app once in the master: a bad configuration stops gunicorn before any worker
# starts (no restart loop), and workers share the loaded code.
preload_app = True

timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips

accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = "service.gunicorn_logging.JsonLogger"
proc_name = "calculator"

# Must be in the environment before the app imports prometheus_client, which picks its
# storage mode once, at import; the config module is read before the app is loaded.
os.environ.setdefault(
    MULTIPROCESS_DIR_ENV, os.path.join(tempfile.gettempdir(), f"calculator-metrics-{os.getpid()}")
)


def _remove_samples(directory: Path) -> None:
    # Only prometheus_client's sample files: the directory may be one an operator chose.
    for sample_file in directory.glob("*.db"):
        sample_file.unlink(missing_ok=True)


def on_starting(server: Any) -> None:
    """Start with no samples in the metrics directory: a previous run's must not count."""
    directory = Path(os.environ[MULTIPROCESS_DIR_ENV])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_samples(directory)


def post_worker_init(worker: Any) -> None:
    """Let /readyz answer 503 as soon as this worker is told to shut down."""
    from service.readiness import drain_on_sigterm  # noqa: PLC0415 - see MULTIPROCESS_DIR_ENV

    # Any WSGI app may run under this config (the benchmark's bare baseline does).
    readiness = getattr(worker.wsgi, "extensions", {}).get("readiness")
    if readiness is not None:
        drain_on_sigterm(readiness)


def child_exit(server: Any, worker: Any) -> None:
    """Drop the live-gauge files of a dead worker (its counters keep counting)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - see MULTIPROCESS_DIR_ENV

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the samples when gunicorn stops, and the directory if nothing else is in it."""
    directory = Path(os.environ[MULTIPROCESS_DIR_ENV])
    _remove_samples(directory)
    with contextlib.suppress(OSError):
        directory.rmdir()
