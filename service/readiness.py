"""Readiness: whether this process should receive new traffic."""

import signal
from types import FrameType


class Readiness:
    """Ready once the app is built; not ready again once shutdown has begun."""

    def __init__(self) -> None:
        self.started = False
        self.draining = False

    @property
    def ready(self) -> bool:
        """Whether /readyz answers 200."""
        return self.started and not self.draining

    def mark_started(self) -> None:
        """Record that the app is fully built and can serve."""
        self.started = True

    def mark_draining(self) -> None:
        """Record that shutdown has begun: load balancers should stop sending traffic."""
        self.draining = True


def drain_on_sigterm(readiness: Readiness) -> None:
    """Mark ``readiness`` draining on SIGTERM, then run whatever handler was installed before.

    gunicorn's workers install their own SIGTERM handler (finish the request in
    hand, then exit); this runs in front of it rather than replacing it.
    """
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        readiness.mark_draining()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle)
