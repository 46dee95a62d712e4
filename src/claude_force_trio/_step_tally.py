"""What a step's calls add up to: requests, tokens, cost, and what the cache saved.

Why summed per call: each call of a step's loop is priced on its own (its
model, its usage), so a step's cost is the sum of its calls' costs, and
``None`` as soon as one of them has no known price. ``attempts`` sums the
requests of every call (retries included): what the step really sent. A
step is ``cached`` only when every one of its calls was answered without an
API call, and ``"semantic"`` when one of them was a semantic match (its
``similarity`` is the lowest of those matches). A call answered through the
Message Batches API is priced at the batch rate (half), and prices are the
engine's (:class:`~._pricing.Pricing`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ._pricing import DEFAULT_PRICING
from ._types import Usage

if TYPE_CHECKING:
    from ._pricing import Pricing
    from ._types import MessageResult

__all__ = ["CallTally"]


class CallTally:
    """The running totals of one step's calls.

    Args:
        pricing: the prices the calls are costed at (the dated table by default).
    """

    __slots__ = (
        "_attempts_before",
        "_current",
        "_pricing",
        "_served",
        "calls",
        "cost_usd",
        "last",
        "saved_usd",
        "similarity",
        "ttft_s",
        "usage",
    )

    def __init__(self, pricing: Pricing = DEFAULT_PRICING) -> None:
        self._pricing = pricing
        self.calls = 0
        self._attempts_before = 0
        self._current = 0
        self._served = 0
        self.usage = Usage()
        self.cost_usd: float | None = 0.0
        self.saved_usd: float | None = None
        self.similarity: float | None = None
        self.ttft_s: float | None = None
        self.last: MessageResult | None = None

    @property
    def attempts(self) -> int:
        """Requests sent for the step so far, over every call."""
        return self._attempts_before + self._current

    @property
    def all_served(self) -> bool:
        """Every call was answered without an API call (the cache, an identical call)."""
        return self.calls > 0 and self._served == self.calls

    def next_call(self) -> None:
        """A new call begins: the attempts of the one before are final."""
        self._attempts_before += self._current
        self._current = 0
        self.calls += 1

    def attempt(self, number: int) -> None:
        """Attempt ``number`` (1-based) of the current call is sent."""
        self._current = number

    @property
    def cached(self) -> bool | Literal["semantic"]:
        """``StepResult.cached``: every call served, ``"semantic"`` if one was a semantic match."""
        if not self.all_served:
            return False
        return "semantic" if self.similarity is not None else True

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        """The current call was answered without an API call, saving ``saved_usd``.

        ``similarity``: the semantic match's, when the semantic cache answered it.
        """
        self._served += 1
        self.saved_usd = (self.saved_usd or 0.0) + saved_usd
        if similarity is not None:
            low = self.similarity
            self.similarity = similarity if low is None else min(low, similarity)

    def add(self, message: MessageResult, model: str) -> None:
        """The current call's reply arrived: add its tokens and cost (priced as ``model``
        when it names none)."""
        self.usage = self.usage + message.usage
        cost = self._pricing.cost_usd(message.usage, message.model or model, batch=message.batch)
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost
        if self.calls == 1:
            self.ttft_s = message.ttft_s  # time to the step's first text
        self.last = message
