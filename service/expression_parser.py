"""Recursive descent over expression tokens, emitting a postfix program.

Grammar, loosest binding first (as in Python)::

    sum     = product { ( "+" | "-" ) product }
    product = unary { ( "*" | "/" | "%" ) unary }
    unary   = ( "-" | "+" ) unary | power
    power   = atom [ "**" unary ]              ; right-associative: 2**3**2 == 2**9
    atom    = number | "(" sum ")" | "sqrt" "(" sum ")"

So ``-2**2 == -4`` and ``2**-1 == 0.5``. Every recursion into a nested rule
counts one level of depth, so no input can reach Python's recursion limit,
and every emitted step counts one node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from service.errors import InputTooLargeError, quote_input
from service.expression_tokens import PARAMETER, Token, syntax_error


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
