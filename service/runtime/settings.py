"""The service's settings: one strict model, its sources, and the one-line refusal of bad ones.

Priority, highest first: keyword arguments (tests), ``CALCULATOR_*`` environment
variables, the JSON config file (``/config/config.json`` unless
``CALCULATOR_CONFIG_FILE`` names another), then the defaults below.

Types are strict from every source: a setting that is a whole number must be
written as one (``34``; not ``"34"``, ``34.0``, ``true`` or ``1_000`` in the file,
nor ``+34``, `` 34 `` or ``1_000`` in the environment). pydantic-settings' own
JSON source skips a missing file or a directory silently and lets malformed JSON
escape as a bare JSONDecodeError; here each of those stops the service with one
line naming the file and the problem. Regenerate the file's JSON Schema with
``python -m service.runtime.settings > config/config.schema.json``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from service.core.calculator import MAX_MAX_EXPONENT, MAX_PRECISION, Rounding
from service.core.expression import MAX_MAX_DEPTH, MAX_MAX_LENGTH, MAX_MAX_NODES

ENV_PREFIX = "CALCULATOR_"
CONFIG_FILE_ENV = f"{ENV_PREFIX}CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("/config/config.json")
# Editors use "$schema" to find config.schema.json; it is not a setting.
SCHEMA_KEY = "$schema"
# A whole number as people write one: no sign, blanks, separators or leading zeros.
_WHOLE_NUMBER = re.compile(r"0|[1-9][0-9]*")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Limits = TypeVar("Limits")


class ConfigurationError(Exception):
    """The service cannot start with this configuration; the message is one line for operators."""


class Settings(BaseSettings):
    """Everything an operator may tune; every bound has a safe default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        strict=True,
        validate_default=True,
        title="calculator-service configuration",
    )

    precision: int = Field(
        default=34,
        ge=1,
        le=MAX_PRECISION,
        description="Significant digits kept in every result (34 = IEEE 754 decimal128).",
    )
    rounding: Rounding = Field(
        default="ROUND_HALF_EVEN",
        description="How results are rounded to `precision` digits (Python decimal mode names).",
    )
    max_exponent: int = Field(
        # 300 keeps every answer inside the range of IEEE 754 doubles, so any JSON parser can
        # read it (RFC 7493); raise it for bigger numbers if your clients parse them exactly.
        default=300,
        ge=1,
        le=MAX_MAX_EXPONENT,
        description="Largest decimal exponent of an operand or result: magnitudes from "
        "1e-max_exponent up to (not including) 1e(max_exponent+1) are accepted; "
        "anything larger is refused before it is computed.",
    )
    max_number_length: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Longest accepted operand, in characters.",
    )
    max_expression_length: int = Field(
        default=1000,
        ge=1,
        le=MAX_MAX_LENGTH,
        description="Longest accepted expression, in characters.",
    )
    max_expression_nodes: int = Field(
        default=200,
        ge=1,
        le=MAX_MAX_NODES,
        description="Most numbers and operators one expression may contain.",
    )
    max_expression_depth: int = Field(
        default=32,
        ge=1,
        le=MAX_MAX_DEPTH,
        description="Deepest nesting of parentheses and operators in one expression.",
    )
    max_batch_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Most expressions one POST /evaluate may carry.",
    )
    max_body_bytes: int = Field(
        default=65_536,
        ge=64,
        le=10_485_760,
        description="Largest accepted request body, in bytes; larger bodies get 413.",
    )
    max_compute_ms: int = Field(
        # Well below gunicorn's worker timeout (30 s), which would kill the worker instead.
        default=2000,
        ge=10,
        le=10_000,
        description="CPU time one request may spend computing, in milliseconds; a request "
        "that needs more gets a 422 too-much-work problem.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        # A path arrives as text from every source.
        strict=False,
        description="File of bearer API keys, one per line (a mounted secret). "
        "When set, calculation endpoints require `Authorization: Bearer <key>`.",
    )
    log_level: LogLevel = Field(default="INFO", description="Lowest level the service logs.")

    def limits(self, kind: type[Limits]) -> Limits:
        """The limits object ``kind`` (a dataclass whose fields are named after settings)."""
        names = (field.name for field in dataclasses.fields(kind))  # type: ignore[arg-type]
        return kind(**{name: getattr(self, name) for name in names})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment, then the config file; nothing else."""
        return (
            init_settings,
            StrictEnvironmentSource(settings_cls),
            ConfigFileSource(settings_cls),
        )


class StrictEnvironmentSource(EnvSettingsSource):
    """``CALCULATOR_*`` variables, where only a plain whole number becomes an integer.

    Anything else stays text, which the strict model then refuses for an integer
    setting, so ``+34`` or ``1_000`` is an error rather than a quietly read 34 or 1000.
    (pydantic-settings' own strict mode runs a lax conversion on environment text,
    which takes ``+34``, `` 34 ``, ``34.0`` and even ``true``.)
    """

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        """Turn a whole-number text into an int for integer settings; leave the rest as given."""
        if field.annotation is int and isinstance(value, str):
            return int(value) if _WHOLE_NUMBER.fullmatch(value) else value
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class ConfigFileSource(InitSettingsSource):
    """Settings from the config file, read once when the settings are built."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        path, explicit = locate_config_file(os.environ)
        values = read_config_file(path, explicit=explicit, known=settings_cls.model_fields.keys())
        super().__init__(settings_cls, values)


def locate_config_file(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """Return the config file path and whether the operator named it explicitly."""
    named = environ.get(CONFIG_FILE_ENV)
    if named is None:
        return DEFAULT_CONFIG_FILE, False
    if not named.strip():
        raise ConfigurationError(f"{CONFIG_FILE_ENV} is set but empty")
    return Path(named), True


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
    except (ValueError, RecursionError) as error:
        reason = error if isinstance(error, ValueError) else "it nests too deeply"
        raise ConfigurationError(f"config file {path} is not valid JSON: {reason}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"config file {path} must hold a JSON object of settings")
    document.pop(SCHEMA_KEY, None)
    for key in document:
        if key not in known:
            raise ConfigurationError(
                f"config file {path}: unknown setting {key!r}{suggest(key, known)}"
            )
    return document


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key {repeated[0]!r}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def suggest(name: str, known: Collection[str]) -> str:
    """Return a ' (did you mean ...?)' hint for a misspelled name, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, environ)) from None
    except SettingsError as error:
        raise ConfigurationError(f"invalid setting: {error}") from None


def describe_config_source() -> str:
    """Say which config file the settings came from, or that the default one is absent."""
    path, explicit = locate_config_file(os.environ)
    if not explicit and not path.exists():
        return f"config file {path} not found; using defaults and environment"
    return f"settings read from {path} and environment"


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, generated from the Settings model."""
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # The file may name its schema for editors; the loader ignores that key.
    schema["properties"] = {SCHEMA_KEY: {"type": "string"}, **schema["properties"]}
    return schema


def render_schema() -> str:
    """The schema as the text stored in config/config.schema.json."""
    return json.dumps(settings_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render_schema(), end="")
