"""Prometheus request metrics, correct with one process or many gunicorn workers.

When PROMETHEUS_MULTIPROC_DIR is set (gunicorn_conf sets it before the app is
imported) every worker writes its samples to files there and a scrape, served by
any worker, adds them all up.
"""

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Sub-millisecond buckets matter: a calculation takes well under a millisecond.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Any other method is folded into one label value so clients cannot grow the series count.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """The request counter and latency histogram of one app, and their exposition."""

    def __init__(self) -> None:
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
        self._multiprocess = bool(os.environ.get(MULTIPROCESS_DIR_ENV))
        self._registry: CollectorRegistry | None = None
        self._observers: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and record how long it took."""
        key = (route, method, status)
        observer = self._observers.get(key)
        if observer is None:
            observer = self._bind(route, method if method in KNOWN_METHODS else "OTHER", status)
            self._observers[key] = observer
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
        return generate_latest(self._exposed()), CONTENT_TYPE_LATEST

    def _exposed(self) -> CollectorRegistry:
        # Built at the first scrape: under gunicorn the multiprocess directory is
        # created after the app is preloaded, just before the workers start.
        if self._registry is None:
            registry = CollectorRegistry(auto_describe=True)
            if self._multiprocess:
                multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            else:
                registry.register(self.requests)
                registry.register(self.duration)
            self._registry = registry
        return self._registry
