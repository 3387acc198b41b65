"""Exact decimal arithmetic with bounded work: the operations behind every endpoint.

Each Calculator owns a ``decimal.Context`` (the thread-global one is never
touched, so settings cannot leak between threads or tests). Results are
rounded to ``precision`` significant digits with ``rounding``; an operand or
result whose magnitude lies outside ``1e-max_exponent <= |x| < 1e(max_exponent + 1)``
is refused, and ``power`` estimates that magnitude before it computes anything.
A ComputeBudget bounds the CPU time of a whole request made of many operations.
"""

from __future__ import annotations

import decimal
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, ParamSpec, get_args

from service.core.errors import (
    DivisionByZeroError,
    NegativeSquareRootError,
    OperandOutOfRangeError,
    ResultTooLargeError,
    ResultTooSmallError,
    TooMuchWorkError,
    UndefinedResultError,
)

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
"""Python decimal's rounding modes, by the names its constants hold."""
ROUNDING_MODES = frozenset(get_args(Rounding))

MAX_PRECISION = 1000
"""Above this, sqrt and non-integer powers (exp/ln series) take too long for one request."""
MAX_MAX_EXPONENT = 100_000
"""Keeps the exact remainder in ``mod`` (its working precision grows with it) cheap."""


@dataclass(frozen=True)
class ArithmeticLimits:
    """Precision (significant digits), rounding mode and magnitude bound for every result.

    The values are validated where they are configured (service.runtime.settings),
    against the ceilings above.
    """

    precision: int
    rounding: Rounding
    max_exponent: int


