"""The service's settings: one model, one environment prefix, an explicit source order.

Priority, highest first: keyword arguments (tests), ``CALCULATOR_*`` environment
variables, the JSON config file (``/config/config.json`` unless
``CALCULATOR_CONFIG_FILE`` names another), then the defaults below.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from service.config_file import ConfigFileSource

ENV_PREFIX = "CALCULATOR_"

Rounding = Literal[
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_HALF_DOWN",
    "ROUND_UP",
    "ROUND_DOWN",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_05UP",
]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Everything an operator may tune; every bound has a safe default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        validate_default=True,
        title="calculator-service configuration",
    )

    precision: int = Field(
        default=34,
        ge=1,
        le=1000,
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
        le=100_000,
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
        le=100_000,
        description="Longest accepted expression, in characters.",
    )
    max_expression_nodes: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Most numbers and operators one expression may contain.",
    )
    max_expression_depth: int = Field(
        default=32,
        ge=1,
        le=100,
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
    api_keys_file: Path | None = Field(
        default=None,
        description="File of bearer API keys, one per line (a mounted secret). "
        "When set, calculation endpoints require `Authorization: Bearer <key>`.",
    )
    log_level: LogLevel = Field(default="INFO", description="Lowest level the service logs.")

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
        return (init_settings, env_settings, ConfigFileSource(settings_cls))
