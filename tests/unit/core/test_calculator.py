"""Calculator: exact, correctly rounded, bounded decimal arithmetic."""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest
from builders import arithmetic_limits, table_calculator
from hypothesis import given
from hypothesis import strategies as st

from service.core.calculator import (
    OPERATIONS,
    Calculator,
    _decimal_signals_as_domain_errors,
)
from service.core.errors import (
    CalculatorError,
    DivisionByZeroError,
    DomainError,
    NegativeSquareRootError,
    OperandOutOfRangeError,
    ResultTooLargeError,
    ResultTooSmallError,
    UndefinedResultError,
)

D = Decimal
CALCULATOR = table_calculator()
# Wide enough that sums, products and small powers of the operands below are exact.
EXACT = table_calculator(precision=200)

# Operands a user could type: up to 15 significant digits, modest exponents.
operands = st.builds(
    lambda coefficient, exponent: D(coefficient).scaleb(exponent),
    st.integers(-(10**15), 10**15),
    st.integers(-30, 30),
)
# Anything finite, including values far outside the magnitude bound.
any_finite = st.decimals(allow_nan=False, allow_infinity=False)


def ulp(value: Decimal, precision: int) -> Fraction:
    """One unit in the last place of ``value`` rounded to ``precision`` digits."""
    return Fraction(10) ** (value.adjusted() - precision + 1)


@pytest.mark.parametrize(
    ("operation", "a", "b", "expected"),
    [
        ("add", "0.1", "0.2", "0.3"),
        ("add", "9007199254740993", "0", "9007199254740993"),
        ("subtract", "0.3", "0.1", "0.2"),
        ("multiply", "1e308", "10", "1e309"),  # a float would be inf
        ("multiply", "1.1", "1.1", "1.21"),
        ("divide", "1", "3", "0.3333333333333333333333333333"),  # 28 significant digits
        ("divide", "-1", "8", "-0.125"),
        ("power", "2", "10", "1024"),
        ("power", "2", "-1", "0.5"),
        ("power", "4", "0.5", "2"),
        ("power", "-2", "3", "-8"),
        ("power", "0", "0", "1"),
        ("power", "0", "5", "0"),
        ("power", "1", "999999999", "1"),
        ("power", "-1", "1e20", "1"),
        ("power", "-1", "100000000000000000001", "-1"),
        ("mod", "7", "3", "1"),
        ("mod", "-7", "3", "2"),
        ("mod", "7", "-3", "-2"),
        ("mod", "-7", "-3", "-1"),
        ("mod", "5.5", "2", "1.5"),
        ("mod", "-5.5", "2", "0.5"),
        ("mod", "1e30", "7", str(10**30 % 7)),
        (
            "mod",
            "123456789012345678901234567890123",
            "97",
            str(123456789012345678901234567890123 % 97),
        ),
    ],
)
def test_operation_table(operation: str, a: str, b: str, expected: str) -> None:
    """Known results, including the float traps 0.1+0.2, 2**53+1 and 1e308*10."""
    assert OPERATIONS[operation].apply(CALCULATOR, D(a), D(b)) == D(expected)


def test_power_2_to_1000_rounds_correctly() -> None:
    """A large integer power is rounded to the nearest 28-digit value."""
    exact = 2**1000
    result = CALCULATOR.power(D(2), D(1000))
    assert len(result.as_tuple().digits) <= 28
    assert abs(Fraction(result) - exact) <= ulp(result, 28) / 2


def test_zero_results_are_unsigned() -> None:
    """-0 never leaves the calculator: a calculator has one zero."""
    for result in (
        CALCULATOR.multiply(D(-1), D(0)),
        CALCULATOR.mod(D(-6), D(3)),
        CALCULATOR.sqrt(D("-0")),
        CALCULATOR.negate(D(0)),
    ):
        assert result == 0
        assert not result.is_signed()


@pytest.mark.parametrize(
    ("rounding", "two_and_a_half", "three_and_a_half"),
    [
        (decimal.ROUND_HALF_EVEN, "2", "4"),  # what Python's round(2.5) == 2 does
        (decimal.ROUND_HALF_UP, "3", "4"),  # what most people learnt at school
        (decimal.ROUND_DOWN, "2", "3"),
    ],
)
def test_rounding_mode_is_applied(
    rounding: str, two_and_a_half: str, three_and_a_half: str
) -> None:
    """The configured rounding mode decides ties when a result exceeds the precision."""
    calculator = Calculator(arithmetic_limits(precision=1, rounding=rounding, max_exponent=1000))
    assert calculator.add(D("2.5"), D(0)) == D(two_and_a_half)
    assert calculator.add(D("3.5"), D(0)) == D(three_and_a_half)


