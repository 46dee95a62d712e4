"""The dated price table: model aliases, USD prices per million tokens, and cost.

Why a table in code rather than a lookup at run time: cost must be computable
offline (simulator, metrics replay), and a date beside the numbers tells the
reader how stale they may be. A model missing from the table has no price, so
its cost is ``None`` ("unknown"), never a guess. Negotiated rates come from
``claude.json`` (``pricing``) as a :class:`Pricing` held by one engine, never
as a change to this table: two engines in one process keep their own prices.

Sources. The live pricing page cannot be fetched where this table was last
revised, so it was checked against stored copies of the official pages
(``platform.claude.com/docs/en/about-claude/pricing`` and each model's
``models/<model>/overview``) as of :data:`PRICES_AS_OF`:

* Verified on the pricing page's model table: Fable 5.1 and Mythos 5.1
  ($10 in, $12.50 / $20 cache writes, $0.25 cache hits, $50 out), Fable 5 and
  Mythos 5 (hits $1), Opus 5, Opus 4.8/4.7/4.6/4.5 ($5/$25), Opus 4.1 and
  Opus 4 ($15/$75); from an older copy of the same page, Sonnet 4, Sonnet 3.7,
  Sonnet 3.5, Haiku 3.5, Opus 3 and Haiku 3 (retired or deprecated models,
  kept so that old metrics and journals still price).
* Verified on the models' overview pages: Opus 5.5 ($4 in, $5 / $8 writes,
  $0.20 hits, $20 out), Sonnet 5 ($2 / $2.50 / $4 / $0.20 / $10), Sonnet
  4.6/4.5 ($3/$15) and Haiku 4.5 ($1/$5).
* Not verified on an official page, taken from tools that track the pricing
  page (agreeing with each other): Sonnet 5.5's cache-hit cut from $0.20 to
  $0.10 on 2026-10-07 (the stored overview still shows $0.20, from before
  it); Haiku 5.5's two bands (the overview says only "from $0.10 / $0.50":
  $0.10 / $0.125 / $0.20 / $0.01 / $0.50 for a prompt of up to 100,000
  tokens, $0.50 / $0.625 / $1 / $0.05 / $2.50 above, counting cache reads and
  writes in the prompt); and Fable 5.2 (released 2026-11-09: $8 / $10 / $16 /
  $0.20 / $40).
* Left out, because no published price was found: ``claude-mythos-preview``
  and Mythos 5.2.

The Message Batches API halves every price (``batch=True``). Cache writes are
priced by the lifetime the API reports for them (``usage.cache_creation``);
writes it did not break down are priced at the 5-minute rate unless told.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from ._public import publish
from ._types import Usage

__all__ = [
    "DEFAULT_PRICING",
    "MODEL_ALIASES",
    "PRICES",
    "PRICES_AS_OF",
    "PRICE_FIELDS",
    "ModelPrice",
    "Pricing",
    "cost_usd",
    "price_for",
    "resolve_model",
]

PRICES_AS_OF = datetime.date(2026, 11, 28)

#: The five prices of a model, as ``claude.json``'s ``pricing`` names them.
PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")

log = logging.getLogger("claude_force_trio")
# Models already warned about: one line per model per process, not one per call.
_warned: set[str] = set()


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model in USD per million tokens (MTok).

    Attributes:
        long_prompt: the prices of a request whose prompt (plain input, cache
            writes and cache reads) is over ``long_prompt_tokens``; ``None``
            when the model has one price at every length.
        long_prompt_tokens: the longest prompt the base prices apply to.
    """

    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float
    long_prompt: ModelPrice | None = None
    long_prompt_tokens: int = 0

    def for_prompt(self, prompt_tokens: int) -> ModelPrice:
        """The prices that apply to a request whose prompt has ``prompt_tokens`` tokens."""
        if self.long_prompt is not None and prompt_tokens > self.long_prompt_tokens:
            return self.long_prompt
        return self

    @property
    def dearest(self) -> ModelPrice:
        """The dearest of the model's price bands (what a worst case must assume)."""
        return self.long_prompt if self.long_prompt is not None else self


def _price(inp: float, w5m: float, w1h: float, read: float, out: float) -> ModelPrice:
    return ModelPrice(inp, w5m, w1h, read, out)


_OPUS_4_5 = _price(5.0, 6.25, 10.0, 0.5, 25.0)
_OPUS_4 = _price(15.0, 18.75, 30.0, 1.5, 75.0)
_SONNET_4 = _price(3.0, 3.75, 6.0, 0.3, 15.0)
_FABLE_5_1 = _price(10.0, 12.5, 20.0, 0.25, 50.0)
_FABLE_5 = _price(10.0, 12.5, 20.0, 1.0, 50.0)

