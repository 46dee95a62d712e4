"""One run's budget, and money as whole micro-dollars.

Why integers: sums of floats drift, and "spent + held + needed ≤ cap" must be
exact, so every amount a budget or a ledger keeps is micro-dollars, rounded up
where a float comes in (a reservation never falls short). Why a module of its
own: a call carries its run's :class:`RunBudget` down the call stack
(:class:`~._call.Call`), and the budget layer (:mod:`._budget`) reads it; neither
of those should import the other.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._errors import BudgetExceededError

if TYPE_CHECKING:
    from ._config import BudgetConfig

__all__ = ["MICROS_PER_USD", "RunBudget", "check_usd", "run_budget", "to_micros"]

MICROS_PER_USD = 1_000_000


def check_usd(value: float, name: str) -> float:
    """Return ``value`` if it is a usable cap in USD (finite, above zero); else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of US dollars, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of US dollars, got {value!r}")
    return float(value)


def to_micros(usd: float) -> int:
    """Whole micro-dollars in ``usd``, rounded up (a reservation never falls short)."""
    return -(-round(usd * MICROS_PER_USD * 1000) // 1000)


class RunBudget:
    """One run's cap: what its calls spent and hold, checked and updated without a pause.

    Reserving and settling never await, so on one event loop no other task can
    slip between the check and the update.

    Args:
        cap_usd: the run's cap.
        spent_usd: what the run spent before (a resumed run's journalled steps).
    """

    __slots__ = ("cap", "reserved", "spent")

    def __init__(self, cap_usd: float, *, spent_usd: float = 0.0) -> None:
        self.cap = to_micros(cap_usd)
        self.spent = to_micros(spent_usd)
        self.reserved = 0

    @property
    def spent_usd(self) -> float:
        """What the run's calls have cost so far."""
        return self.spent / MICROS_PER_USD

    def reserve(self, amount: int) -> bool:
        """Hold ``amount`` micro-dollars if they fit under the cap."""
        if self.spent + self.reserved + amount > self.cap:
            return False
        self.reserved += amount
        return True

    def settle(self, held: int, spent: int) -> None:
        """Release ``held`` and count ``spent``."""
        self.reserved -= held
        self.spent += spent

    def refusal(self, needed: int | None) -> BudgetExceededError:
        """The error for a call of worst case ``needed`` that does not fit."""
        return BudgetExceededError(
            "run",
            self.cap / MICROS_PER_USD,
            (self.spent + self.reserved) / MICROS_PER_USD,
            None if needed is None else needed / MICROS_PER_USD,
        )


def run_budget(
    config: BudgetConfig, budget_usd: float | None, workflow: str | None, spent_usd: float = 0.0
) -> RunBudget | None:
    """The cap of one run: ``budget_usd`` if given, else the config's for ``workflow``.

    Raises:
        ValueError: ``budget_usd`` is zero, negative or not finite.
    """
    cap = config.run_cap(workflow) if budget_usd is None else budget_usd
    return None if cap is None else RunBudget(check_usd(cap, "budget_usd"), spent_usd=spent_usd)