def test_precision_is_a_setting() -> None:
    """Precision sets the significant digits of inexact results."""
    calculator = Calculator(arithmetic_limits(precision=50, max_exponent=1000))
    assert calculator.divide(D(2), D(3)) == D("0." + "6" * 49 + "7")


def test_global_context_untouched() -> None:
    """The calculator neither reads nor changes the thread's decimal context."""
    with decimal.localcontext() as context:
        context.prec = 3
        context.rounding = decimal.ROUND_FLOOR
        assert CALCULATOR.divide(D(1), D(3)) == D("0." + "3" * 28)
        assert decimal.getcontext().prec == 3
        assert decimal.getcontext().rounding == decimal.ROUND_FLOOR


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.divide(D(1), D(0)), DivisionByZeroError),
        (lambda c: c.divide(D(-1), D("0.00")), DivisionByZeroError),
        (lambda c: c.divide(D(0), D(0)), UndefinedResultError),
        (lambda c: c.mod(D(5), D(0)), DivisionByZeroError),
        (lambda c: c.mod(D(0), D(0)), UndefinedResultError),
        (lambda c: c.sqrt(D(-1)), NegativeSquareRootError),
        (lambda c: c.sqrt(D("-1e-30")), NegativeSquareRootError),
        (lambda c: c.power(D(0), D(-1)), UndefinedResultError),
        (lambda c: c.power(D(-8), D("0.5")), UndefinedResultError),
        (lambda c: c.power(D(-8), D("0.3333333333")), UndefinedResultError),
        (lambda c: c.power(D(9), D(999999999)), ResultTooLargeError),
        (lambda c: c.power(D("2.0"), D(10000)), ResultTooLargeError),
        (lambda c: c.power(D(10), D(5000)), ResultTooLargeError),
        (lambda c: c.power(D(10), D(-5000)), ResultTooSmallError),
        (lambda c: c.power(D("1.0000001"), D("1e20")), ResultTooLargeError),
        (lambda c: c.power(D("0.5"), D(999999999)), ResultTooSmallError),
        (lambda c: c.multiply(D("1e600"), D("1e600")), ResultTooLargeError),
        (lambda c: c.multiply(D("1e-600"), D("1e-600")), ResultTooSmallError),
        (lambda c: c.divide(D("1e-999"), D("1e999")), ResultTooSmallError),
        (lambda c: c.add(D("1e1001"), D(0)), OperandOutOfRangeError),
        (lambda c: c.add(D(0), D("-1e-1001")), OperandOutOfRangeError),
        (lambda c: c.add(D("NaN"), D(0)), UndefinedResultError),
        (lambda c: c.sqrt(D("Infinity")), UndefinedResultError),
    ],
)
def test_domain_errors(call: Callable[[Calculator], Decimal], error: type[DomainError]) -> None:
    """Impossible or unbounded operations raise the specific DomainError, never a result."""
    with pytest.raises(error) as caught:
        call(CALCULATOR)
    assert caught.value.status == 422
    assert caught.value.detail


def test_power_refused_from_estimate() -> None:
    """A huge power is refused by estimating its magnitude; the detail shows the estimate."""
    with pytest.raises(ResultTooLargeError, match=r"about 1e954242508"):
        CALCULATOR.power(D(9), D(999999999))


def test_bound_is_inclusive_at_max_exponent() -> None:
    """Results with exponent exactly at the bound pass; one step beyond is refused."""
    assert CALCULATOR.power(D(10), D(1000)) == D("1e1000")
    assert CALCULATOR.power(D(10), D(-1000)) == D("1e-1000")
    assert CALCULATOR.multiply(D("9.9e1000"), D(1)) == D("9.9e1000")
    with pytest.raises(ResultTooLargeError):
        CALCULATOR.power(D(10), D(1001))
    with pytest.raises(ResultTooSmallError):
        CALCULATOR.power(D(10), D(-1001))


@given(operands, operands)
def test_add_subtract_multiply_exact(a: Decimal, b: Decimal) -> None:
    """With room for every digit, + - * equal the exact rational result."""
    assert Fraction(EXACT.add(a, b)) == Fraction(a) + Fraction(b)
    assert Fraction(EXACT.subtract(a, b)) == Fraction(a) - Fraction(b)
    assert Fraction(EXACT.multiply(a, b)) == Fraction(a) * Fraction(b)


@given(operands, operands)
def test_results_correctly_rounded(a: Decimal, b: Decimal) -> None:
    """At 28 digits, + - * / are within half a unit in the last place of the exact value."""
    references = {
        CALCULATOR.add: Fraction(a) + Fraction(b),
        CALCULATOR.subtract: Fraction(a) - Fraction(b),
        CALCULATOR.multiply: Fraction(a) * Fraction(b),
    }
    if b:
        references[CALCULATOR.divide] = Fraction(a) / Fraction(b)
    for method, exact in references.items():
        result = method(a, b)
        assert len(result.as_tuple().digits) <= 28
        if result:
            assert abs(Fraction(result) - exact) <= ulp(result, 28) / 2
        else:
            assert exact == 0


