"""The expression language: numbers, + - * / % **, unary signs, parentheses, sqrt().

User text is never handed to ``eval``, ``exec``, ``compile`` or ``ast``: those
accept far more than arithmetic and fail on deep nesting with RecursionError
or MemoryError. Instead the text is bounded in length, split into tokens, and
parsed by recursive descent (which bounds node count and nesting depth) into a
postfix program, all before any arithmetic runs. The program is then run with
an explicit stack, so a long flat expression cannot exhaust the Python stack
either, and with a ComputeBudget, so no expression can run for long.

Grammar, loosest binding first (as in Python)::

    sum     = product { ( "+" | "-" ) product }
    product = unary { ( "*" | "/" | "%" ) unary }
    unary   = ( "-" | "+" ) unary | power
    power   = atom [ "**" unary ]              ; right-associative: 2**3**2 == 2**9
    atom    = number | "(" sum ")" | "sqrt" "(" sum ")"

So ``-2**2 == -4`` and ``2**-1 == 0.5``. Numbers follow service.core.numbers and
are taken exactly, as the operands of the binary operations are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from service.core.calculator import Calculator, ComputeBudget
from service.core.errors import (
    DomainError,
    ExpressionSyntaxError,
    InputTooLargeError,
    quote_input,
)
from service.core.numbers import UNSIGNED_NUMBER, literal_value

PARAMETER = "expr"
"""Errors about an expression name the field that carries it."""

MAX_MAX_DEPTH = 100
"""A nesting level costs the parser up to six Python frames: 600 stays far below the limit."""
MAX_MAX_LENGTH = 100_000
MAX_MAX_NODES = 10_000


@dataclass(frozen=True)
class ExpressionLimits:
    """Bounds checked before any arithmetic: text length, node count, nesting depth.

    The values are validated where they are configured (service.runtime.settings),
    against the ceilings above.
    """

    max_expression_length: int
    max_expression_nodes: int
    max_expression_depth: int


def evaluate(
    expression: str,
    *,
    calculator: Calculator,
    limits: ExpressionLimits,
    budget: ComputeBudget | None = None,
) -> Decimal:
    """The value of ``expression``, computed by ``calculator`` within ``budget`` (if any).

    Raises:
        InputTooLargeError: the text, its node count or its nesting exceeds ``limits``.
        ExpressionSyntaxError: the text is not an expression; the detail says where.
        DomainError: an operation has no acceptable result (its detail says where),
            or TooMuchWorkError once ``budget`` is spent.
    """
    if len(expression) > limits.max_expression_length:
        raise InputTooLargeError(
            f"the expression is {len(expression)} characters long; the limit is "
            f"{limits.max_expression_length}",
            parameter=PARAMETER,
        )
    program = parse(
        tokenize(expression),
        max_nodes=limits.max_expression_nodes,
        max_depth=limits.max_expression_depth,
    )
    return _run(program, calculator, budget)


# --- tokens -------------------------------------------------------------------------------

# One pattern for every token: a single regex match per token keeps long inputs cheap.
_TOKEN = re.compile(
    rf"(?P<number>{UNSIGNED_NUMBER})"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>\*\*|[-+*/%()])"  # "**" before "*": the longest operator wins
)
_BLANKS = " \t"


@dataclass(frozen=True)
class Token:
    """One lexical unit: ``kind`` is "number", "name", "end" or the operator text."""

    kind: str
    text: str
    position: int  # 1-based, as people count characters
    value: Decimal | None = None


def tokenize(expression: str) -> Iterator[Token]:
    """Split ``expression`` into tokens, ending with an "end" token.

    Raises:
        ExpressionSyntaxError: a character that starts no token.
        InputTooLargeError: a number whose exponent has too many digits.
    """
    index, end = 0, len(expression)
    while True:
        while index < end and expression[index] in _BLANKS:
            index += 1
        if index == end:
            break
        match = _TOKEN.match(expression, index)
        if match is None:
            raise syntax_error(f"unexpected character {expression[index]!r}", index + 1)
        text, position = match.group(), index + 1
        if match["number"] is not None:
            yield Token("number", text, position, literal_value(text, parameter=PARAMETER))
        elif match["name"] is not None:
            yield Token("name", text, position)
        else:
            yield Token(text, text, position)
        index = match.end()
    yield Token("end", "", end + 1)


def syntax_error(message: str, position: int) -> ExpressionSyntaxError:
    """An ExpressionSyntaxError whose detail starts with the position."""
    return ExpressionSyntaxError(
        f"at position {position}: {message}", parameter=PARAMETER, position=position
    )


# --- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One postfix instruction: push ``value`` if it has one, else apply ``kind`` to the stack."""

    kind: str
    position: int
    value: Decimal | None = None


