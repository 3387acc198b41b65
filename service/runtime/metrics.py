"""Prometheus request metrics, exact with one process or many gunicorn workers.

Under gunicorn every worker writes its samples to files in the multiprocess
directory (``PROMETHEUS_MULTIPROC_DIR``, which the gunicorn config sets before
prometheus_client is imported) and a scrape, served by any worker, adds them up.
Left alone, every worker that ever lived would keep its files there: workers are
recycled every few thousand requests, so the directory, a tmpfs, would fill up
and every new worker die of SIGBUS on its first write. Instead, when a worker
exits, the master folds its counters and histograms into one archive file per
kind and deletes its files (as the multiprocess guides of prometheus_client and
of Ruby's prometheus-client-mmap advise), so the directory holds the live
workers' files and the archives: bounded by the number of workers and series,
with every count kept.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: it picks its storage mode when first imported."""
# Sub-millisecond buckets matter: a calculation takes well under a millisecond.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Any other method is folded into one label value so clients cannot grow the series count.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# Only these kinds of sample file are written: the service has no gauges or summaries.
_FOLDED_KINDS = ("counter", "histogram")
_ARCHIVE = "archive"
_LOCK_FILE = "archive.lock"


class RequestMetrics:
    """The request counter and latency histogram of one app, and their exposition."""

    def __init__(self) -> None:
        # Imported here, not at the top: the gunicorn config imports this module to fold
        # files in the master and must not fix prometheus_client's mode before it is set.
        from prometheus_client import Counter, Histogram  # noqa: PLC0415

        # Unregistered metrics: each app owns its own registry, so tests can build many apps.
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=None,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests, by route template and method.",
            ("route", "method"),
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        directory = os.environ.get(MULTIPROCESS_DIR_ENV)
        self._directory = Path(directory) if directory else None
        self._observers: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and record how long it took."""
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        key = (route, method, status)
        observer = self._observers.get(key)
        if observer is None:
            observer = self._observers[key] = self._bind(route, method, status)
        observer(seconds)

    def _bind(self, route: str, method: str, status: int) -> Callable[[float], None]:
        # Resolving label children once per series keeps the per-request cost to two updates.
        counter = self.requests.labels(route, method, str(status))
        histogram = self.duration.labels(route, method)

        def observe(seconds: float) -> None:
            counter.inc()
            histogram.observe(seconds)

        return observe

    def render(self) -> tuple[bytes, str]:
        """Return the exposition text and its content type."""
        from prometheus_client import (  # noqa: PLC0415 - see __init__
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            generate_latest,
            multiprocess,
        )

        registry = CollectorRegistry(auto_describe=True)
        if self._directory is None:
            registry.register(self.requests)
            registry.register(self.duration)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        multiprocess.MultiProcessCollector(registry, path=str(self._directory))  # type: ignore[no-untyped-call]
        # Shared with other scrapes, exclusive of a fold: a scrape never sees a dead
        # worker's counts twice (in its file and in the archive) or a file vanish.
        with _archive_lock(self._directory, fcntl.LOCK_SH):
            return generate_latest(registry), CONTENT_TYPE_LATEST


@contextmanager
def _archive_lock(directory: Path, operation: int) -> Iterator[None]:
    with (directory / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, operation)
        yield


def prepare_directory(directory: Path) -> None:
    """Create the multiprocess directory, empty of samples: a previous run's must not count."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_samples(directory)


def remove_samples(directory: Path) -> None:
    """Delete the sample files and the archive lock only: an operator may choose the directory."""
    for pattern in ("*.db", "*.tmp"):
        for sample_file in directory.glob(pattern):
            sample_file.unlink(missing_ok=True)
    (directory / _LOCK_FILE).unlink(missing_ok=True)


def fold_dead_worker(directory: Path, pid: int) -> None:
    """Add a dead worker's counters and histograms to the archives, then delete its files.

    Each archive is written anew beside the old one and renamed over it, with plain
    writes: a full directory then fails here with an OSError, where writing through a
    memory map, as prometheus_client does, would kill the master with SIGBUS.

    Raises:
        OSError: the archive cannot be written (the directory is full).
    """
    from prometheus_client.mmap_dict import MmapedDict  # noqa: PLC0415 - see RequestMetrics

    with _archive_lock(directory, fcntl.LOCK_EX):
        for kind in _FOLDED_KINDS:
            dead = directory / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = directory / f"{kind}_{_ARCHIVE}.db"
            totals: dict[str, tuple[float, float]] = {}
            for source in (archive, dead):
                if source.exists():
                    for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(  # type: ignore[no-untyped-call]
                        str(source)
                    ):
                        total, _ = totals.get(key, (0.0, 0.0))
                        totals[key] = (total + value, timestamp)
            staged = archive.with_suffix(".tmp")
            staged.write_bytes(_sample_file(totals))
            staged.replace(archive)
            dead.unlink()


def _sample_file(samples: dict[str, tuple[float, float]]) -> bytes:
    """The bytes of a prometheus_client sample file holding ``samples``.

    The layout is prometheus_client's (mmap_dict): the used length as a 32-bit int in
    an 8-byte header, then per sample the key's length, the key padded to 8 bytes, the
    value and the timestamp as doubles.
    """
    entries = bytearray()
    for key, (value, timestamp) in samples.items():
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
        entries += struct.pack(f"i{len(padded)}sdd", len(encoded), padded, value, timestamp)
    return struct.pack("i4x", 8 + len(entries)) + bytes(entries)
