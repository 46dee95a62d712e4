"""Tests for the dated price table (``_pricing``)."""

from __future__ import annotations

import datetime
import logging

import pytest

from claude_force_trio._pricing import (
    MODEL_ALIASES,
    PRICES,
    PRICES_AS_OF,
    ModelPrice,
    cost_usd,
    price_for,
    resolve_model,
)
from claude_force_trio._types import Usage

MILLION_EACH = Usage(input_tokens=1_000_000, output_tokens=1_000_000)

# model → (input, output) USD per MTok, as published (see _pricing's docstring).
PUBLISHED = {
    "claude-fable-5-2": (8.0, 40.0),
    "claude-fable-5-1": (10.0, 50.0),
    "claude-mythos-5-1": (10.0, 50.0),
    "claude-fable-5": (10.0, 50.0),
    "claude-mythos-5": (10.0, 50.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-7": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-5-5": (0.1, 0.5),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}

#: Models whose published cache prices are not 1.25× / 2× / 0.1× their input price:
#: model → (5-minute write, 1-hour write, read) as published.
OWN_CACHE_PRICES = {
    "claude-fable-5-2": (10.0, 16.0, 0.2),  # reads 0.025×
    "claude-fable-5-1": (12.5, 20.0, 0.25),  # reads 0.025×
    "claude-mythos-5-1": (12.5, 20.0, 0.25),
    "claude-opus-5-5": (5.0, 8.0, 0.2),  # reads 0.05×
    "claude-sonnet-5-5": (2.5, 4.0, 0.1),  # reads 0.05× since 2026-10-07
    "claude-3-haiku": (0.3, 0.5, 0.03),
}


def test_table_is_dated() -> None:
    """The table carries the date its prices were checked."""
    assert isinstance(PRICES_AS_OF, datetime.date)
    assert set(PRICES) == set(PUBLISHED)


@pytest.mark.parametrize(("model", "io"), PUBLISHED.items())
def test_million_in_and_out_costs_the_sum(model: str, io: tuple[float, float]) -> None:
    """1 MTok in + 1 MTok out costs input + output price (of the band such a prompt is in)."""
    price = PRICES[model]
    assert (price.input, price.output) == io
    band = price.for_prompt(MILLION_EACH.prompt_tokens)
    assert cost_usd(MILLION_EACH, model) == pytest.approx(band.input + band.output)


@pytest.mark.parametrize("model", sorted(set(PUBLISHED) - set(OWN_CACHE_PRICES)))
def test_cache_prices_follow_published_multipliers(model: str) -> None:
    """5-minute writes are 1.25×, 1-hour writes 2× and reads 0.1× the input price."""
    price = PRICES[model]
    assert price.cache_write_5m == pytest.approx(price.input * 1.25)
    assert price.cache_write_1h == pytest.approx(price.input * 2)
    assert price.cache_read == pytest.approx(price.input * 0.1)


@pytest.mark.parametrize(("model", "cache"), OWN_CACHE_PRICES.items())
def test_models_with_their_own_cache_prices(model: str, cache: tuple[float, float, float]) -> None:
    """Fable/Mythos 5.1, Opus/Sonnet 5.5 and Haiku 3 have cache prices of their own."""
    price = PRICES[model]
    assert (price.cache_write_5m, price.cache_write_1h, price.cache_read) == cache


MIX = Usage(
    input_tokens=1_000,
    output_tokens=500,
    cache_creation_input_tokens=2_000,
    cache_read_input_tokens=10_000,
)


@pytest.mark.parametrize(
    ("model", "five_min", "one_hour"),
    [
        # 1000×3 + 2000×3.75 + 10000×0.3 + 500×15 = 21000 ; 1h: 2000×6 → 25500
        ("claude-sonnet-4-6", 0.021, 0.0255),
        # 1000×2 + 2000×2.5 + 10000×0.2 + 500×10 = 14000 ; 1h: 2000×4 → 17000
        ("claude-sonnet-5", 0.014, 0.017),
        # 1000×5 + 2000×6.25 + 10000×0.5 + 500×25 = 35000 ; 1h: 2000×10 → 42500
        ("claude-opus-4-8", 0.035, 0.0425),
        # 1000×1 + 2000×1.25 + 10000×0.1 + 500×5 = 7000 ; 1h: 2000×2 → 8500
        ("claude-haiku-4-5", 0.007, 0.0085),
        # 1000×15 + 2000×18.75 + 10000×1.5 + 500×75 = 105000 ; 1h: 2000×30 → 127500
        ("claude-opus-4-1", 0.105, 0.1275),
        # 1000×10 + 2000×12.5 + 10000×1 + 500×50 = 70000 ; 1h: 2000×20 → 85000
        ("claude-fable-5", 0.07, 0.085),
    ],
)
def test_usage_mix_with_cache_reads_and_writes(
    model: str, five_min: float, one_hour: float
) -> None:
    """A hand-computed mix of plain input, cache writes, cache reads and output."""
    assert cost_usd(MIX, model) == pytest.approx(five_min)
    assert cost_usd(MIX, model, cache_ttl="1h") == pytest.approx(one_hour)
    assert cost_usd(MIX, model, batch=True) == pytest.approx(five_min / 2)


def test_zero_usage_costs_zero() -> None:
    """No tokens, no cost (and not None)."""
    assert cost_usd(Usage(), "sonnet") == 0.0


def test_unknown_model_has_no_price() -> None:
    """A model we have no price for gives None, not a guess."""
    assert price_for("claude-mythos-preview") is None
    assert price_for("gpt-4o") is None
    assert cost_usd(MILLION_EACH, "claude-unknown-9") is None


def test_aliases_point_at_priced_models_and_opus_at_the_newest_opus() -> None:
    """``opus`` is the newest Opus in the table; every alias has a price."""
    assert MODEL_ALIASES == {
        "haiku": "claude-haiku-4-5",
        "sonnet": "claude-sonnet-5",
        "opus": "claude-opus-5-5",
    }
    assert all(price_for(alias) is not None for alias in MODEL_ALIASES)
    opuses = [m for m in PRICES if m.startswith("claude-opus-")]
    newest = max(opuses, key=lambda m: tuple(int(p) for p in m.split("-")[2:]))
    assert MODEL_ALIASES["opus"] == newest


def test_resolve_model_maps_aliases_and_passes_ids_through() -> None:
    """Aliases (any case) map to ids; ids and unknown names are returned as given."""
    assert resolve_model("sonnet") == "claude-sonnet-5"
    assert resolve_model("Opus") == "claude-opus-5-5"
    assert resolve_model("claude-opus-4-6") == "claude-opus-4-6"
    assert resolve_model("my-proxy-model") == "my-proxy-model"


def test_dated_ids_find_their_base_model() -> None:
    """``claude-haiku-4-5-20251001`` is priced as ``claude-haiku-4-5``."""
    assert price_for("claude-haiku-4-5-20251001") == PRICES["claude-haiku-4-5"]
    assert price_for("claude-opus-4-1-20250805") == ModelPrice(15.0, 18.75, 30.0, 1.5, 75.0)
    assert price_for("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4-5"]
    assert price_for("haiku") is PRICES["claude-haiku-4-5"]


@pytest.mark.parametrize(
    ("dated", "undated"),
    [
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        ("claude-3-opus-20240229", "claude-3-opus"),
    ],
)
def test_every_dated_id_the_simulator_serves_is_priced(dated: str, undated: str) -> None:
    """The dated ids of older models map to their undated entry."""
    assert price_for(dated) is PRICES[undated]


def test_haiku_5_5_is_priced_by_prompt_length() -> None:
    """Up to 100,000 prompt tokens (reads and writes counted) the low band; above, the high one."""
    # 60000 in + 40000 read = 100000: low band. 60000×0.1 + 40000×0.01 + 1000×0.5 = 6900
    low = Usage(60_000, 1_000, cache_read_input_tokens=40_000)
    assert cost_usd(low, "claude-haiku-5-5") == pytest.approx(0.0069)
    # one write token more: 60000×0.5 + 1×0.625 + 40000×0.05 + 1000×2.5 = 34500.625
    high = Usage(60_000, 1_000, cache_creation_input_tokens=1, cache_read_input_tokens=40_000)
    assert cost_usd(high, "claude-haiku-5-5") == pytest.approx(0.034500625)


def test_one_hour_writes_are_priced_from_the_breakdown() -> None:
    """Writes the API says were 1-hour cost the 1-hour rate; the rest the 5-minute rate."""
    usage = Usage(
        cache_creation_input_tokens=3_000_000,
        cache_creation_5m_input_tokens=1_000_000,
        cache_creation_1h_input_tokens=1_000_000,
    )
    # sonnet 4.6: 1M×3.75 + 1M×6 + 1M unsplit at the 5-minute 3.75 = 13.5
    assert cost_usd(usage, "claude-sonnet-4-6") == pytest.approx(13.5)
    # the unsplit million at the 1-hour rate instead: 3.75 + 6 + 6 = 15.75
    assert cost_usd(usage, "claude-sonnet-4-6", cache_ttl="1h") == pytest.approx(15.75)
    assert cost_usd(usage, "claude-sonnet-4-6", batch=True) == pytest.approx(6.75)


def test_usage_keeps_the_api_cache_creation_breakdown() -> None:
    """``from_api`` reads ``cache_creation``; ``to_dict`` adds it only when reported."""
    api = {
        "input_tokens": 5,
        "output_tokens": 7,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
    }
    usage = Usage.from_api(api)
    assert (usage.cache_creation_5m_input_tokens, usage.cache_creation_1h_input_tokens) == (10, 20)
    assert usage.to_dict() == api
    assert Usage.from_api(usage.to_dict()) == usage
    assert "cache_creation" not in Usage(1, 2, 3, 4).to_dict()
    assert (usage + usage).cache_creation_1h_input_tokens == 40
    assert Usage.from_api({"cache_creation": None}) == Usage()


# ---------------------------------------------------------------- issue 6: costs to the cent


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # haiku 4.5: 1234×1 + 5678×5 = 29624 → $0.029624
        ("haiku", Usage(input_tokens=1_234, output_tokens=5_678), 0.029624),
        # sonnet 5: 200000×2 + 300000×0.2 + 50000×2.5 + 10000×10 = 685000 → $0.685
        (
            "sonnet",
            Usage(
                200_000, 10_000, cache_creation_input_tokens=50_000, cache_read_input_tokens=300_000
            ),
            0.685,
        ),
        # opus 5.5: only cache reads, 1M × 0.2 → $0.20
        ("opus", Usage(cache_read_input_tokens=1_000_000), 0.2),
        # opus 4.8: only cache reads, 1M × 0.5 → $0.50
        ("claude-opus-4-8", Usage(cache_read_input_tokens=1_000_000), 0.5),
        # fable 5.1: 1 token of each kind: 10 + 50 + 12.5 + 0.25 = 72.75 → $0.00007275
        ("claude-fable-5-1", Usage(1, 1, 1, 1), 0.00007275),
        # sonnet 4.5 dated id: 3 in + 7 out = 3×3 + 7×15 = 114 → $0.000114
        ("claude-sonnet-4-5-20250929", Usage(3, 7), 0.000114),
        # opus 4.1: only 5-minute cache writes, 40000 × 18.75 = 750000 → $0.75
        ("claude-opus-4-1", Usage(cache_creation_input_tokens=40_000), 0.75),
        # mythos 5: 1 token of each kind: 10 + 50 + 12.5 + 1 = 73.5 → $0.0000735
        ("claude-mythos-5", Usage(1, 1, 1, 1), 0.0000735),
    ],
)
def test_hand_computed_costs(model: str, usage: Usage, expected: float) -> None:
    """Each model and usage mix costs exactly the figure worked out by hand above."""
    cost = cost_usd(usage, model)
    assert cost is not None
    assert round(cost, 9) == pytest.approx(expected, abs=1e-12)


def test_batch_halves_every_component_including_cache() -> None:
    """The Batches API discount applies to cache writes and reads as well."""
    usage = Usage(cache_creation_input_tokens=1_000_000, cache_read_input_tokens=1_000_000)
    # haiku: 1.25 + 0.1 = 1.35 → half 0.675 ; 1h writes: 2 + 0.1 = 2.1 → 1.05
    assert cost_usd(usage, "haiku", batch=True) == pytest.approx(0.675)
    assert cost_usd(usage, "haiku", batch=True, cache_ttl="1h") == pytest.approx(1.05)


def test_unknown_model_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown model gives None and one warning naming it, not one per call."""
    caplog.set_level(logging.WARNING, logger="claude_force_trio")
    assert cost_usd(MILLION_EACH, "claude-warn-once-1") is None
    assert cost_usd(MILLION_EACH, "claude-warn-once-1") is None
    warnings = [r for r in caplog.records if "claude-warn-once-1" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
