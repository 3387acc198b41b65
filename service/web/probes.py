"""The operators' Blueprint: liveness, Prometheus metrics and the OpenAPI document.

These endpoints never require an API key. There is no separate readiness
endpoint: the app is fully built before gunicorn forks its first worker, so a
process that answers is ready, and a stopping one closes its listener at once.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response

from service.runtime.metrics import RequestMetrics
from service.web.problems import JSON_MEDIA_TYPE

_ALIVE = '{"status":"alive"}'


def create_probes(metrics: RequestMetrics, openapi: dict[str, Any]) -> Blueprint:
    """The probes Blueprint: /livez, /metrics and /openapi.json."""
    probes = Blueprint("probes", __name__)
    # The document never changes while the process runs: serialise it once.
    openapi_body = json.dumps(openapi, indent=1)

    def livez() -> Response:
        return Response(_ALIVE, content_type=JSON_MEDIA_TYPE)

    def metrics_view() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    def openapi_view() -> Response:
        return Response(openapi_body, content_type=JSON_MEDIA_TYPE)

    for rule, endpoint, view in (
        ("/livez", "livez", livez),
        ("/metrics", "metrics", metrics_view),
        ("/openapi.json", "openapi", openapi_view),
    ):
        probes.add_url_rule(
            rule,
            endpoint=endpoint,
            view_func=view,
            methods=["GET"],
            provide_automatic_options=False,
        )
    return probes
