"""The WSGI entry point: ``gunicorn --config python:service.gunicorn_conf service.wsgi:app``.

A configuration problem ends the process here with one JSON log line on stderr.
gunicorn_conf preloads the app, so this runs once in the master, before any worker
exists; the exit status is gunicorn's "application failed to load", on which gunicorn
stops instead of restarting workers in a loop.
"""

import sys

from service.app import create_app
from service.config_errors import ConfigurationError
from service.log_format import configuration_error_line

APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigurationError as error:
    print(configuration_error_line(error), file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR) from None
