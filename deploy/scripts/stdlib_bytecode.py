"""Load the service as gunicorn does, then compile the standard-library modules it used.

Run by the Dockerfile's builder stage, with the image's gunicorn arguments:
``python stdlib_bytecode.py STAGING_ROOT --config=python:service.runtime.gunicorn_conf
service.wsgi:app``.

The official Python images ship their standard library without byte code, and
the service's root file system is read-only, so every start would compile some
200 modules from source, in memory, again (seconds on a small CPU share). This
loads what the running service loads (gunicorn's configuration and master,
its worker class, the app answering a few requests, the health check) and
writes byte code for exactly those standard-library modules under
STAGING_ROOT, mirroring their paths, for the runtime stage to copy over its
root. Hash-based and unchecked: the sources never change inside the image, so
imports need not even stat them.

It is also the image's smoke test, in one process (one app load keeps a
code-only rebuild short): gunicorn reads its configuration and loads the app
exactly as ``gunicorn --check-config`` would, and a request answered with the
wrong status fails the build. No image is made from an app that cannot serve.
"""

import importlib
import importlib.util
import io
import py_compile
import sys
import sysconfig
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# Loaded by the running service beyond what the config and the app load.
RUNTIME_MODULES = ("gunicorn.arbiter", "gunicorn.workers.gthread", "service.runtime.healthcheck")
# Requests whose handling imports modules lazily, and the status each must get:
# the image is never built from an app that cannot answer them.
WARM_UP_REQUESTS = (("/add?a=1&b=2", 200), ("/livez", 200), ("/metrics", 200), ("/nowhere", 404))

WsgiApp = Callable[[dict[str, Any], Callable[..., object]], Iterable[bytes]]


def serve(app: WsgiApp, target: str) -> int:
    """Pass one GET request to ``app`` the way gunicorn does, a plain WSGI call; return its status.

    A test client would import modules the service never loads (debugger, IDNA).
    """
    path, _, query = target.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        statuses.append(status)

    for _ in app(environ, start_response):
        pass
    return int(statuses[-1].split()[0])


def load_service(gunicorn_args: list[str]) -> None:
    """Load config and app as gunicorn does, then answer a few requests as a worker would."""
    wsgiapp = importlib.import_module("gunicorn.app.wsgiapp")
    # gunicorn parses sys.argv; a bad setting or config module exits here, as it would at start.
    sys.argv = ["gunicorn", *gunicorn_args]
    application = wsgiapp.WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
    app = application.load()
    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    # Resolving these imports the worker and logger classes the configuration names.
    _ = application.cfg.worker_class, application.cfg.logger_class
    # gunicorn's start and stop hooks own the metrics directory the app writes to.
    application.cfg.on_starting(None)
    try:
        for target, expected in WARM_UP_REQUESTS:
            status = serve(app, target)
            if status != expected:
                raise SystemExit(f"stdlib_bytecode: GET {target} answered {status}, not {expected}")
    finally:
        application.cfg.on_exit(None)


def loaded_stdlib_sources() -> list[Path]:
    """Source files of the loaded modules that belong to the standard library."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    sources = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = Path(file)
        # The official image keeps site-packages inside the stdlib directory.
        if path.is_relative_to(stdlib) and not {"site-packages", "dist-packages"} & set(path.parts):
            sources.add(path)
    return sorted(sources)


def compile_into(staging: Path, sources: list[Path]) -> None:
    """Write each source's byte code where Python looks for it, below ``staging``."""
    for source in sources:
        cache = Path(importlib.util.cache_from_source(str(source)))
        py_compile.compile(
            str(source),
            cfile=str(staging / cache.relative_to(cache.anchor)),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )


def main(argv: list[str]) -> int:
    """Load the service, compile what it used, report the count."""
    if len(argv) < 3:
        print(f"usage: {argv[0]} STAGING_ROOT GUNICORN_ARGUMENT...", file=sys.stderr)
        return 2
    load_service(argv[2:])
    sources = loaded_stdlib_sources()
    compile_into(Path(argv[1]), sources)
    print(f"stdlib_bytecode: compiled {len(sources)} standard-library modules", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
