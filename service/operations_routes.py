"""Endpoints for operators and tools: liveness, readiness, metrics, the OpenAPI document."""

import json
from typing import Any

from flask import Flask, Response

from service.metrics import RequestMetrics
from service.problems import http_problem
from service.readiness import Readiness

OPEN_ENDPOINTS = frozenset({"livez", "readyz", "metrics", "openapi"})


class NotReadyError(Exception):
    """Raised by /readyz while the process should not receive traffic."""

    def __init__(self, draining: bool) -> None:
        reason = "shutting down" if draining else "still starting"
        super().__init__(reason)
        self.problem = http_problem(503, f"the service is {reason}")


def register_operations_routes(
    app: Flask, readiness: Readiness, metrics: RequestMetrics, openapi: dict[str, Any]
) -> None:
    """Add /livez, /readyz, /metrics and /openapi.json."""
    # The document never changes while the process runs: serialise it once.
    openapi_body = json.dumps(openapi, indent=1)

    def livez() -> dict[str, str]:
        return {"status": "alive"}

    def readyz() -> dict[str, str]:
        if not readiness.ready:
            raise NotReadyError(readiness.draining)
        return {"status": "ready"}

    def metrics_view() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    def openapi_view() -> Response:
        return Response(openapi_body, mimetype="application/json")

    for rule, endpoint, view in (
        ("/livez", "livez", livez),
        ("/readyz", "readyz", readyz),
        ("/metrics", "metrics", metrics_view),
        ("/openapi.json", "openapi", openapi_view),
    ):
        app.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=["GET"])
