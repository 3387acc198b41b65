"""The liveness probe: GET /livez, never behind an API key.

There is no separate readiness endpoint: the app is fully built before gunicorn
forks its first worker, so a process that answers is ready, and a stopping one
closes its listener at once.
"""

from __future__ import annotations

from flask import Blueprint, Response

from service.web.exact_json import JSON_MEDIA_TYPE

_ALIVE = '{"status":"alive"}'


def create_probes() -> Blueprint:
    """The probes Blueprint: /livez."""
    probes = Blueprint("probes", __name__)

    def livez() -> Response:
        return Response(_ALIVE, content_type=JSON_MEDIA_TYPE)

    probes.add_url_rule(
        "/livez",
        endpoint="livez",
        view_func=livez,
        methods=["GET"],
        provide_automatic_options=False,
    )
    return probes
