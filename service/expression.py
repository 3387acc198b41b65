"""Arithmetic expressions: a hand-written tokenizer and recursive-descent parser.

User text is never handed to ``eval``, ``exec``, ``compile`` or ``ast``: those
accept far more than arithmetic and fail on deep nesting with RecursionError
or MemoryError. Grammar, loosest binding first (as in Python)::

    sum     = product { ( "+" | "-" ) product }
    product = unary { ( "*" | "/" | "%" ) unary }
    unary   = ( "-" | "+" ) unary | power
    power   = atom [ "**" unary ]              ; right-associative: 2**3**2 == 2**9
    atom    = number | "(" sum ")" | "sqrt" "(" sum ")"

So ``-2**2 == -4`` and ``2**-1 == 0.5``. Numbers follow the grammar of
``service.numbers`` without a sign (a sign is the unary operator). Spaces and
tabs may separate tokens. The whole text is parsed, bounded in length, node
count and nesting depth, before any arithmetic runs; evaluation then walks
the postfix program with an explicit stack, so no input can exhaust the
Python stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from service.arithmetic import Calculator
from service.errors import DomainError, ExpressionSyntaxError, InputTooLargeError, quote_input
from service.numbers import UNSIGNED_NUMBER, literal_value

PARAMETER = "expr"
MAX_MAX_DEPTH = 100
"""Each nesting level costs about five Python frames; this stays far below the recursion limit."""

_OPERATORS = ("**", "+", "-", "*", "/", "%", "(", ")")
_WHITESPACE = " \t"
_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARACTERS = _NAME_START + "0123456789"


@dataclass(frozen=True)
class ExpressionLimits:
    """Bounds checked before any arithmetic: text length, node count, nesting depth."""

    max_length: int = 1000
    max_nodes: int = 200
    max_depth: int = 32

    def __post_init__(self) -> None:
        for name, value, ceiling in (
            ("max_length", self.max_length, 100_000),
            ("max_nodes", self.max_nodes, 10_000),
            ("max_depth", self.max_depth, MAX_MAX_DEPTH),
        ):
            if not 1 <= value <= ceiling:
                raise ValueError(f"{name} must be between 1 and {ceiling}, not {value}")


@dataclass(frozen=True)
class Token:
    """One lexical unit: ``kind`` is "number", "name", "end" or the operator text."""

    kind: str
    text: str
    position: int  # 1-based, as people count characters
    value: Decimal | None = None


@dataclass(frozen=True)
class Step:
    """One postfix instruction: push ``value`` if it has one, else apply ``kind`` to the stack."""

    kind: str
    position: int
    value: Decimal | None = None


_BINARY: dict[str, Callable[[Calculator, Decimal, Decimal], Decimal]] = {
    "+": Calculator.add,
    "-": Calculator.subtract,
    "*": Calculator.multiply,
    "/": Calculator.divide,
    "%": Calculator.mod,
    "**": Calculator.power,
}
_UNARY: dict[str, Callable[[Calculator, Decimal], Decimal]] = {
    "negate": Calculator.negate,
    "plus": Calculator.plus,
    "sqrt": Calculator.sqrt,
}


def evaluate(expression: str, *, calculator: Calculator, limits: ExpressionLimits) -> Decimal:
    """The value of ``expression``, computed by ``calculator``.

    Raises:
        InputTooLargeError: the text, its node count or its nesting exceeds ``limits``.
        ExpressionSyntaxError: the text is not an expression; the detail says where.
        DomainError: an operation has no acceptable result (its detail says where).
    """
    if len(expression) > limits.max_length:
        raise InputTooLargeError(
            f"the expression is {len(expression)} characters long; the limit is "
            f"{limits.max_length}",
            parameter=PARAMETER,
        )
    program = _Parser(list(tokenize(expression)), limits).parse()
    return _run(program, calculator)


def tokenize(expression: str) -> Iterator[Token]:
    """Split ``expression`` into tokens, ending with an "end" token."""
    index = 0
    while index < len(expression):
        char = expression[index]
        if char in _WHITESPACE:
            index += 1
            continue
        number = UNSIGNED_NUMBER.match(expression, index)
        if number:
            value = literal_value(number, parameter=PARAMETER)
            yield Token("number", number.group(), index + 1, value)
            index = number.end()
        elif char in _NAME_START:
            end = index
            while end < len(expression) and expression[end] in _NAME_CHARACTERS:
                end += 1
            yield Token("name", expression[index:end], index + 1)
            index = end
        else:
            operator = next((op for op in _OPERATORS if expression.startswith(op, index)), None)
            if operator is None:
                raise _syntax_error(f"unexpected character {char!r}", index + 1)
            yield Token(operator, operator, index + 1)
            index += len(operator)
    yield Token("end", "", len(expression) + 1)


class _Parser:
    """Recursive descent over the token list, emitting a postfix program."""

    def __init__(self, tokens: list[Token], limits: ExpressionLimits) -> None:
        self._tokens = tokens
        self._limits = limits
        self._index = 0
        self._depth = 0
        self._program: list[Step] = []

    def parse(self) -> list[Step]:
        if self._peek().kind == "end":
            raise _syntax_error("the expression is empty", self._peek().position)
        self._sum()
        token = self._peek()
        if token.kind == ")":
            raise _syntax_error("unmatched ')'", token.position)
        if token.kind == "number":
            # "1+2" in a URL query string arrives as "1 2": '+' there means a space.
            raise _syntax_error(
                f"expected an operator, found {_describe(token)} (in a URL query '+' means "
                "a space: send %2B)",
                token.position,
            )
        if token.kind != "end":
            raise _syntax_error(f"expected an operator, found {_describe(token)}", token.position)
        return self._program

    def _sum(self) -> None:
        self._product()
        while self._peek().kind in ("+", "-"):
            operator = self._advance()
            self._product()
            self._emit(Step(operator.kind, operator.position))

    def _product(self) -> None:
        self._unary()
        while self._peek().kind in ("*", "/", "%"):
            operator = self._advance()
            self._unary()
            self._emit(Step(operator.kind, operator.position))

    def _unary(self) -> None:
        if self._peek().kind in ("+", "-"):
            sign = self._advance()
            self._nested(self._unary)
            self._emit(Step("negate" if sign.kind == "-" else "plus", sign.position))
        else:
            self._power()

    def _power(self) -> None:
        self._atom()
        if self._peek().kind == "**":
            operator = self._advance()
            self._nested(self._unary)
            self._emit(Step("**", operator.position))

    def _atom(self) -> None:
        token = self._advance()
        if token.kind == "number":
            self._emit(Step("number", token.position, token.value))
        elif token.kind == "(":
            self._nested(self._sum)
            self._expect_closing(token)
        elif token.kind == "name" and token.text == "sqrt":
            opening = self._advance()
            if opening.kind != "(":
                raise _syntax_error("expected '(' after sqrt", opening.position)
            self._nested(self._sum)
            self._expect_closing(opening)
            self._emit(Step("sqrt", token.position))
        elif token.kind == "name":
            raise _syntax_error(
                f"unknown name {quote_input(token.text)}; the only function is sqrt()",
                token.position,
            )
        else:
            raise _syntax_error(
                f"expected a number or '(', found {_describe(token)}", token.position
            )

    def _nested(self, rule: Callable[[], None]) -> None:
        self._depth += 1
        if self._depth > self._limits.max_depth:
            raise InputTooLargeError(
                f"the expression nests deeper than {self._limits.max_depth} levels",
                parameter=PARAMETER,
            )
        rule()
        self._depth -= 1

    def _expect_closing(self, opening: Token) -> None:
        token = self._advance()
        if token.kind != ")":
            raise _syntax_error(
                f"expected ')' to close the '(' at position {opening.position}, "
                f"found {_describe(token)}",
                token.position,
            )

    def _emit(self, step: Step) -> None:
        if len(self._program) >= self._limits.max_nodes:
            raise InputTooLargeError(
                f"the expression has more than {self._limits.max_nodes} numbers and operators",
                parameter=PARAMETER,
            )
        self._program.append(step)

    def _peek(self) -> Token:
        return self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token


def _run(program: list[Step], calculator: Calculator) -> Decimal:
    """Evaluate a postfix program with an explicit stack (no recursion)."""
    stack: list[Decimal] = []
    for step in program:
        try:
            if step.value is not None:
                stack.append(calculator.plus(step.value))
            elif step.kind in _UNARY:
                stack.append(_UNARY[step.kind](calculator, stack.pop()))
            else:
                right = stack.pop()
                stack.append(_BINARY[step.kind](calculator, stack.pop(), right))
        except DomainError as error:
            raise type(error)(f"at position {step.position}: {error.detail}") from error
    return stack.pop()


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return quote_input(token.text)


def _syntax_error(message: str, position: int) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        f"at position {position}: {message}", parameter=PARAMETER, position=position
    )
