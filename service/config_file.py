"""The JSON config file as a pydantic-settings source that refuses anything doubtful.

pydantic-settings' own JSON source skips a missing file and a directory silently and
lets malformed JSON escape as a bare JSONDecodeError; here each of those is a
ConfigurationError with one line naming the file and the problem.
"""

import difflib
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, InitSettingsSource

from service.config_errors import ConfigurationError

CONFIG_FILE_ENV = "CALCULATOR_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("/config/config.json")
# Editors use "$schema" to find config.schema.json; it is not a setting.
SCHEMA_KEY = "$schema"


def locate_config_file(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the config file path and whether the operator named it explicitly."""
    named = environ.get(CONFIG_FILE_ENV)
    if named is None:
        return DEFAULT_CONFIG_FILE, False
    if not named.strip():
        raise ConfigurationError(f"{CONFIG_FILE_ENV} is set but empty")
    return Path(named), True


def suggest(name: str, known: Collection[str]) -> str:
    """Return a ' (did you mean ...?)' hint for a misspelled name, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key {repeated[0]!r}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_config_file(path: Path, *, explicit: bool, known: Collection[str]) -> dict[str, Any]:
    """Read the settings object from ``path``; a missing default file yields no settings."""
    if path.is_dir():
        raise ConfigurationError(
            f"config file {path} is a directory, not a file (is a bind-mount source missing?)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigurationError(
                f"config file {path} named by {CONFIG_FILE_ENV} does not exist"
            ) from None
        return {}
    except UnicodeDecodeError:
        raise ConfigurationError(f"config file {path} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigurationError(f"config file {path} cannot be read: {error.strerror}") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"config file {path} is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    except ValueError as error:
        raise ConfigurationError(f"config file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"config file {path} must hold a JSON object of settings")
    document.pop(SCHEMA_KEY, None)
    for key in document:
        if key not in known:
            raise ConfigurationError(
                f"config file {path}: unknown setting {key!r}{suggest(key, known)}"
            )
    return document


class ConfigFileSource(InitSettingsSource):
    """Settings from the config file, read once when the settings are built."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        path, explicit = locate_config_file(os.environ)
        values = read_config_file(path, explicit=explicit, known=settings_cls.model_fields.keys())
        super().__init__(settings_cls, values)
