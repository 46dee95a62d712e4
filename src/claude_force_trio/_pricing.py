"""The dated price table: model aliases, USD prices per million tokens, and cost.

Why a table in code rather than a lookup at run time: cost must be computable
offline (simulator, metrics replay), and a date beside the numbers tells the
reader how stale they may be. A model missing from the table has no price, so
its cost is ``None`` ("unknown"), never a guess.

Sources (checked on :data:`PRICES_AS_OF`):

* https://platform.claude.com/docs/en/about-claude/pricing — model pricing
  table with 5-minute/1-hour cache writes and cache hits for Fable 5, Mythos 5,
  Opus 4.8/4.7/4.6/4.5 and Opus 4.1.
* https://platform.claude.com/docs/en/models/sonnet-5/overview — Sonnet 5:
  $2 in, $2.50 / $4 cache writes, $0.20 cache read, $10 out. (Its launch rate
  was called introductory; the planned rise to $3/$15 was cancelled and the
  overview still lists $2/$10.)
* Sonnet 4.6/4.5 ($3/$15) and Haiku 4.5 ($1/$5): the same pricing page; cache
  prices follow the published multipliers (1.25×, 2×, 0.1× input).

Left out, because no published price was found: ``claude-mythos-preview``.
The batch API halves every price (:func:`cost_usd` with ``batch=True``).
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Literal

from ._public import publish
from ._types import Usage

__all__ = [
    "MODEL_ALIASES",
    "PRICES",
    "PRICES_AS_OF",
    "ModelPrice",
    "cost_usd",
    "price_for",
    "resolve_model",
]

PRICES_AS_OF = datetime.date(2026, 11, 28)

log = logging.getLogger("claude_force_trio")
# Models already warned about: one line per model per process, not one per call.
_warned: set[str] = set()


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model in USD per million tokens (MTok)."""

    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float


def _price(inp: float, w5m: float, w1h: float, read: float, out: float) -> ModelPrice:
    return ModelPrice(inp, w5m, w1h, read, out)


#: Undated model id → price. Written out digit for digit as published, not
#: computed from multipliers, so no float noise (0.1 × 3 ≠ 0.3) creeps in.
PRICES: dict[str, ModelPrice] = {
    "claude-fable-5": _price(10.0, 12.5, 20.0, 1.0, 50.0),
    "claude-mythos-5": _price(10.0, 12.5, 20.0, 1.0, 50.0),
    "claude-sonnet-5": _price(2.0, 2.5, 4.0, 0.2, 10.0),
    "claude-opus-4-8": _price(5.0, 6.25, 10.0, 0.5, 25.0),
    "claude-opus-4-7": _price(5.0, 6.25, 10.0, 0.5, 25.0),
    "claude-opus-4-6": _price(5.0, 6.25, 10.0, 0.5, 25.0),
    "claude-opus-4-5": _price(5.0, 6.25, 10.0, 0.5, 25.0),
    "claude-sonnet-4-6": _price(3.0, 3.75, 6.0, 0.3, 15.0),
    "claude-sonnet-4-5": _price(3.0, 3.75, 6.0, 0.3, 15.0),
    "claude-haiku-4-5": _price(1.0, 1.25, 2.0, 0.1, 5.0),
    "claude-opus-4-1": _price(15.0, 18.75, 30.0, 1.5, 75.0),
}

#: Each alias names the newest model of its family that has a known price.
#: Note: Sonnet 5 and Opus 4.7+ reject non-default ``temperature``/``top_p``/
#: ``top_k`` with a 400, which is one more reason we send them only when set.
MODEL_ALIASES: dict[str, str] = {
    "haiku": "claude-haiku-4-5",
    "sonnet": "claude-sonnet-5",
    "opus": "claude-opus-4-8",
}

_DATED = re.compile(r"^(?P<base>.+)-\d{8}$")


def resolve_model(name: str) -> str:
    """Return the model id for ``name``: an alias maps to its id, any other name passes through.

    Args:
        name: ``haiku``, ``sonnet``, ``opus`` (any case) or a model id.
    """
    return MODEL_ALIASES.get(name.strip().lower(), name)


def price_for(model: str) -> ModelPrice | None:
    """Return the price of ``model``, or ``None`` when we do not know it.

    Args:
        model: an alias, a model id, or a dated id (``claude-haiku-4-5-20251001``
            is priced as ``claude-haiku-4-5``).
    """
    model_id = resolve_model(model)
    price = PRICES.get(model_id)
    if price is None and (match := _DATED.match(model_id)):
        price = PRICES.get(match["base"])
    return price


def cost_usd(
    usage: Usage,
    model: str,
    *,
    cache_ttl: Literal["5m", "1h"] = "5m",
    batch: bool = False,
) -> float | None:
    """Return what ``usage`` cost in USD, unrounded; ``None`` for a model without a price.

    An unknown model is logged once (a warning on the ``claude_force_trio``
    logger) rather than priced by guess: a wrong figure is worse than none.

    Args:
        usage: the token counts of one or more responses of ``model``.
        model: alias, id or dated id.
        cache_ttl: which cache-write price applies to ``cache_creation_input_tokens``
            (we mark blocks ``ephemeral``, the 5-minute cache, by default).
        batch: priced through the Message Batches API (half price).
    """
    price = price_for(model)
    if price is None:
        # A log line, not warnings.warn: it must reach users of the CLI (stderr
        # with -v) without turning into an exception under ``-W error``.
        if model not in _warned:
            _warned.add(model)
            log.warning("no price known for model %r: its cost is reported as unknown", model)
        return None
    write = price.cache_write_1h if cache_ttl == "1h" else price.cache_write_5m
    total = (
        usage.input_tokens * price.input
        + usage.cache_creation_input_tokens * write
        + usage.cache_read_input_tokens * price.cache_read
        + usage.output_tokens * price.output
    ) / 1e6
    return total * 0.5 if batch else total


publish(globals())
