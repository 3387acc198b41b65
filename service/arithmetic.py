"""Exact decimal arithmetic with bounded work: the operations behind every endpoint.

Each Calculator owns a ``decimal.Context`` (the thread-global one is never
touched, so settings cannot leak between threads or tests). Results are
rounded to ``precision`` significant digits with ``rounding``; a result whose
magnitude lies outside ``10**-max_exponent .. 10**max_exponent`` is refused,
and ``power`` estimates that magnitude before it computes anything.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from service.errors import (
    DivisionByZeroError,
    NegativeSquareRootError,
    OperandOutOfRangeError,
    ResultTooLargeError,
    ResultTooSmallError,
    UndefinedResultError,
)

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
    """Precision, rounding and magnitude bound for every result."""

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


class Calculator:
    """The arithmetic operations, each rounding and bounding its result.

    Every method raises only ``DomainError`` subclasses: OperandOutOfRangeError
    for an operand outside the magnitude bound, ResultTooLargeError or
    ResultTooSmallError for a result outside it, and the errors named below.
    """

    def __init__(self, limits: ArithmeticLimits) -> None:
        self.limits = limits
        # Exponent limits are left wide open: the bound is checked explicitly so
        # it yields a clear error instead of decimal's Overflow or silent subnormals.
        self._context = decimal.Context(
            prec=limits.precision,
            rounding=limits.rounding,
            Emax=decimal.MAX_EMAX,
            Emin=decimal.MIN_EMIN,
            traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
        )

    def plus(self, a: Decimal) -> Decimal:
        """``a`` rounded to the working precision (what a literal evaluates to)."""
        return self._bounded(self._context.plus(self._operand(a)))

    def negate(self, a: Decimal) -> Decimal:
        """``-a``, rounded."""
        return self._bounded(self._context.minus(self._operand(a)))

    def add(self, a: Decimal, b: Decimal) -> Decimal:
        """``a + b``, rounded."""
        return self._bounded(self._context.add(self._operand(a), self._operand(b)))

    def subtract(self, a: Decimal, b: Decimal) -> Decimal:
        """``a - b``, rounded."""
        return self._bounded(self._context.subtract(self._operand(a), self._operand(b)))

    def multiply(self, a: Decimal, b: Decimal) -> Decimal:
        """``a * b``, rounded."""
        return self._bounded(self._context.multiply(self._operand(a), self._operand(b)))

    def divide(self, a: Decimal, b: Decimal) -> Decimal:
        """``a / b``, rounded.

        Raises:
            DivisionByZeroError: ``b`` is zero and ``a`` is not.
            UndefinedResultError: both are zero.
        """
        self._check_divisor(self._operand(a), self._operand(b))
        return self._bounded(self._context.divide(a, b))

    def mod(self, a: Decimal, b: Decimal) -> Decimal:
        """``a`` modulo ``b``, floored: the result has the sign of ``b`` (``-7 mod 3 == 2``).

        This is Python's ``%`` on numbers and the spreadsheet MOD(); decimal's own
        ``%`` truncates instead (``-7 % 3 == -1``). The remainder is computed
        exactly, then rounded, so ``1e30 mod 7`` works at any precision.

        Raises:
            DivisionByZeroError: ``b`` is zero and ``a`` is not.
            UndefinedResultError: both are zero.
        """
        self._check_divisor(self._operand(a), self._operand(b))
        exact = self._exact_context(a, b)
        remainder = exact.remainder(a, b)
        if remainder and remainder.is_signed() != b.is_signed():
            remainder = exact.add(remainder, b)
        return self._bounded(self._context.plus(remainder))

    def power(self, a: Decimal, b: Decimal) -> Decimal:
        """``a ** b``, rounded; the result's magnitude is estimated and bounded first.

        ``0 ** 0`` is 1 (as in Python and IEEE 754 ``pow``). A negative base takes
        only integer exponents.

        Raises:
            UndefinedResultError: ``0 ** b`` with ``b < 0``, or a negative base with a
                non-integer exponent (no real result).
        """
        a, b = self._operand(a), self._operand(b)
        integral = b == b.to_integral_value()
        if not a:
            if b < 0:
                raise UndefinedResultError(f"0 raised to the negative power {b} is undefined")
            return Decimal(1) if not b else Decimal(0)
        if a < 0 and not integral:
            raise UndefinedResultError(
                f"a negative base ({a}) raised to a non-integer power ({b}) has no real result"
            )
        if abs(a) == 1:
            # Exact, and spares decimal a walk over the bits of a huge exponent.
            odd = integral and b % 2 == 1
            return Decimal(-1) if a < 0 and odd else Decimal(1)
        self._check_power_magnitude(a, b)
        return self._bounded(self._context.power(a, b))

    def sqrt(self, a: Decimal) -> Decimal:
        """The square root of ``a``, correctly rounded.

        Raises:
            NegativeSquareRootError: ``a`` is negative.
        """
        if self._operand(a) < 0:
            raise NegativeSquareRootError(f"the square root of {a} is not a real number")
        return self._bounded(self._context.sqrt(a))

    def _operand(self, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise UndefinedResultError(f"{value} is not a finite number")
        if value and abs(value.adjusted()) > self.limits.max_exponent:
            raise OperandOutOfRangeError(
                f"{value} lies outside the accepted magnitude "
                f"1e-{self.limits.max_exponent} to 1e{self.limits.max_exponent}"
            )
        return value

    def _bounded(self, result: Decimal) -> Decimal:
        bound = self.limits.max_exponent
        if not result:
            return Decimal(0)  # also turns -0 into 0: a calculator has one zero
        if result.adjusted() > bound:
            raise ResultTooLargeError(f"the result exceeds 1e{bound} in magnitude")
        if result.adjusted() < -bound:
            raise ResultTooSmallError(f"the result is non-zero but smaller than 1e-{bound}")
        return result

    @staticmethod
    def _check_divisor(a: Decimal, b: Decimal) -> None:
        if b:
            return
        if not a:
            raise UndefinedResultError("0 divided by 0 is undefined")
        raise DivisionByZeroError(f"{a} cannot be divided by zero")

    def _check_power_magnitude(self, a: Decimal, b: Decimal) -> None:
        # log10|a ** b| = b * log10|a|; a few digits suffice to compare with the
        # bound, and this costs the same for b = 2 and b = 999999999.
        estimate_context = decimal.Context(prec=12, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
        magnitude = estimate_context.multiply(estimate_context.log10(abs(a)), b)
        # One unit of slack: the exact check in _bounded decides the border cases.
        if magnitude > self.limits.max_exponent + 1:
            raise ResultTooLargeError(
                f"{a} ** {b} is about 1e{magnitude:.0f}, beyond 1e{self.limits.max_exponent}"
            )
        if magnitude < -self.limits.max_exponent - 1:
            raise ResultTooSmallError(
                f"{a} ** {b} is about 1e{magnitude:.0f}, below 1e-{self.limits.max_exponent}"
            )

    def _exact_context(self, a: Decimal, b: Decimal) -> decimal.Context:
        """A context wide enough that the integer quotient and remainder of a / b are exact."""
        coefficient_digits = max(len(a.as_tuple().digits), len(b.as_tuple().digits))
        quotient_digits = max(a.adjusted() - b.adjusted(), 0) + 1
        span = abs(int(a.as_tuple().exponent) - int(b.as_tuple().exponent))
        return decimal.Context(
            prec=max(self.limits.precision, quotient_digits + coefficient_digits + span + 2),
            rounding=self.limits.rounding,
            Emax=decimal.MAX_EMAX,
            Emin=decimal.MIN_EMIN,
            traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
        )


@dataclass(frozen=True)
class Operation:
    """One calculator operation as the HTTP layer and its documentation see it."""

    name: str
    arity: int
    symbol: str
    summary: str
    function: Callable[..., Decimal]

    @property
    def parameters(self) -> tuple[str, ...]:
        """The operand names, in order: ``("a", "b")`` or ``("a",)``."""
        return ("a", "b")[: self.arity]

    def apply(self, calculator: Calculator, *operands: Decimal) -> Decimal:
        """Run the operation on ``calculator``; the operand count must match ``arity``."""
        if len(operands) != self.arity:
            raise ValueError(f"{self.name} takes {self.arity} operands, not {len(operands)}")
        return self.function(calculator, *operands)


OPERATIONS: Mapping[str, Operation] = MappingProxyType(
    {
        op.name: op
        for op in (
            Operation("add", 2, "+", "Sum of a and b.", Calculator.add),
            Operation("subtract", 2, "-", "Difference a minus b.", Calculator.subtract),
            Operation("multiply", 2, "*", "Product of a and b.", Calculator.multiply),
            Operation("divide", 2, "/", "Quotient a divided by b.", Calculator.divide),
            Operation("power", 2, "**", "a raised to the power b.", Calculator.power),
            Operation("mod", 2, "%", "a modulo b, with the sign of b.", Calculator.mod),
            Operation("sqrt", 1, "sqrt", "Square root of a.", Calculator.sqrt),
        )
    }
)
