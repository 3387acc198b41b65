"""Build the Settings at start-up, turning every bad-configuration case into one line."""

import os
from collections.abc import Mapping

from pydantic import ValidationError
from pydantic_settings import SettingsError

from service.config_errors import ConfigurationError
from service.config_file import CONFIG_FILE_ENV, locate_config_file, suggest
from service.settings import ENV_PREFIX, Settings


def env_name(field: str) -> str:
    """Return the environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.upper()}"


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse prefixed variables that set nothing: a typo must not silently keep a default."""
    known = {env_name(field) for field in Settings.model_fields} | {CONFIG_FILE_ENV}
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise ConfigurationError(
                f"unknown environment variable {name}{suggest(name.upper(), known)}"
            )


def describe_validation_error(error: ValidationError, environ: Mapping[str, str]) -> str:
    """Render pydantic's errors as one line that says which setting, from where, and why."""
    path, _ = locate_config_file(environ)
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        variable = env_name(field)
        origin = variable if variable in environ else f"config file {path}"
        parts.append(f"{field} = {item['input']!r} from {origin}: {item['msg']}")
    return "invalid setting " + "; ".join(parts)


def load_settings() -> Settings:
    """Read the environment and the config file; raise ConfigurationError on any doubt."""
    environ = dict(os.environ)
    check_environment(environ)
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, environ)) from None
    except SettingsError as error:
        raise ConfigurationError(f"invalid setting: {error}") from None
    return settings


def describe_config_source() -> str:
    """Say which config file the settings came from, or that the default one is absent."""
    path, explicit = locate_config_file(os.environ)
    if not explicit and not path.exists():
        return f"config file {path} not found; using defaults and environment"
    return f"settings read from {path} and environment"
