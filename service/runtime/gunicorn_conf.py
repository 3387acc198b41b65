"""gunicorn settings and server hooks for the service.

Run: ``gunicorn --config python:service.runtime.gunicorn_conf service.wsgi:app``.

gunicorn itself reads PORT (binding 0.0.0.0:$PORT), WEB_CONCURRENCY (workers),
FORWARDED_ALLOW_IPS and GUNICORN_CMD_ARGS, whose options override this file.
This file adds what gunicorn does not do: binding all addresses when PORT is
unset, a default worker count that respects the container's CPU quota, THREADS
(per worker, default 32), ACCESS_LOG (``on`` or ``off``, default ``on``), and a
PROMETHEUS_MULTIPROC_DIR (default a fresh directory under the temp dir). A bad
THREADS or ACCESS_LOG stops gunicorn at once with one JSON line naming it and
status 78 (EX_CONFIG).

Nothing here may import prometheus_client at module level: the metrics directory
must be in the environment before prometheus_client is first imported.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger  # type: ignore[import-untyped]
from gunicorn.workers import gthread  # type: ignore[import-untyped]

from service.runtime.logs import JsonFormatter, refuse
from service.runtime.metrics import MULTIPROCESS_DIR_ENV, prepare_directory, remove_samples

CGROUP_ROOT = Path("/sys/fs/cgroup")
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a fixed system mount, not a temp file name


def _integer_from_env(name: str, default: int, highest: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= highest:
        raise refuse(ValueError(f"{name}={text!r} is not an integer from 1 to {highest}"))
    return int(text)


def _switch_from_env(name: str, default: bool) -> bool:
    text = os.environ.get(name)
    if text is None:
        return default
    if text not in ("on", "off"):
        raise refuse(ValueError(f"{name}={text!r} is neither 'on' nor 'off'"))
    return text == "on"


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time the cgroup may use, or None without a quota.

    cgroup v2 writes it as ``cpu.max`` (``<quota> <period>`` or ``max <period>``);
    cgroup v1 as ``cpu/cpu.cfs_quota_us`` (-1 for none) and ``cpu/cpu.cfs_period_us``.
    """
    with contextlib.suppress(OSError, ValueError):
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process can use: the smaller of its affinity mask and its cgroup quota.

    ``os.cpu_count()`` reports the host's CPUs even when a container runs with
    ``--cpus 1``; sizing gunicorn from it starts too many workers that then fight
    over the quota.
    """
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(root)
    return cpus if quota is None else min(cpus, max(1, math.ceil(quota)))


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with its error log written as JSON lines like the service's own.

    The access log keeps gunicorn's own handler and ``access_log_format``.
    """

    def setup(self, cfg: Config) -> None:
        """Install gunicorn's handlers, then give the error log's the JSON formatter."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


if "PORT" not in os.environ:
    # gunicorn's own default without PORT is 127.0.0.1:8000, out of reach from outside
    # a container.
    bind = ["0.0.0.0:8000"]
if "WEB_CONCURRENCY" not in os.environ:
    workers = 2 * available_cpus() + 1
# gunicorn's stock threaded worker: threads serve kept-alive connections without a new
# TCP handshake per request. The proxy in front owns slow clients (docs/operations.md).
worker_class = "gthread"
threads = _integer_from_env("THREADS", 32, highest=64)
# The one change to stock gthread. A new connection takes a worker thread until its
# first bytes arrive, for up to gthread's DEFAULT_WORKER_DATA_TIMEOUT (5 s), before it
# is handed to the poller; at 0.1 s an idle connection goes to the poller soon, while a
# client's first bytes, which follow its connect within microseconds, are still read
# in the same thread (a connection gthread hands back while its worker stops is closed
# unread, so the wait is not shorter). Measured straight against one replica with 200
# idle and 20 slow-header connections (docs/operations.md, "Slow clients"): /livez
# answered after 15 s or not within 30 s at 5 s, within 0.6 s at 0.1 s with 32 threads
# a worker. A module constant, not a setting: tests/unit/runtime/test_gunicorn.py fails
# on the upgrade that renames or ignores it.
IDLE_CONNECTION_HANDOFF_SECONDS = 0.1
gthread.DEFAULT_WORKER_DATA_TIMEOUT = IDLE_CONNECTION_HANDOFF_SECONDS
# The heartbeat file lives in memory: works with a read-only root and never stalls on disk.
worker_tmp_dir = str(SHARED_MEMORY) if SHARED_MEMORY.is_dir() else None
# The control socket would need a writable home or runtime dir; the service does not use it.
control_socket_disable = True
# Load the app once in the master: a bad configuration stops gunicorn before any worker
# starts (no restart loop), and workers share the loaded code.
preload_app = True

timeout = 30
graceful_timeout = 20
# A proxy keeping idle connections to a replica must close them sooner than this.
keepalive = 5
# No recycling: nothing leaks (docs/operations.md, "Workers"); each recycle leaves its
# metrics files behind. GUNICORN_CMD_ARGS="--max-requests N" turns it on.
max_requests = 0
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190

# gunicorn's access log, in its own format plus the request id and the time taken (µs).
# Behind a proxy (which logs every request) ACCESS_LOG=off turns it off.
accesslog = "-" if _switch_from_env("ACCESS_LOG", default=True) else None
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s %(D)s'
)
errorlog = "-"
loglevel = "info"
logger_class = "service.runtime.gunicorn_conf.JsonLogger"
proc_name = "calculator"

os.environ.setdefault(
    MULTIPROCESS_DIR_ENV, os.path.join(tempfile.gettempdir(), f"calculator-metrics-{os.getpid()}")
)
_metrics_directory = Path(os.environ[MULTIPROCESS_DIR_ENV])


def on_starting(server: Any) -> None:
    """Start with no samples in the metrics directory: a previous run's must not count."""
    prepare_directory(_metrics_directory)


def pre_fork(server: Any, worker: Any) -> None:
    """Freeze what the worker inherits before each fork.

    Frozen objects are never visited by the garbage collector, which would otherwise
    write to every inherited object and turn the memory workers share with the master
    into copies.
    """
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """prometheus_client's bookkeeping for a dead worker (its live gauges go)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - see the module docstring

    multiprocess.mark_process_dead(worker.pid, str(_metrics_directory))  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the samples when gunicorn stops, and the directory if nothing else is in it."""
    remove_samples(_metrics_directory)
    with contextlib.suppress(OSError):
        _metrics_directory.rmdir()