#: Undated model id → price. Written out digit for digit as published, not
#: computed from multipliers, so no float noise (0.1 × 3 ≠ 0.3) creeps in.
#: A dated id (``claude-haiku-4-5-20251001``) is priced as its undated one.
PRICES: dict[str, ModelPrice] = {
    "claude-fable-5-2": _price(8.0, 10.0, 16.0, 0.2, 40.0),
    "claude-fable-5-1": _FABLE_5_1,
    "claude-mythos-5-1": _FABLE_5_1,
    "claude-fable-5": _FABLE_5,
    "claude-mythos-5": _FABLE_5,
    "claude-opus-5-5": _price(4.0, 5.0, 8.0, 0.2, 20.0),
    "claude-opus-5": _OPUS_4_5,
    "claude-opus-4-8": _OPUS_4_5,
    "claude-opus-4-7": _OPUS_4_5,
    "claude-opus-4-6": _OPUS_4_5,
    "claude-opus-4-5": _OPUS_4_5,
    "claude-opus-4-1": _OPUS_4,
    "claude-opus-4": _OPUS_4,
    "claude-3-opus": _OPUS_4,
    "claude-sonnet-5-5": _price(2.0, 2.5, 4.0, 0.1, 10.0),
    "claude-sonnet-5": _price(2.0, 2.5, 4.0, 0.2, 10.0),
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-3-7-sonnet": _SONNET_4,
    "claude-3-5-sonnet": _SONNET_4,
    "claude-haiku-5-5": ModelPrice(
        0.1,
        0.125,
        0.2,
        0.01,
        0.5,
        long_prompt=_price(0.5, 0.625, 1.0, 0.05, 2.5),
        long_prompt_tokens=100_000,
    ),
    "claude-haiku-4-5": _price(1.0, 1.25, 2.0, 0.1, 5.0),
    "claude-3-5-haiku": _price(0.8, 1.0, 1.6, 0.08, 4.0),
    "claude-3-haiku": _price(0.25, 0.3, 0.5, 0.03, 1.25),
}

#: ``opus`` names the newest Opus. ``sonnet`` and ``haiku`` stay on Sonnet 5 and
#: Haiku 4.5 for now: an alias is the model requests go to, and Sonnet 5.5 and
#: Haiku 5.5 change what requests may send (forced tool use, thinking), so
#: moving them is a change of behaviour, not of price.
#: Note: Sonnet 5 and Opus 4.7+ reject non-default ``temperature``/``top_p``/
#: ``top_k`` with a 400, which is one more reason we send them only when set.
MODEL_ALIASES: dict[str, str] = {
    "haiku": "claude-haiku-4-5",
    "sonnet": "claude-sonnet-5",
    "opus": "claude-opus-5-5",
}

_DATED = re.compile(r"^(?P<base>.+)-\d{8}$")
#: Cache prices of a model only ``claude.json`` prices, from its input price:
#: the multipliers most models publish (5-minute write, 1-hour write, read).
_MULTIPLIERS = {"cache_write_5m": 1.25, "cache_write_1h": 2.0, "cache_read": 0.1}


def resolve_model(name: str) -> str:
    """Return the model id for ``name``: an alias maps to its id, any other name passes through.

    Args:
        name: ``haiku``, ``sonnet``, ``opus`` (any case) or a model id.
    """
    return MODEL_ALIASES.get(name.strip().lower(), name)


def _undated(model_id: str) -> str | None:
    match = _DATED.match(model_id)
    return match["base"] if match else None


