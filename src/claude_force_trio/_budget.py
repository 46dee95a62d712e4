"""Budgets: a call's worst-case cost is reserved before it is sent, its real cost settled after.

Why reserve first: a cap checked against what was *spent* is overrun by every
call in flight at the moment it is reached (ten concurrent steps, each well
within the remaining budget, together far over it). Reserving each call's
worst case before it is sent, and settling the real cost when it answers,
makes the cap hold whatever runs at once: the sum of what was settled never
exceeds it, as long as every worst case is a true upper bound.

The worst case (:func:`worst_case_usd`) is computed without a request: every
UTF-8 byte of the system prompt, messages and tools (their keys included)
counted as one input token
(a token covers at least one byte of text), plus a fixed allowance for each
message's framing, each image and the tool-use preamble the API adds; input
priced at the dearer of the plain and the cache-write rate, and ``max_tokens``
(thinking included) at the output rate. Typical English text is 3–4 bytes a
token, so the reservation is several times the real cost: a cap therefore
refuses a call a little before the money is truly gone, never after. Server
tool fees (web search per use) are not in it.

Two budgets apply to a call: its run's cap (:class:`~._run_budget.RunBudget`, in memory:
one run lives in one process) and the UTC day's cap, shared by every process
through a :class:`~._journal._ledger.DayLedger` (SQLite on one machine, Redis
across machines). :class:`BudgetLayer` sits below the response cache — a hit
costs nothing and reserves nothing — and above resilience, so one reservation
covers a call's retries.

What a call that fails is charged: nothing when the server refused it with a
status (no tokens are billed for those) or it never left (open breaker,
unreachable budget); its whole reservation otherwise (cancelled, timed out,
cut off mid-stream), because tokens may have been billed that no response
reports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import APIStatusError, BudgetError, BudgetExceededError, CircuitOpenError
from ._pricing import DEFAULT_PRICING, Pricing
from ._run_budget import MICROS_PER_USD, to_micros

if TYPE_CHECKING:
    from ._call import Call, CallObserver, Layer
    from ._journal._ledger import DayLedger, Hold
    from ._types import MessageResult

__all__ = ["BudgetLayer", "worst_case_usd"]

log = logging.getLogger("claude_force_trio.budget")

#: Input tokens allowed for each message's role and framing, and for the request's own.
_PER_MESSAGE_TOKENS = 16
_BASE_TOKENS = 64
#: An image costs about width × height / 750 tokens after the API scales it down to
#: its size limit; this bounds the largest the newest models accept.
_IMAGE_TOKENS = 5_000
#: The system prompt the API adds when tools are offered (a few hundred tokens).
_TOOL_PREAMBLE_TOKENS = 1_000


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _input_tokens_bound(body: Mapping[str, Any]) -> int:
    """An upper bound on the input tokens of ``body``: bytes of text, plus allowances."""
    tokens = _BASE_TOKENS
    images = 0

    def walk(value: Any) -> int:
        nonlocal images
        if isinstance(value, Mapping):
            if value.get("type") == "image":
                images += 1
                return 0
            return sum(_utf8(str(key)) + walk(item) for key, item in value.items())
        if isinstance(value, list | tuple):
            return sum(walk(item) for item in value)
        if isinstance(value, str):
            return _utf8(value)
        return len(json.dumps(value)) if value is not None else 0

    messages = body.get("messages") or ()
    tokens += _PER_MESSAGE_TOKENS * len(messages) + walk(messages)
    tokens += walk(body.get("system"))
    if body.get("tools"):
        tokens += _TOOL_PREAMBLE_TOKENS + walk(body.get("tools"))
    if body.get("output_config"):
        tokens += walk(body.get("output_config"))
    return tokens + images * _IMAGE_TOKENS


def worst_case_usd(body: Mapping[str, Any], pricing: Pricing = DEFAULT_PRICING) -> float | None:
    """The most ``body`` can cost when sent, in USD; ``None`` when its model has no price.

    A model priced by prompt length is assumed to be in its dearest band.

    Args:
        body: a Messages request body (``model``, ``max_tokens``, ``system``,
            ``messages``, ``tools``…).
        pricing: the prices to assume (the engine's, overrides included).
    """
    found = pricing.price_for(str(body.get("model", "")))
    if found is None:
        return None
    price = found.dearest
    input_rate = max(price.input, price.cache_write_5m, price.cache_write_1h)
    output_tokens = int(body.get("max_tokens") or 0)
    return (_input_tokens_bound(body) * input_rate + output_tokens * price.output) / 1e6


class BudgetLayer:
    """The layer that holds a call's worst case under its run's and the day's caps.

    A call with no run budget passes straight through when no day cap is set.

    Args:
        inner: the next layer (resilience).
        ledger: the shared day ledger, or ``None`` when no day cap is set.
        day_limit_usd: the UTC day's cap (with ``ledger``).
        hold_ttl_s: how long a day hold outlives its process before it is
            dropped (a process killed mid-call never settles its hold).
        day_key: the ledger key of the current day (a function: days change).
        pricing: the prices worst cases and real costs are counted at.
    """

    def __init__(
        self,
        inner: Layer,
        *,
        ledger: DayLedger | None = None,
        day_limit_usd: float | None = None,
        hold_ttl_s: float = 3600.0,
        day_key: Callable[[], str] | None = None,
        pricing: Pricing = DEFAULT_PRICING,
    ) -> None:
        self._inner = inner
        self._pricing = pricing
        self._ledger = ledger if day_limit_usd is not None else None
        self._day_limit = to_micros(day_limit_usd or 0.0)
        self._hold_ttl_s = hold_ttl_s
        self._day_key = day_key

    def send(self, call: Call, observer: CallObserver) -> Coroutine[Any, Any, MessageResult]:
        """Reserve, send through the next layer, settle; refuse what does not fit.

        With no budget to keep, the call is the next layer's coroutine as it is (see ``Layer``).
        """
        if call.budget is None and self._ledger is None:
            return self._inner.send(call, observer)
        return self._reserved(call, observer)

    async def _reserved(self, call: Call, observer: CallObserver) -> MessageResult:
        run, ledger = call.budget, self._ledger
        worst = worst_case_usd(call.body, self._pricing)
        needed = None if worst is None else to_micros(worst)
        if run is not None and (needed is None or not run.reserve(needed)):
            raise run.refusal(needed)
        hold = None
        try:
            if ledger is not None:
                hold = await self._hold_day(ledger, needed)
        except BaseException:
            if run is not None and needed is not None:
                run.settle(needed, 0)
            raise
        charged = needed or 0
        try:
            result = await self._inner.send(call, observer)
            cost = self._pricing.cost_usd(
                result.usage, result.model or call.model, batch=result.batch
            )
            charged = charged if cost is None else to_micros(cost)
            return result
        except (APIStatusError, CircuitOpenError, BudgetError):
            charged = 0  # refused or never sent: nothing billed
            raise
        finally:
            if run is not None and needed is not None:
                run.settle(needed, charged)
            if hold is not None and ledger is not None:
                await self._settle_day(ledger, hold, charged)

    async def _settle_day(self, ledger: DayLedger, hold: Hold, charged: int) -> None:
        """Settle ``hold``, even while being cancelled; a ledger gone now is a warning.

        The call has happened by now, so failing it would not unspend anything;
        its hold then lapses after ``hold_ttl_s``, and the day total misses it.
        """
        with anyio.CancelScope(shield=True):
            try:
                await ledger.settle(hold, charged)
            except Exception as exc:  # the ledger's own failures (sqlite3, redis)
                log.warning(
                    "could not settle $%.6f on the day budget (%s): %s",
                    charged / MICROS_PER_USD,
                    ledger.where,
                    exc,
                )

    async def _hold_day(self, ledger: DayLedger, needed: int | None) -> Hold:
        if self._day_key is None:
            from ._journal._ledger import day_key

            self._day_key = day_key
        key = self._day_key()
        limit = self._day_limit
        if needed is None:
            raise BudgetExceededError("day", limit / MICROS_PER_USD, 0.0, None)
        try:
            hold = await ledger.reserve(key, needed, limit, ttl_s=self._hold_ttl_s)
            if hold is not None:
                return hold
            status = await ledger.status(key)
        except Exception as exc:  # the ledger's own failures (sqlite3, redis), mapped here
            raise BudgetError(f"the day budget cannot be checked ({ledger.where}): {exc}") from exc
        committed = (status.spent + status.reserved) / MICROS_PER_USD
        raise BudgetExceededError("day", limit / MICROS_PER_USD, committed, needed / MICROS_PER_USD)
