"""Expression evaluation: grammar, precedence, positions in errors, and bounds on work."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal
from fractions import Fraction

import pytest
from builders import expression_limits, table_calculator
from hypothesis import given
from hypothesis import strategies as st

from service.core import expression as expression_module
from service.core.errors import (
    CalculatorError,
    DivisionByZeroError,
    DomainError,
    ExpressionSyntaxError,
    InputTooLargeError,
    NegativeSquareRootError,
    ResultTooLargeError,
    UndefinedResultError,
)
from service.core.expression import MAX_MAX_DEPTH, ExpressionLimits, evaluate

D = Decimal
CALCULATOR = table_calculator()
EXACT = table_calculator(precision=200)
LIMITS = expression_limits()


def calculate(text: str, limits: ExpressionLimits = LIMITS) -> Decimal:
    return evaluate(text, calculator=CALCULATOR, limits=limits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1+2", "3"),
        ("0.1 + 0.2", "0.3"),
        ("9007199254740993 + 0", "9007199254740993"),
        ("1e308 * 10", "1e309"),
        ("2*3+4", "10"),
        ("2+3*4", "14"),
        ("(2+3)*4", "20"),
        ("10-2-3", "5"),  # left-associative
        ("64/4/2", "8"),
        ("2**3**2", "512"),  # right-associative
        ("(2**3)**2", "64"),
        ("-2**2", "-4"),  # ** binds tighter than unary minus, as in Python
        ("(-2)**2", "4"),
        ("2**-1", "0.5"),
        ("-3", "-3"),
        ("--3", "3"),
        ("+3", "3"),
        ("-+-3", "3"),
        ("2*-3", "-6"),
        ("7%3", "1"),
        ("-7%3", "2"),  # unary minus binds tighter than %: (-7) % 3, floored
        ("7%-3", "-2"),
        ("2*3%4", "2"),  # * and % share a level, left to right
        ("sqrt(16)", "4"),
        ("sqrt(2)", "1.414213562373095048801688724"),
        ("sqrt(9)+sqrt(16)*2", "11"),
        ("-sqrt(4)", "-2"),
        ("sqrt(sqrt(16))", "2"),
        (".5 + 5.", "5.5"),
        ("1E3", "1000"),
        ("1e-3", "0.001"),
        ("\t1 +\t2 ", "3"),
        ("((((1))))", "1"),
        ("1/3*3", "0.9999999999999999999999999999"),  # 28 digits, rounded each step
        ("0**0", "1"),
    ],
)
def test_values(text: str, expected: str) -> None:
    """Known values pin precedence, associativity, unary signs, sqrt and exact decimals."""
    assert calculate(text) == D(expected)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 1),
        ("   ", 4),
        ("1 2", 3),  # what ?expr=1+2 arrives as
        ("1+", 3),
        ("1++", 4),
        ("*1", 1),
        ("(1", 3),
        ("1)", 2),
        ("()", 2),
        ("(1))", 4),
        ("1(2)", 2),
        ("2(3)", 2),
        ("abs(1)", 1),
        ("x", 1),
        ("sqrt", 5),
        ("sqrt()", 6),
        ("sqrt 4", 6),
        ("sqrt(1,2)", 7),
        ("2e", 2),
        ("1_000", 2),
        ("0x10", 2),
        ("1,5", 2),
        ("1.2.3", 4),
        ("2//3", 3),
        ("nan", 1),
        ("inf", 1),
        ("\u0661+1", 1),  # Arabic-Indic one
        ("1+\uff12", 3),  # full-width two
        ("__import__('os').system('true')", 1),
        ("().__class__", 2),
        ("[1]", 1),
        ("'1'", 1),
        ("1;2", 2),
        ("lambda: 1", 1),
        ("1 if 1 else 2", 3),
        ("1 == 1", 3),
        ("1\n+2", 2),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int) -> None:
    """Anything outside the grammar is an ExpressionSyntaxError pointing at the culprit."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        calculate(text)
    assert caught.value.position == position
    assert caught.value.parameter == "expr"
    assert caught.value.detail.startswith(f"at position {position}: ")


def test_url_plus_hint() -> None:
    """Two numbers separated by a space hint that '+' in a URL query is a space."""
    with pytest.raises(ExpressionSyntaxError, match="%2B"):
        calculate("1 2")


@pytest.mark.parametrize(
    ("text", "error", "position"),
    [
        ("1/0", DivisionByZeroError, 2),
        ("1 + 1/(2-2)", DivisionByZeroError, 6),
        ("0/0", UndefinedResultError, 2),
        ("5%0", DivisionByZeroError, 2),
        ("sqrt(-1)", NegativeSquareRootError, 1),
        ("(-8)**0.5", UndefinedResultError, 5),
        ("9**9**9**9", ResultTooLargeError, 5),
        ("9**999999999", ResultTooLargeError, 2),
        ("2.0**10000", ResultTooLargeError, 4),
        ("10**5000", ResultTooLargeError, 3),
    ],
)
def test_domain_errors_name_the_position(
    text: str, error: type[DomainError], position: int
) -> None:
    """Calculator errors surface unchanged in type, with the operator's position added."""
    with pytest.raises(error) as caught:
        calculate(text)
    assert caught.value.detail.startswith(f"at position {position}: ")


def test_syntax_checked_before_arithmetic() -> None:
    """A syntax error later in the text wins over a domain error earlier: nothing runs first."""
    with pytest.raises(ExpressionSyntaxError):
        calculate("1/0 +")