def _lookup(table: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    model_id = resolve_model(model)
    price = table.get(model_id)
    if price is None and (base := _undated(model_id)) is not None:
        price = table.get(base)
    return price


def price_for(model: str) -> ModelPrice | None:
    """Return the table's price of ``model``, or ``None`` when we do not know it.

    Args:
        model: an alias, a model id, or a dated id (``claude-haiku-4-5-20251001``
            is priced as ``claude-haiku-4-5``).
    """
    return _lookup(PRICES, model)


def _cost(price: ModelPrice, usage: Usage, cache_ttl: Literal["5m", "1h"], batch: bool) -> float:
    band = price.for_prompt(usage.prompt_tokens)
    one_hour = usage.cache_creation_1h_input_tokens
    five_min = usage.cache_creation_5m_input_tokens
    unsplit = max(0, usage.cache_creation_input_tokens - one_hour - five_min)
    unsplit_rate = band.cache_write_1h if cache_ttl == "1h" else band.cache_write_5m
    total = (
        usage.input_tokens * band.input
        + five_min * band.cache_write_5m
        + one_hour * band.cache_write_1h
        + unsplit * unsplit_rate
        + usage.cache_read_input_tokens * band.cache_read
        + usage.output_tokens * band.output
    ) / 1e6
    return total * 0.5 if batch else total


def _unknown(model: str) -> None:
    # A log line, not warnings.warn: it must reach users of the CLI (stderr
    # with -v) without turning into an exception under ``-W error``.
    if model not in _warned:
        _warned.add(model)
        log.warning("no price known for model %r: its cost is reported as unknown", model)


@dataclass(frozen=True, slots=True)
class Pricing:
    """The prices one engine uses: the dated table with its config's overrides over it.

    Build it with :meth:`from_overrides`; :data:`DEFAULT_PRICING` is the table alone.

    Attributes:
        overrides: model id (undated to cover every dated id, or dated for one)
            → the price that replaces the table's.
    """

    overrides: Mapping[str, ModelPrice] = field(default_factory=dict)

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Mapping[str, float]]) -> Pricing:
        """Prices with ``claude.json``'s ``pricing`` section over the table.

        An override replaces the model's price at every prompt length; a field
        it leaves out keeps the table's value. A model the table does not know
        must give ``input`` and ``output``; its cache prices then follow the
        usual multipliers of its input price (1.25×, 2×, 0.1×).

        Args:
            overrides: model (alias, id or dated id) → the fields of
                :data:`PRICE_FIELDS` it sets, in USD per MTok.

        Raises:
            ValueError: a model the table does not know lacks ``input`` or
                ``output``, or a field is not one of :data:`PRICE_FIELDS`.
        """
        merged: dict[str, ModelPrice] = {}
        for model, given in overrides.items():
            unknown = set(given) - set(PRICE_FIELDS)
            if unknown:
                raise ValueError(f"{model}: unknown price field {sorted(unknown)[0]!r}")
            base = price_for(model)
            if base is None:
                missing = [name for name in ("input", "output") if name not in given]
                if missing:
                    raise ValueError(
                        f"{model}: the price table does not know this model, so "
                        f"{' and '.join(repr(m) for m in missing)} must be given"
                    )
                rates = {k: given["input"] * m for k, m in _MULTIPLIERS.items()} | dict(given)
                base = _price(
                    rates["input"],
                    rates["cache_write_5m"],
                    rates["cache_write_1h"],
                    rates["cache_read"],
                    rates["output"],
                )
            changes = {name: float(value) for name, value in given.items()}
            merged[resolve_model(model)] = replace(
                base, long_prompt=None, long_prompt_tokens=0, **changes
            )
        return cls(merged)

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of ``model``: its override, else the table's; ``None`` when unknown.

        Args:
            model: an alias, a model id, or a dated id.
        """
        if self.overrides and (price := _lookup(self.overrides, model)) is not None:
            return price
        return price_for(model)

    def cost_usd(
        self,
        usage: Usage,
        model: str,
        *,
        cache_ttl: Literal["5m", "1h"] = "5m",
        batch: bool = False,
    ) -> float | None:
        """What ``usage`` cost in USD, unrounded; ``None`` for a model without a price.

        See :func:`cost_usd`; this one uses these prices.

        Args:
            usage: the token counts of one response (a prompt-length band is
                chosen from them) or of several of the same band.
            model: alias, id or dated id.
            cache_ttl: the write price of cache writes the usage did not break
                down by lifetime.
            batch: answered through the Message Batches API (half price).
        """
        price = self.price_for(model)
        if price is None:
            _unknown(model)
            return None
        return _cost(price, usage, cache_ttl, batch)


#: The dated table with no overrides.
DEFAULT_PRICING = Pricing()


def cost_usd(
    usage: Usage,
    model: str,
    *,
    cache_ttl: Literal["5m", "1h"] = "5m",
    batch: bool = False,
) -> float | None:
    """Return what ``usage`` cost in USD at the table's prices; ``None`` for an unknown model.

    An unknown model is logged once (a warning on the ``claude_force_trio``
    logger) rather than priced by guess: a wrong figure is worse than none.
    Cache writes are priced by the lifetime ``usage`` reports for them (its
    ``cache_creation`` breakdown); writes without one at ``cache_ttl``'s rate.
    A model priced by prompt length (Haiku 5.5) is priced by the length of
    ``usage``'s prompt, so pass one response's usage, not a sum.

    Args:
        usage: the token counts of one response of ``model``.
        model: alias, id or dated id.
        cache_ttl: which cache-write price applies to writes the usage does not
            break down (we mark blocks ``ephemeral``, the 5-minute cache, by default).
        batch: priced through the Message Batches API (half price).
    """
    return DEFAULT_PRICING.cost_usd(usage, model, cache_ttl=cache_ttl, batch=batch)


publish(globals())
