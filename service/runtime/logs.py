"""Logs as JSON lines: the service's own records and gunicorn's error log.

Lines can then be parsed without regular expressions. The access log is
gunicorn's own (service.runtime.gunicorn_conf).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

EX_CONFIG = 78
"""Exit status of every refusal to start on a bad configuration (sysexits.h EX_CONFIG)."""

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single JSON line."""
        entry: dict[str, Any] = {
            "time": format_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def format_time(created: float) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str) -> None:
    """Send the service's log records to stdout as JSON lines at ``level`` and above."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    service_logger = logging.getLogger("service")
    service_logger.handlers[:] = [handler]
    service_logger.setLevel(level)
    service_logger.propagate = False


def configuration_error_line(error: Exception) -> str:
    """The single log line that reports why the service refuses to start."""
    record = logging.makeLogRecord(
        {"name": "service.runtime.settings", "levelno": logging.CRITICAL, "levelname": "CRITICAL"}
    )
    record.msg = f"configuration error: {error}"
    return JsonFormatter().format(record)


def refuse(error: Exception) -> SystemExit:
    """Print the configuration error line on stderr; return the exit to raise with EX_CONFIG."""
    print(configuration_error_line(error), file=sys.stderr, flush=True)
    return SystemExit(EX_CONFIG)
