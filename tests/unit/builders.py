"""Core limits for tests: the service's defaults (from the settings model) with changes."""

from typing import Any

from service.core.calculator import ArithmeticLimits, Calculator
from service.core.expression import ExpressionLimits
from service.runtime.settings import Settings


def default(name: str) -> Any:
    """The default value of setting ``name``."""
    return Settings.model_fields[name].default


def arithmetic_limits(**changes: Any) -> ArithmeticLimits:
    """The default arithmetic limits, with ``changes``."""
    values = {name: default(name) for name in ("precision", "rounding", "max_exponent")}
    return ArithmeticLimits(**{**values, **changes})


def expression_limits(**changes: Any) -> ExpressionLimits:
    """The default expression limits, with ``changes``."""
    values = {
        "max_length": default("max_expression_length"),
        "max_nodes": default("max_expression_nodes"),
        "max_depth": default("max_expression_depth"),
    }
    return ExpressionLimits(**{**values, **changes})


def table_calculator(precision: int = 28) -> Calculator:
    """A calculator with decimal's familiar 28 digits and a 1e1000 bound, for which the core's
    test tables are written; a higher ``precision`` makes sums and small powers exact."""
    return Calculator(arithmetic_limits(precision=precision, max_exponent=1000))