class ComputeBudget:
    """The CPU time one request may spend computing, shared by all its operations.

    Time is the calling thread's CPU time, so neither other requests nor waiting
    for the interpreter lock count against it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.thread_time() + seconds

    def check(self) -> None:
        """Raise TooMuchWorkError once the budget is spent."""
        if time.thread_time() > self._deadline:
            raise TooMuchWorkError(
                f"the request needs more than {self.seconds * 1000:.0f} ms of computation; "
                "simplify the expressions or send fewer at once"
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


_Arguments = ParamSpec("_Arguments")


def _decimal_signals_as_domain_errors(
    method: Callable[_Arguments, Decimal],
) -> Callable[_Arguments, Decimal]:
    """A safety net: a decimal signal the checks did not foresee becomes a 422, never a 500."""

    @functools.wraps(method)
    def guarded(*args: _Arguments.args, **kwargs: _Arguments.kwargs) -> Decimal:
        try:
            return method(*args, **kwargs)
        except decimal.DecimalException as error:
            raise UndefinedResultError(
                f"{method.__name__} has no defined result for these operands"
            ) from error

    return guarded


class Calculator:
    """The arithmetic operations, each rounding and bounding its result.

    Every method raises only ``DomainError`` subclasses: OperandOutOfRangeError
    for an operand outside the magnitude bound, ResultTooLargeError or
    ResultTooSmallError for a result outside it, and the errors named below.
    """

    def __init__(self, limits: ArithmeticLimits) -> None:
        self.limits = limits
        self._bound = MagnitudeBound(limits.max_exponent)
        # Exponent limits are left wide open: MagnitudeBound checks explicitly so
        # the user gets a clear error instead of decimal's Overflow or subnormals.
        self._context = decimal.Context(
            prec=limits.precision,
            rounding=limits.rounding,
            Emax=decimal.MAX_EMAX,
            Emin=decimal.MIN_EMIN,
            traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
        )

    def operand(self, a: Decimal) -> Decimal:
        """``a`` itself, exactly, if it lies within the magnitude bound (what a literal is)."""
        return self._bound.check_operand(a)

    @_decimal_signals_as_domain_errors
    def plus(self, a: Decimal) -> Decimal:
        """``+a``: ``a`` rounded to the working precision."""
        return self._bound.check_result(self._context.plus(self._bound.check_operand(a)))

    @_decimal_signals_as_domain_errors
    def negate(self, a: Decimal) -> Decimal:
        """``-a``, rounded."""
        return self._bound.check_result(self._context.minus(self._bound.check_operand(a)))

    @_decimal_signals_as_domain_errors
    def add(self, a: Decimal, b: Decimal) -> Decimal:
        """``a + b``, rounded."""
        return self._bound.check_result(
            self._context.add(self._bound.check_operand(a), self._bound.check_operand(b))
        )

    @_decimal_signals_as_domain_errors
    def subtract(self, a: Decimal, b: Decimal) -> Decimal:
        """``a - b``, rounded."""
        return self._bound.check_result(
            self._context.subtract(self._bound.check_operand(a), self._bound.check_operand(b))
        )

    @_decimal_signals_as_domain_errors
    def multiply(self, a: Decimal, b: Decimal) -> Decimal:
        """``a * b``, rounded."""
        return self._bound.check_result(
            self._context.multiply(self._bound.check_operand(a), self._bound.check_operand(b))
        )

    @_decimal_signals_as_domain_errors
    def divide(self, a: Decimal, b: Decimal) -> Decimal:
        """``a / b``, rounded.

        Raises:
            DivisionByZeroError: ``b`` is zero and ``a`` is not.
            UndefinedResultError: both are zero.
        """
        self._check_divisor(self._bound.check_operand(a), self._bound.check_operand(b))
        return self._bound.check_result(self._context.divide(a, b))

    @_decimal_signals_as_domain_errors
    def mod(self, a: Decimal, b: Decimal) -> Decimal:
        """``a`` modulo ``b``, floored: the result has the sign of ``b`` (``-7 mod 3 == 2``).

        This is Python's ``%`` on numbers and the spreadsheet MOD(); decimal's own
        ``%`` truncates instead (``-7 % 3 == -1``). The remainder is computed
        exactly, then rounded, so ``1e30 mod 7`` works at any precision.

        Raises:
            DivisionByZeroError: ``b`` is zero and ``a`` is not.
            UndefinedResultError: both are zero.
        """
        self._check_divisor(self._bound.check_operand(a), self._bound.check_operand(b))
        exact = self._exact_context(a, b)
        remainder = exact.remainder(a, b)
        if remainder and remainder.is_signed() != b.is_signed():
            remainder = exact.add(remainder, b)
        return self._bound.check_result(self._context.plus(remainder))

    @_decimal_signals_as_domain_errors
    def power(self, a: Decimal, b: Decimal) -> Decimal:
        """``a ** b``, rounded; the result's magnitude is estimated and bounded first.

        ``0 ** 0`` is 1 (as in Python and IEEE 754 ``pow``). A negative base takes
        only integer exponents.

        Raises:
            UndefinedResultError: ``0 ** b`` with ``b < 0``, or a negative base with a
                non-integer exponent (no real result).
        """
        a, b = self._bound.check_operand(a), self._bound.check_operand(b)
        integral = b == b.to_integral_value(context=self._context)
        if not a:
            if b < 0:
                raise UndefinedResultError(f"0 raised to the negative power {b} is undefined")
            return Decimal(1) if not b else Decimal(0)
        if a < 0 and not integral:
            raise UndefinedResultError(
                f"a negative base ({a}) raised to a non-integer power ({b}) has no real result"
            )
        if a.copy_abs() == 1:
            # Exact, and spares decimal a walk over the bits of a huge exponent.
            return Decimal(-1) if a < 0 and _is_odd_integer(b) else Decimal(1)
        self._bound.check_power(a, b)
        return self._bound.check_result(self._context.power(a, b))

    @_decimal_signals_as_domain_errors
    def sqrt(self, a: Decimal) -> Decimal:
        """The square root of ``a``, correctly rounded.

        Raises:
            NegativeSquareRootError: ``a`` is negative.
        """
        if self._bound.check_operand(a) < 0:
            raise NegativeSquareRootError(f"the square root of {a} is not a real number")
        return self._bound.check_result(self._context.sqrt(a))

    @staticmethod
    def _check_divisor(a: Decimal, b: Decimal) -> None:
        if b:
            return
        if not a:
            raise UndefinedResultError("0 divided by 0 is undefined")
        raise DivisionByZeroError(f"{a} cannot be divided by zero")

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


def _is_odd_integer(value: Decimal) -> bool:
    """Parity from the digits: ``%`` would use the thread's context and may round or trap."""
    _, digits, exponent = value.as_tuple()
    units = len(digits) - 1 + int(exponent)
    return (
        value == value.to_integral_value() and 0 <= units < len(digits) and digits[units] % 2 == 1
    )


@dataclass(frozen=True)
class Operation:
    """Name, operand count, symbol and summary of one operation, and the method computing it."""

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
"""The operations offered as endpoints, by name; the expression language uses the symbols."""
