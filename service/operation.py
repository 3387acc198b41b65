"""An arithmetic operation as the HTTP layer and its documentation see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the calculator module builds its registry from this class
    from service.arithmetic import Calculator


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
