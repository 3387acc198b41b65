"""gunicorn's error and access logs as JSON lines, like the service's own log.

The access line is built here from the WSGI environ, where the app left the
request id and the route template: one line per request, and none of the
header and environ copying gunicorn's format atoms would do.
"""

import json
import logging
import time
from datetime import timedelta
from typing import Any

from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from service.envelope import REQUEST_ID_KEY, ROUTE_KEY
from service.log_format import JsonFormatter, format_time


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn logger class writing JSON lines (``logger_class`` in gunicorn_conf)."""

    def setup(self, cfg: Config) -> None:
        """Install gunicorn's handlers, then make them write JSON."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        for handler in self.access_log.handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Write one JSON line for an answered request."""
        if not self.access_log_enabled:
            return
        status = resp.status
        entry = {
            "time": format_time(time.time()),
            "level": "INFO",
            "logger": "gunicorn.access",
            "request_id": environ.get(REQUEST_ID_KEY),
            "method": environ.get("REQUEST_METHOD"),
            "route": environ.get(ROUTE_KEY),
            "path": environ.get("PATH_INFO"),
            "status": int(status.split(None, 1)[0]) if isinstance(status, str) else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote": environ.get("REMOTE_ADDR"),
        }
        self.access_log.info(json.dumps(entry))
