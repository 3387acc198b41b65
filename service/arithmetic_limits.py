"""The knobs of the arithmetic: precision, rounding mode and magnitude bound."""

from __future__ import annotations

import decimal
from dataclasses import dataclass

ROUNDING_MODES = frozenset(
    {
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
        decimal.ROUND_05UP,
    }
)
MAX_PRECISION = 1000
"""Above this, sqrt and non-integer powers (exp/ln series) stop being instant."""
MAX_MAX_EXPONENT = 100_000
"""Keeps the exact remainder in ``mod`` (its working precision grows with it) cheap."""


@dataclass(frozen=True)
class ArithmeticLimits:
    """Precision, rounding and magnitude bound for every result.

    ``precision`` is in significant digits; 28 and half-even are the defaults of
    Python's decimal module (half-even is also IEEE 754's: ties do not drift
    upwards over many operations). ``max_exponent`` bounds every operand and
    non-zero result to ``1e-max_exponent <= |x| < 1e(max_exponent + 1)``.
    """

    precision: int = 28
    rounding: str = decimal.ROUND_HALF_EVEN
    max_exponent: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.precision <= MAX_PRECISION:
            raise ValueError(
                f"precision must be between 1 and {MAX_PRECISION}, not {self.precision}"
            )
        if self.rounding not in ROUNDING_MODES:
            names = ", ".join(sorted(ROUNDING_MODES))
            raise ValueError(f"rounding must be one of {names}, not {self.rounding!r}")
        if not 1 <= self.max_exponent <= MAX_MAX_EXPONENT:
            raise ValueError(
                f"max_exponent must be between 1 and {MAX_MAX_EXPONENT}, not {self.max_exponent}"
            )
