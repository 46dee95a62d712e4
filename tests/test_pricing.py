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
    "claude-fable-5": (10.0, 50.0),
    "claude-mythos-5": (10.0, 50.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-7": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-1": (15.0, 75.0),
}


def test_table_is_dated() -> None:
    """The table carries the date its prices were checked."""
    assert isinstance(PRICES_AS_OF, datetime.date)
    assert set(PRICES) == set(PUBLISHED)


@pytest.mark.parametrize(("model", "io"), PUBLISHED.items())
def test_million_in_and_out_costs_the_sum(model: str, io: tuple[float, float]) -> None:
    """1 MTok in + 1 MTok out costs exactly input price + output price."""
    assert cost_usd(MILLION_EACH, model) == pytest.approx(io[0] + io[1])


@pytest.mark.parametrize("model", PUBLISHED)
def test_cache_prices_follow_published_multipliers(model: str) -> None:
    """5-minute writes are 1.25×, 1-hour writes 2× and reads 0.1× the input price."""
    price = PRICES[model]
    assert price.cache_write_5m == pytest.approx(price.input * 1.25)
    assert price.cache_write_1h == pytest.approx(price.input * 2)
    assert price.cache_read == pytest.approx(price.input * 0.1)


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


def test_aliases_point_at_newest_priced_model_of_each_family() -> None:
    """``haiku``/``sonnet``/``opus`` resolve to the newest model with a price."""
    assert MODEL_ALIASES == {
        "haiku": "claude-haiku-4-5",
        "sonnet": "claude-sonnet-5",
        "opus": "claude-opus-4-8",
    }
    assert all(price_for(alias) is not None for alias in MODEL_ALIASES)


def test_resolve_model_maps_aliases_and_passes_ids_through() -> None:
    """Aliases (any case) map to ids; ids and unknown names are returned as given."""
    assert resolve_model("sonnet") == "claude-sonnet-5"
    assert resolve_model("Opus") == "claude-opus-4-8"
    assert resolve_model("claude-opus-4-6") == "claude-opus-4-6"
    assert resolve_model("my-proxy-model") == "my-proxy-model"


def test_dated_ids_find_their_base_model() -> None:
    """``claude-haiku-4-5-20251001`` is priced as ``claude-haiku-4-5``."""
    assert price_for("claude-haiku-4-5-20251001") == PRICES["claude-haiku-4-5"]
    assert price_for("claude-opus-4-1-20250805") == ModelPrice(15.0, 18.75, 30.0, 1.5, 75.0)
    assert price_for("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4-5"]
    assert price_for("haiku") is PRICES["claude-haiku-4-5"]


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
        # opus 4.8: only cache reads, 1M × 0.5 → $0.50
        ("opus", Usage(cache_read_input_tokens=1_000_000), 0.5),
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
