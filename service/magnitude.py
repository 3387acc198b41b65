"""The magnitude bound: which operands and results are too large or too small."""

from __future__ import annotations

import decimal
from decimal import Decimal

from service.errors import (
    OperandOutOfRangeError,
    ResultTooLargeError,
    ResultTooSmallError,
    UndefinedResultError,
)

# log10 only has to be compared with an integer bound: a dozen digits is plenty,
# and the exponent range is open so the estimate itself cannot overflow.
_ESTIMATE = decimal.Context(prec=12, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class MagnitudeBound:
    """Accepts finite numbers with ``1e-max_exponent <= |x| < 1e(max_exponent + 1)``, and 0."""

    def __init__(self, max_exponent: int) -> None:
        self.max_exponent = max_exponent

    def check_operand(self, value: Decimal) -> Decimal:
        """Return ``value`` if it is finite and within the bound.

        Raises:
            UndefinedResultError: ``value`` is NaN or infinite.
            OperandOutOfRangeError: ``value`` is outside the bound.
        """
        if not value.is_finite():
            raise UndefinedResultError(f"{value} is not a finite number")
        if value and abs(value.adjusted()) > self.max_exponent:
            raise OperandOutOfRangeError(
                f"{value} lies outside the accepted magnitude "
                f"1e-{self.max_exponent} to 1e{self.max_exponent}"
            )
        return value

    def check_result(self, result: Decimal) -> Decimal:
        """Return ``result`` (with -0 made 0: a calculator has one zero) if within the bound.

        Raises:
            ResultTooLargeError: or ResultTooSmallError, when it is not.
        """
        if not result:
            return Decimal(0)
        if result.adjusted() > self.max_exponent:
            raise ResultTooLargeError(f"the result exceeds 1e{self.max_exponent} in magnitude")
        if result.adjusted() < -self.max_exponent:
            raise ResultTooSmallError(
                f"the result is non-zero but smaller than 1e-{self.max_exponent}"
            )
        return result

    def check_power(self, base: Decimal, exponent: Decimal) -> None:
        """Refuse ``base ** exponent`` (base not 0 or ±1) before computing it.

        log10|base ** exponent| = exponent * log10|base| costs the same for an
        exponent of 2 or 999999999. One unit of slack is left: check_result
        decides the border cases on the computed value.
        """
        estimate = _ESTIMATE.multiply(_ESTIMATE.log10(base.copy_abs()), exponent)
        if estimate > self.max_exponent + 1:
            raise ResultTooLargeError(
                f"{base} ** {exponent} is about 1e{estimate:.0f}, beyond 1e{self.max_exponent}"
            )
        if estimate < -self.max_exponent - 1:
            raise ResultTooSmallError(
                f"{base} ** {exponent} is about 1e{estimate:.0f}, below 1e-{self.max_exponent}"
            )
