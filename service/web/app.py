"""The application factory: settings in, a configured Flask app out."""

from __future__ import annotations

import logging

from flask import Flask

from service import __version__
from service.core.calculator import ArithmeticLimits, Calculator
from service.core.expression import ExpressionLimits
from service.runtime.logs import configure_logging
from service.runtime.metrics import RequestMetrics, create_metrics_endpoint
from service.runtime.settings import Settings, describe_config_source, load_settings
from service.web.api import ApiLimits, create_api
from service.web.auth import read_api_keys, require_api_key
from service.web.exact_json import ExactJSONProvider
from service.web.middleware import Envelope
from service.web.openapi import build_openapi, create_openapi_endpoint
from service.web.probes import create_probes
from service.web.problems import register_error_handlers

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service; without ``settings`` they are loaded from the environment and file.

    Raises:
        ConfigurationError: the settings, the config file or the API keys file are unusable.
    """
    loaded = settings is None
    if settings is None:
        settings = load_settings()
    configure_logging(settings.log_level)
    if loaded:
        logger.info(describe_config_source())
    api_keys = read_api_keys(settings.api_keys_file)
    calculator = Calculator(settings.limits(ArithmeticLimits))
    metrics = RequestMetrics()

    # No static files and no debug mode: the service only answers its API.
    app = Flask(__name__, static_folder=None)
    app.json = ExactJSONProvider(app)
    app.config.update(DEBUG=False)
    api = create_api(calculator, settings.limits(ExpressionLimits), settings.limits(ApiLimits))
    app.register_blueprint(api)
    app.register_blueprint(create_probes())
    app.register_blueprint(create_metrics_endpoint(metrics))
    app.register_blueprint(create_openapi_endpoint(build_openapi(settings, __version__)))
    require_api_key(app, api_keys, protected=api)
    register_error_handlers(app)
    app.wsgi_app = Envelope(app.wsgi_app, metrics)  # type: ignore[method-assign]
    app.extensions["settings"] = settings
    logger.info(
        "calculator ready",
        extra={"authentication": api_keys.enabled, "precision": settings.precision},
    )
    return app
