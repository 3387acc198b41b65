"""Fixtures for the unit tests: isolated environment, apps built from injected settings,
and real gunicorn servers on 127.0.0.1 for the tests that need processes."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn_process import GunicornServer

from service.runtime.settings import Settings
from service.web.app import create_app


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CALCULATOR_* or metrics variable of the host leaks in; the config file is absent."""
    for name in list(os.environ):
        if name.upper().startswith("CALCULATOR_") or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setattr("service.runtime.settings.DEFAULT_CONFIG_FILE", tmp_path / "absent.json")


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Build an app from keyword settings (which take priority over any other source)."""

    def build(**settings: Any) -> Flask:
        return create_app(Settings(**settings))

    return build


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    """A test client of an app with the default settings."""
    return make_app().test_client()


@pytest.fixture
def gunicorn_server() -> Iterator[Callable[..., GunicornServer]]:
    """Start gunicorn servers on demand; every one is stopped when the test ends."""
    started: list[GunicornServer] = []

    def start(
        environ: dict[str, str] | None = None, *, wait: bool = True, app: str = "service.wsgi:app"
    ) -> GunicornServer:
        server = GunicornServer(environ or {}, app)
        started.append(server)
        if wait:
            server.wait_until_serving()
        return server

    yield start
    for server in started:
        server.stop()
