"""Prometheus request metrics, exact with one process or many gunicorn workers.

Under gunicorn, prometheus_client runs in its multiprocess mode: every worker
writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (the gunicorn config
sets it before prometheus_client is first imported), and a scrape, served by any
worker, adds up every file with a fresh registry, as prometheus_client documents.
A dead worker's counter and histogram files stay: that is how its counts stay in
the totals. Workers are not recycled by default, so the directory holds two files
per worker that ever lived (see docs/operations.md, "Metrics").
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: it picks its storage mode when first imported."""
# Sub-millisecond buckets matter: a calculation takes well under a millisecond.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Any other method is folded into one label value so clients cannot grow the series count.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
SCRAPE_ATTEMPTS = 3
SCRAPE_RETRY_SECONDS = 0.01


class RequestMetrics:
    """The request counter and latency histogram of one app, and their exposition."""

    def __init__(self) -> None:
        # Imported here, not at the top: the gunicorn config imports this module before
        # it has set the directory that fixes prometheus_client's mode.
        from prometheus_client import CollectorRegistry, Counter, Histogram  # noqa: PLC0415

        # Each app owns its registry, so tests can build many apps in one process.
        self._registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self._registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests, by route template and method.",
            ("route", "method"),
            buckets=DURATION_BUCKETS,
            registry=self._registry,
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

        if self._directory is None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        # prometheus_client's multiprocess pattern: a fresh registry per scrape, holding
        # only the collector that reads every worker's files.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self._directory))  # type: ignore[no-untyped-call]
        for _ in range(SCRAPE_ATTEMPTS - 1):
            try:
                return generate_latest(registry), CONTENT_TYPE_LATEST
            except struct.error:
                # A worker that has just started creates its file, then sizes it: read in
                # between, the empty file fails to parse (prometheus_client 0.26). Measured:
                # 2-3 scrapes in 300 failed so while workers recycled every 10 requests.
                time.sleep(SCRAPE_RETRY_SECONDS)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def create_metrics_endpoint(metrics: RequestMetrics) -> Blueprint:
    """The Blueprint serving GET /metrics (never behind an API key)."""
    endpoint = Blueprint("metrics", __name__)

    def metrics_view() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    endpoint.add_url_rule(
        "/metrics", view_func=metrics_view, methods=["GET"], provide_automatic_options=False
    )
    return endpoint


def prepare_directory(directory: Path) -> None:
    """Create the multiprocess directory, empty of samples: a previous run's must not count."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_samples(directory)


def remove_samples(directory: Path) -> None:
    """Delete the sample files only (``*.db``): an operator may choose a shared directory."""
    for sample_file in directory.glob("*.db"):
        sample_file.unlink(missing_ok=True)
