"""gunicorn settings and server hooks for the service.

Run: ``gunicorn --config python:service.runtime.gunicorn_conf service.wsgi:app``.

Environment: PORT (default 8000), WEB_CONCURRENCY (workers; default 2 per usable
CPU + 1, counting the cgroup quota), THREADS (per worker, default 8),
FORWARDED_ALLOW_IPS (default 127.0.0.1), ACCESS_LOG (``on`` or ``off``, default
``on``), PROMETHEUS_MULTIPROC_DIR (default a fresh directory under the temp dir).
A bad value stops gunicorn at once with one JSON line naming it.

Nothing here may import Flask or prometheus_client at module level: the metrics
directory must be in the environment before prometheus_client is first imported.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from service.runtime.logs import configuration_error_line
from service.runtime.metrics import (
    MULTIPROCESS_DIR_ENV,
    fold_dead_worker,
    prepare_directory,
    remove_samples,
)

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a fixed system mount, not a temp file name
CONFIGURATION_ERROR = 2
# A worker that dies this soon after it started, other than by a clean exit, failed
# at boot; this many such deaths in a row mean no worker can serve.
BOOT_WINDOW_SECONDS = 10.0
BOOT_CRASH_LIMIT = 5
# gunicorn's own status for workers that cannot boot; it halts on it too.
WORKER_BOOT_ERROR = 3


def _refuse(problem: str) -> SystemExit:
    print(configuration_error_line(ValueError(problem)), file=sys.stderr, flush=True)
    return SystemExit(CONFIGURATION_ERROR)


def _integer_from_env(name: str, default: int, highest: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= highest:
        raise _refuse(f"{name}={text!r} is not an integer from 1 to {highest}")
    return int(text)


def _switch_from_env(name: str, default: bool) -> bool:
    text = os.environ.get(name)
    if text is None:
        return default
    if text not in ("on", "off"):
        raise _refuse(f"{name}={text!r} is neither 'on' nor 'off'")
    return text == "on"


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Whole CPUs this process can use: the smaller of its affinity mask and its cgroup quota.

    ``os.cpu_count()`` reports the host's CPUs even when a container runs with
    ``--cpus 1``; sizing gunicorn from it starts too many workers that then fight
    over the quota.
    """
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, _, period = cpu_max.read_text().strip().partition(" ")
        if quota != "max" and period:
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return cpus


port = _integer_from_env("PORT", 8000, highest=65535)
bind = [f"0.0.0.0:{port}"]
workers = _integer_from_env("WEB_CONCURRENCY", 2 * available_cpus() + 1, highest=256)
# Threads serve kept-alive connections without a new TCP handshake per request, and
# wait for slow clients while other threads compute (service.runtime.worker).
worker_class = "service.runtime.worker.DeadlineWorker"
threads = _integer_from_env("THREADS", 8, highest=64)
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

accesslog = "-" if _switch_from_env("ACCESS_LOG", default=True) else None
errorlog = "-"
loglevel = "info"
logger_class = "service.runtime.logs.JsonLogger"
proc_name = "calculator"

os.environ.setdefault(
    MULTIPROCESS_DIR_ENV, os.path.join(tempfile.gettempdir(), f"calculator-metrics-{os.getpid()}")
)
_metrics_directory = Path(os.environ[MULTIPROCESS_DIR_ENV])
_boot_crashes: deque[float] = deque(maxlen=BOOT_CRASH_LIMIT)
# Set once gunicorn is told to halt: the workers it then stops are reaped by child_exit too.
_halting = False


def _exit_marker(pid: int) -> Path:
    return _metrics_directory / f"exited-{pid}"


def on_starting(server: Any) -> None:
    """Start with no samples in the metrics directory: a previous run's must not count."""
    prepare_directory(_metrics_directory)


def pre_fork(server: Any, worker: Any) -> None:
    """In the master, before each fork: note the start, and freeze what the worker inherits.

    The start tells a boot failure from a recycle (child_exit). Frozen objects are
    never visited by the garbage collector, which would otherwise write to every
    inherited object and turn the memory workers share with the master into copies.
    """
    worker.started_at = time.monotonic()
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """Leave a mark of an orderly exit (recycled or told to stop) for the master to find."""
    if not worker.alive:
        with contextlib.suppress(OSError):
            _exit_marker(worker.pid).touch()


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's metrics into the archive; halt if workers die as they boot."""
    if _halting:
        return
    try:
        fold_dead_worker(_metrics_directory, worker.pid)
    except OSError as error:
        _halt(server, f"cannot keep the metrics of dead workers in {_metrics_directory}: {error}")
    marker = _exit_marker(worker.pid)
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    now = time.monotonic()
    if clean or now - getattr(worker, "started_at", now) > BOOT_WINDOW_SECONDS:
        _boot_crashes.clear()
        return
    _boot_crashes.append(now)
    if len(_boot_crashes) == BOOT_CRASH_LIMIT:
        _halt(
            server,
            f"{BOOT_CRASH_LIMIT} workers in a row died within {BOOT_WINDOW_SECONDS:.0f} s "
            "of starting",
        )


def _halt(server: Any, reason: str) -> None:
    """Stop gunicorn with one critical line, so that its supervisor replaces this instance."""
    from gunicorn.errors import HaltServer  # type: ignore[import-untyped]  # noqa: PLC0415

    global _halting  # noqa: PLW0603 - the master's one piece of shutdown state
    _halting = True
    server.log.critical(f"{reason}; stopping so that the supervisor replaces this instance")
    # No reason for gunicorn to log again: the line above is the one that says why.
    raise HaltServer(None, WORKER_BOOT_ERROR)


def on_exit(server: Any) -> None:
    """Remove the samples when gunicorn stops, and the directory if nothing else is in it."""
    remove_samples(_metrics_directory)
    with contextlib.suppress(OSError):
        _metrics_directory.rmdir()
