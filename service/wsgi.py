"""The WSGI entry point of the service, as gunicorn loads it.

Run: ``gunicorn --config python:service.runtime.gunicorn_conf service.wsgi:app``.

A configuration problem ends the process here with one JSON log line on stderr
and status 78 (EX_CONFIG). The gunicorn config preloads the app, so this runs
once in the master, before any worker exists, and gunicorn stops instead of
restarting workers in a loop.
"""

from service.runtime.logs import refuse
from service.runtime.settings import ConfigurationError
from service.web.app import create_app

try:
    app = create_app()
except ConfigurationError as error:
    raise refuse(error) from None