def parse(tokens: Iterator[Token], *, max_nodes: int, max_depth: int) -> list[Step]:
    """The postfix program of ``tokens``, pulled one at a time.

    Tokens are read lazily, so errors come in the order of their positions and
    a deep-nesting refusal does not wait for the rest of the text to be split.

    Raises:
        ExpressionSyntaxError: the tokens do not form an expression; the detail says where.
        InputTooLargeError: more than ``max_nodes`` steps or deeper than ``max_depth``.
    """
    return _Parser(tokens, max_nodes=max_nodes, max_depth=max_depth).parse()


class _Parser:
    """One parse: the next token, the depth, and the program so far."""

    def __init__(self, tokens: Iterator[Token], *, max_nodes: int, max_depth: int) -> None:
        self._tokens = tokens
        self._max_nodes = max_nodes
        self._max_depth = max_depth
        self._next: Token | None = None  # tokens are pulled only when looked at
        self._depth = 0
        self._program: list[Step] = []

    def parse(self) -> list[Step]:
        if self._peek().kind == "end":
            raise syntax_error("the expression is empty", self._peek().position)
        self._sum()
        token = self._peek()
        if token.kind == ")":
            raise syntax_error("unmatched ')'", token.position)
        if token.kind == "number":
            # "1+2" in a URL query string arrives as "1 2": '+' there means a space.
            raise syntax_error(
                f"expected an operator, found {_describe(token)} (in a URL query '+' means "
                "a space: send %2B)",
                token.position,
            )
        if token.kind != "end":
            raise syntax_error(f"expected an operator, found {_describe(token)}", token.position)
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
                raise syntax_error("expected '(' after sqrt", opening.position)
            self._nested(self._sum)
            self._expect_closing(opening)
            self._emit(Step("sqrt", token.position))
        elif token.kind == "name":
            raise syntax_error(
                f"unknown name {quote_input(token.text)}; the only function is sqrt()",
                token.position,
            )
        else:
            raise syntax_error(
                f"expected a number or '(', found {_describe(token)}", token.position
            )

    def _nested(self, rule: Callable[[], None]) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise InputTooLargeError(
                f"the expression nests deeper than {self._max_depth} levels",
                parameter=PARAMETER,
            )
        rule()
        self._depth -= 1

    def _expect_closing(self, opening: Token) -> None:
        token = self._advance()
        if token.kind != ")":
            raise syntax_error(
                f"expected ')' to close the '(' at position {opening.position}, "
                f"found {_describe(token)}",
                token.position,
            )

    def _emit(self, step: Step) -> None:
        if len(self._program) >= self._max_nodes:
            raise InputTooLargeError(
                f"the expression has more than {self._max_nodes} numbers and operators",
                parameter=PARAMETER,
            )
        self._program.append(step)

    def _peek(self) -> Token:
        if self._next is None:
            self._next = next(self._tokens)
        return self._next

    def _advance(self) -> Token:
        token = self._peek()
        if token.kind != "end":  # "end" is the tokenizer's last token: keep returning it
            self._next = None
        return token


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return quote_input(token.text)


# --- evaluation ---------------------------------------------------------------------------

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


def _run(program: list[Step], calculator: Calculator, budget: ComputeBudget | None) -> Decimal:
    """Evaluate a postfix program with an explicit stack (no recursion)."""
    stack: list[Decimal] = []
    for step in program:
        try:
            if step.value is not None:
                stack.append(calculator.operand(step.value))
            elif step.kind in _UNARY:
                stack.append(_UNARY[step.kind](calculator, stack.pop()))
            else:
                right = stack.pop()
                stack.append(_BINARY[step.kind](calculator, stack.pop(), right))
        except DomainError as error:
            raise type(error)(f"at position {step.position}: {error.detail}") from error
        if budget is not None and step.value is None:
            budget.check()
    return stack.pop()
