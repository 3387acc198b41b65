"""Core limits for tests: the service's defaults (from the settings model) with changes."""

import dataclasses
from typing import Any

from service.core.calculator import ArithmeticLimits, Calculator
from service.core.expression import ExpressionLimits
from service.runtime.settings import Settings


def arithmetic_limits(**changes: Any) -> ArithmeticLimits:
    """The default arithmetic limits, with ``changes``."""
    return dataclasses.replace(Settings().limits(ArithmeticLimits), **changes)


def expression_limits(**changes: Any) -> ExpressionLimits:
    """The default expression limits, with ``changes``."""
    return dataclasses.replace(Settings().limits(ExpressionLimits), **changes)


def table_calculator(precision: int = 28) -> Calculator:
    """A calculator with decimal's familiar 28 digits and a 1e1000 bound, for which the core's
    test tables are written; a higher ``precision`` makes sums and small powers exact."""
    return Calculator(arithmetic_limits(precision=precision, max_exponent=1000))