def test_length_bound_checked_first() -> None:
    """Text longer than max_length is refused before tokenizing, whatever it contains."""
    limits = expression_limits(max_expression_length=10)
    assert calculate("1+2+3+4+50", limits) == 60
    with pytest.raises(InputTooLargeError, match="11 characters"):
        calculate("1+2+3+4+50\u0661", limits)


def test_node_bound() -> None:
    """More numbers and operators than max_nodes is refused; exactly max_nodes is fine."""
    limits = expression_limits(max_expression_nodes=9)
    assert calculate("1+1+1+1+1", limits) == 5  # 5 numbers + 4 operators
    with pytest.raises(InputTooLargeError, match="more than 9"):
        calculate("1+1+1+1+-1", limits)


@pytest.mark.parametrize(
    ("template", "levels_per_repeat"),
    [("(", 1), ("-", 1), ("sqrt(", 1), ("-(", 2)],
)
def test_depth_bound_is_exact(template: str, levels_per_repeat: int) -> None:
    """Nesting up to max_depth evaluates; one level more is InputTooLargeError."""
    limits = expression_limits(max_expression_depth=MAX_MAX_DEPTH)
    repeats = MAX_MAX_DEPTH // levels_per_repeat

    def nested(count: int) -> str:
        closing = ")" * (count * template.count("("))
        return template * count + "1" + closing

    assert abs(calculate(nested(repeats), limits)) == 1
    with pytest.raises(InputTooLargeError, match="nests deeper"):
        calculate(nested(repeats + 1), limits)


def test_power_chain_depth_bounded() -> None:
    """A right-associative ** chain counts towards the depth bound."""
    limits = expression_limits(max_expression_depth=3)
    assert calculate("1**1**1**1", limits) == 1
    with pytest.raises(InputTooLargeError):
        calculate("1**1**1**1**1", limits)


@pytest.mark.parametrize(
    "text",
    ["(" * 100_000, "-" * 100_000, "(" * 49_999 + "1" + ")" * 50_000, "-(" * 50_000],
    ids=["parentheses", "minus-signs", "balanced", "minus-parentheses"],
)
def test_hostile_nesting_is_refused_not_crashed(text: str) -> None:
    """Inputs that crash ast.parse (RecursionError, MemoryError) are refused with a clear error."""
    limits = expression_limits(max_expression_length=100_000)
    with pytest.raises(InputTooLargeError, match="nests deeper"):
        calculate(text, limits)
    with pytest.raises(InputTooLargeError, match="characters long"):
        calculate(text + "1", limits)


def test_long_flat_expression_needs_no_recursion() -> None:
    """A 10,000-node sum evaluates: evaluation is iterative, not one frame per operator."""
    limits = expression_limits(max_expression_length=20_000, max_expression_nodes=10_000)
    assert calculate("+".join(["1"] * 5000), limits) == 5000


def test_no_dynamic_evaluation_in_source() -> None:
    """The expression modules never import ast nor call eval, exec, compile or __import__."""
    forbidden = {"eval", "exec", "compile", "__import__"}
    for module in (expression_module,):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in forbidden, f"{module.__name__} calls {node.func.id}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported = {alias.name for alias in node.names} | {getattr(node, "module", "")}
                assert "ast" not in imported, f"{module.__name__} imports ast"


@st.composite
def integer_expressions(draw: st.DrawFn, depth: int = 0) -> tuple[str, Fraction]:
    """An expression over small integers with + - * and parentheses, and its exact value."""
    if depth >= 4 or draw(st.booleans()):
        leaf = draw(st.integers(0, 10**6))
        return str(leaf), Fraction(leaf)
    left, left_value = draw(integer_expressions(depth + 1))
    right, right_value = draw(integer_expressions(depth + 1))
    operator = draw(st.sampled_from(["+", "-", "*"]))
    value = {
        "+": left_value + right_value,
        "-": left_value - right_value,
        "*": left_value * right_value,
    }[operator]
    text = f"({left}{operator}{right})" if draw(st.booleans()) else f"({left} {operator} {right})"
    return (f"-{text}", -value) if draw(st.booleans()) else (text, value)


@given(integer_expressions())
def test_integer_expressions_exact(case: tuple[str, Fraction]) -> None:
    """Generated integer expressions evaluate to their exact value, computed independently."""
    text, expected = case
    assert Fraction(evaluate(text, calculator=EXACT, limits=LIMITS)) == expected


@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_calculator_errors(text: str) -> None:
    """For any text, evaluate returns a finite number or raises a CalculatorError."""
    try:
        result = calculate(text)
    except CalculatorError:
        return
    assert result.is_finite()


@given(st.text("0123456789.eE+-*/%() sqrt", max_size=60))
def test_arithmetic_text_raises_only_calculator_errors(text: str) -> None:
    """Text from the grammar's own alphabet yields a bounded number or a CalculatorError."""
    try:
        result = calculate(text)
    except CalculatorError:
        return
    assert result.is_finite()
    assert result == 0 or abs(result.adjusted()) <= CALCULATOR.limits.max_exponent


@given(
    st.integers(LIMITS.max_expression_depth + 1, 2000),
    st.sampled_from(["(", "-", "+", "sqrt(", "-("]),
)
def test_deep_nesting_always_refused(depth: int, opener: str) -> None:
    """Any nesting beyond the bound is InputTooLargeError, never RecursionError."""
    limits = expression_limits(max_expression_length=100_000)
    with pytest.raises(InputTooLargeError):
        calculate(opener * depth + "1" + ")" * (depth * opener.count("(")), limits)
