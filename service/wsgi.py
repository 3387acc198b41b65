"""The WSGI entry point of the service, as gunicorn loads it.

Run: ``gunicorn --config python:service.runtime.gunicorn_conf service.wsgi:app``.

A configuration problem ends the process here with one JSON log line on stderr.
The gunicorn config preloads the app, so this runs once in the master, before any
worker exists; the exit status is gunicorn's "application failed to load", on
which gunicorn stops instead of restarting workers in a loop.
"""

import sys

from service.runtime.logs import configuration_error_line
from service.runtime.settings import ConfigurationError
from service.web.app import create_app

APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigurationError as error:
    print(configuration_error_line(error), file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None