@given(operands, operands.filter(bool))
def test_mod_is_floored(a: Decimal, b: Decimal) -> None:
    """a mod b == a - b*floor(a/b) exactly: the result has the sign of b and |r| < |b|."""
    expected = Fraction(a) - Fraction(b) * math.floor(Fraction(a) / Fraction(b))
    result = EXACT.mod(a, b)
    assert Fraction(result) == expected
    assert result == 0 or result.is_signed() == b.is_signed()


@given(st.integers(-50, 50), st.integers(0, 60))
def test_integer_power_exact(base: int, exponent: int) -> None:
    """Integer powers whose digits fit the precision equal Python's exact int power."""
    assert EXACT.power(D(base), D(exponent)) == base**exponent


@given(operands.filter(lambda value: value >= 0))
def test_sqrt_correctly_rounded(a: Decimal) -> None:
    """sqrt(a) squared brackets a within half a unit in the last place."""
    result = CALCULATOR.sqrt(a)
    if not result:
        assert a == 0
        return
    root, half = Fraction(result), ulp(result, 28) / 2
    assert (root - half) ** 2 <= Fraction(a) <= (root + half) ** 2


@given(st.sampled_from(sorted(OPERATIONS)), any_finite, any_finite)
def test_only_bounded_results_or_domain_errors(name: str, a: Decimal, b: Decimal) -> None:
    """For any finite operands every operation returns an in-bound number or a CalculatorError."""
    operation = OPERATIONS[name]
    try:
        result = operation.apply(CALCULATOR, *(a, b)[: operation.arity])
    except CalculatorError:
        return
    assert result.is_finite()
    assert result == 0 or abs(result.adjusted()) <= 1000
    assert len(result.as_tuple().digits) <= 28


def test_operations_registry() -> None:
    """OPERATIONS lists the seven operations by name, with arity matching the parameters."""
    assert sorted(OPERATIONS) == ["add", "divide", "mod", "multiply", "power", "sqrt", "subtract"]
    for name, operation in OPERATIONS.items():
        assert operation.name == name
        assert operation.parameters == ("a", "b")[: operation.arity]
        assert operation.summary
    assert OPERATIONS["sqrt"].arity == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("add", 5),
        ("subtract", -1),
        ("multiply", 6),
        ("divide", D("0.6666666666666666666666666667")),
    ],
)
def test_operation_dispatches_to_its_method(name: str, expected: Decimal) -> None:
    """Each registry entry calls the matching Calculator method."""
    assert OPERATIONS[name].apply(CALCULATOR, D(2), D(3)) == expected


def test_operation_checks_operand_count() -> None:
    """Calling an operation with the wrong number of operands is a programming error."""
    with pytest.raises(ValueError, match="takes 1 operands"):
        OPERATIONS["sqrt"].apply(CALCULATOR, D(1), D(2))


def test_operands_are_not_rounded_by_the_thread_context() -> None:
    """A base just above 1 with more digits than 28 is not mistaken for 1 (abs() would round)."""
    base = D("1." + "0" * 39 + "1")  # 1 + 1e-40
    assert CALCULATOR.power(base, D("1e40")) == D("2.718281828459045235360287471")


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_hostile_thread_context_is_ignored(name: str) -> None:
    """Operations give the same results when the thread's context traps every signal."""
    operation = OPERATIONS[name]
    operands = (D("-7.25"), D(3))[: operation.arity] if name != "sqrt" else (D(2),)
    expected = operation.apply(CALCULATOR, *operands)
    with decimal.localcontext() as context:
        context.prec = 2
        context.traps = dict.fromkeys(context.traps, True)
        assert operation.apply(CALCULATOR, *operands) == expected


@pytest.mark.parametrize("exponent", ["0.5", "-0.5", "0.3333333333", "1e-30"])
def test_negative_base_needs_integer_exponent(exponent: str) -> None:
    """A negative base with a fractional exponent is refused as having no real result."""
    with pytest.raises(UndefinedResultError, match="no real result"):
        CALCULATOR.power(D(-8), D(exponent))


def test_unforeseen_decimal_signal_becomes_domain_error() -> None:
    """The safety net turns a decimal signal no check anticipated into UndefinedResultError."""

    @_decimal_signals_as_domain_errors
    def strict_sqrt(a: Decimal) -> Decimal:
        return decimal.Context(traps=[decimal.InvalidOperation]).sqrt(a)

    with pytest.raises(UndefinedResultError, match="strict_sqrt has no defined result"):
        strict_sqrt(D(-1))
