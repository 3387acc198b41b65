"""An HTTP calculator with exact decimal arithmetic.

``create_app`` is imported on first use, not with the package: the gunicorn config
and the container health check import small modules of this package and must not
pull in Flask and prometheus_client (which fixes its storage mode when imported).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.web.app import create_app

__all__ = ["__version__", "create_app"]

# The one place the version is written: pyproject.toml, the OpenAPI document and the
# image's OCI label all read it from here (the image runs from source, not installed).
__version__ = "1.0.0"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from service.web.app import create_app  # noqa: PLC0415 - deferred on purpose, see above

        return create_app
    raise AttributeError(f"module 'service' has no attribute {name!r}")
