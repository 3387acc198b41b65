"""The application factory: settings in, a configured Flask app out."""

import logging

from flask import Flask

from service import __version__
from service.arithmetic import ArithmeticLimits, Calculator
from service.auth import read_api_keys
from service.envelope import install_envelope
from service.evaluate_routes import register_evaluate_routes
from service.expression import ExpressionLimits
from service.json_provider import ExactJSONProvider
from service.log_format import configure_logging
from service.metrics import RequestMetrics
from service.openapi import build_openapi
from service.operation_routes import register_operation_routes
from service.operations_routes import register_operations_routes
from service.readiness import Readiness
from service.settings import Settings
from service.settings_loader import describe_config_source, load_settings

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
    calculator = Calculator(
        ArithmeticLimits(
            precision=settings.precision,
            rounding=settings.rounding,
            max_exponent=settings.max_exponent,
        )
    )
    expression_limits = ExpressionLimits(
        max_length=settings.max_expression_length,
        max_nodes=settings.max_expression_nodes,
        max_depth=settings.max_expression_depth,
    )

    # No static files and no debug mode: the service only answers its API.
    app = Flask(__name__, static_folder=None)
    app.json = ExactJSONProvider(app)
    app.config.update(DEBUG=False, MAX_CONTENT_LENGTH=settings.max_body_bytes)

    readiness = Readiness()
    metrics = RequestMetrics()
    register_operation_routes(app, calculator, settings.max_number_length)
    register_evaluate_routes(app, calculator, expression_limits, settings.max_batch_size)
    register_operations_routes(app, readiness, metrics, build_openapi(settings, __version__))
    install_envelope(app, metrics, api_keys)
    app.extensions["readiness"] = readiness
    app.extensions["settings"] = settings
    readiness.mark_started()
    logger.info(
        "calculator ready",
        extra={"authentication": api_keys.enabled, "precision": settings.precision},
    )
    return app
