"""Negotiated prices (``claude.json``'s ``pricing``), batch and 1-hour-write prices, per engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_force_trio import Backend, ConfigError, load_config, open_engine
from claude_force_trio._api._wire import merge_usage, usage_from_counts
from claude_force_trio._budget import worst_case_usd
from claude_force_trio._config import Config
from claude_force_trio._config._migrate import config_to_dict
from claude_force_trio._metrics._aggregate import read_records
from claude_force_trio._pricing import DEFAULT_PRICING, PRICES, Pricing, cost_usd
from claude_force_trio._step_tally import CallTally
from claude_force_trio._types import MessageResult, Usage
from claude_force_trio.compat._async_tracking import pricing_of
from claude_force_trio.simulator._promptcache import Prompt, PromptCache
from claude_force_trio.simulator._wire import usage_object

from .engine_support import make_config

pytestmark = pytest.mark.anyio

MTOK = 1_000_000
BACKEND = Backend.url("http://api.test", "test-key-pricing")


# ---------------------------------------------------------------- the Pricing value


def test_an_override_replaces_only_the_fields_it_gives() -> None:
    """Missing fields keep the table's prices; the override applies to dated ids too."""
    pricing = Pricing.from_overrides({"claude-sonnet-4-5": {"input": 2.0, "cache_read": 0.05}})
    price = pricing.price_for("claude-sonnet-4-5-20250929")
    assert price is not None
    table = PRICES["claude-sonnet-4-5"]
    assert (price.input, price.cache_read) == (2.0, 0.05)
    assert (price.output, price.cache_write_5m, price.cache_write_1h) == (
        table.output,
        table.cache_write_5m,
        table.cache_write_1h,
    )
    # Other models, and the table itself, are untouched.
    assert pricing.price_for("claude-opus-4-8") is PRICES["claude-opus-4-8"]
    assert PRICES["claude-sonnet-4-5"].input == 3.0


def test_an_alias_key_prices_the_model_it_names() -> None:
    """``opus`` in ``pricing`` is the newest Opus; its dated ids follow."""
    pricing = Pricing.from_overrides({"opus": {"output": 10.0}})
    assert pricing.cost_usd(Usage(output_tokens=MTOK), "claude-opus-5-5") == pytest.approx(10.0)
    assert pricing.cost_usd(Usage(output_tokens=MTOK), "opus") == pytest.approx(10.0)
    assert pricing.cost_usd(Usage(output_tokens=MTOK), "claude-opus-5-5-20260923") == pytest.approx(
        10.0
    )


def test_a_dated_key_prices_only_that_snapshot() -> None:
    """An override on one dated id leaves the other snapshots at the table's price."""
    pricing = Pricing.from_overrides({"claude-haiku-4-5-20251001": {"input": 0.5}})
    assert pricing.cost_usd(Usage(MTOK), "claude-haiku-4-5-20251001") == pytest.approx(0.5)
    assert pricing.cost_usd(Usage(MTOK), "claude-haiku-4-5") == pytest.approx(1.0)


def test_a_model_the_table_lacks_needs_input_and_output() -> None:
    """A new model is priced from the config alone; cache prices follow the usual multipliers."""
    with pytest.raises(ValueError, match="'output' must be given"):
        Pricing.from_overrides({"my-proxy-model": {"input": 1.0}})
    pricing = Pricing.from_overrides({"my-proxy-model": {"input": 2.0, "output": 8.0}})
    price = pricing.price_for("my-proxy-model")
    assert price is not None
    assert (price.cache_write_5m, price.cache_write_1h, price.cache_read) == pytest.approx(
        (2.5, 4.0, 0.2)
    )
    assert DEFAULT_PRICING.price_for("my-proxy-model") is None


def test_an_override_prices_every_prompt_length_alike() -> None:
    """Haiku 5.5's long-prompt band does not survive a negotiated rate."""
    pricing = Pricing.from_overrides({"claude-haiku-5-5": {"input": 0.2}})
    long_prompt = Usage(input_tokens=200_000)
    assert pricing.cost_usd(long_prompt, "claude-haiku-5-5") == pytest.approx(0.04)
    assert cost_usd(long_prompt, "claude-haiku-5-5") == pytest.approx(0.1)


def test_tally_prices_batch_answers_at_half_and_uses_the_engines_prices() -> None:
    """A step's cost sums its calls at the engine's prices, batch answers at half."""
    pricing = Pricing.from_overrides({"claude-sonnet-4-5": {"input": 1.0, "output": 1.0}})
    tally = CallTally(pricing)
    usage = Usage(MTOK, MTOK)
    for batch in (False, True):
        tally.next_call()
        tally.add(MessageResult("m", "claude-sonnet-4-5", "x", "end_turn", usage, batch=batch), "")
    assert tally.cost_usd == pytest.approx(2.0 + 1.0)
    table = CallTally()
    table.next_call()
    table.add(MessageResult("m", "", "x", "end_turn", usage, batch=True), "claude-sonnet-4-5")
    assert table.cost_usd == pytest.approx(9.0)


def test_worst_case_uses_the_override_and_the_dearest_band() -> None:
    """The budget's reservation follows the engine's prices."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 1000, "messages": []}
    table = worst_case_usd(body)
    cheap = worst_case_usd(body, Pricing.from_overrides({"claude-sonnet-4-5": {"output": 1.5}}))
    assert table is not None
    assert cheap is not None
    assert table - cheap == pytest.approx(1000 * (15.0 - 1.5) / MTOK)
    haiku = worst_case_usd(dict(body, model="claude-haiku-5-5"))
    assert haiku == pytest.approx((64 * 1.0 + 1000 * 2.5) / MTOK)  # the >100K band's rates


# ---------------------------------------------------------------- claude.json


def write(tmp_path: Path, pricing: Any) -> Path:
    """A one-agent ``claude.json`` with ``pricing`` (and its agent file)."""
    (tmp_path / "a.md").write_text("# A\n\nYou are A.\n", encoding="utf-8")
    doc = {"agents": {"a": {"file": "a.md", "model": "claude-sonnet-4-5"}}, "pricing": pricing}
    path = tmp_path / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_the_pricing_section_loads_and_migrates(tmp_path: Path) -> None:
    """Only the given fields are kept, and ``config migrate`` writes them back."""
    config = load_config(write(tmp_path, {"sonnet": {"input": 1.5, "cache_write_1h": 3}}))
    assert config.pricing == {"sonnet": {"input": 1.5, "cache_write_1h": 3.0}}
    assert config_to_dict(config)["pricing"] == {"sonnet": {"input": 1.5, "cache_write_1h": 3}}
    assert "pricing" not in config.ignored_sections
    assert load_config(write(tmp_path, {})).pricing == {}


@pytest.mark.parametrize(
    ("pricing", "path", "message"),
    [
        ({"sonnet": {"inptu": 1}}, "pricing.sonnet.inptu", "did you mean 'input'"),
        ({"sonnet": {"input": 1e6}}, "pricing.sonnet.input", "from 0 to 1000"),
        ({"sonnet": {"input": -1}}, "pricing.sonnet.input", "from 0 to 1000"),
        ({"sonnet": {"input": "cheap"}}, "pricing.sonnet.input", "expected a number"),
        ({"sonnet": 3}, "pricing.sonnet", "expected an object"),
        ({"gpt-x": {"input": 1}}, "pricing.gpt-x", "'output' must be given"),
        ([], "pricing", "expected an object"),
    ],
)
def test_a_bad_pricing_section_is_refused(
    tmp_path: Path, pricing: Any, path: str, message: str
) -> None:
    """Every field is bounded and named; an unknown model must say what it costs."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, pricing))
    assert caught.value.path == path
    assert message in str(caught.value)


def test_compat_tracking_reads_the_documents_prices() -> None:
    """The compat layer prices from the raw document; a bad section leaves the table."""
    doc = {"pricing": {"haiku": {"output": 1.0}}}
    assert pricing_of(doc).cost_usd(Usage(output_tokens=MTOK), "haiku") == pytest.approx(1.0)
    assert pricing_of({"pricing": {"haiku": {"output": "x"}}}) is DEFAULT_PRICING
    assert pricing_of(None) == DEFAULT_PRICING


# ---------------------------------------------------------------- 1-hour writes, end to end


def test_the_simulator_reports_one_hour_writes_and_they_cost_more() -> None:
    """A ``"ttl": "1h"`` breakpoint writes 1-hour tokens, which the 1-hour price applies to."""
    system = [{"type": "text", "text": "x" * 8000, "cache_control": {"type": "ephemeral"}}]
    body = {
        "model": "claude-sonnet-4-5",
        "system": system,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "y" * 8000, "cache_control": {"ttl": "1h"}},
                ],
            }
        ],
    }
    cache = PromptCache().account(Prompt.from_body(body), now=0.0)
    api_usage = usage_object(cache, 10)
    assert api_usage["cache_creation"] == {
        "ephemeral_5m_input_tokens": 2000,
        "ephemeral_1h_input_tokens": 2000,
    }
    usage = Usage.from_api(api_usage)
    streamed: dict[str, int] = {}
    merge_usage(streamed, api_usage)
    assert usage_from_counts(streamed) == usage
    # 2000 × 3.75 + 2000 × 6 + 10 × 15 (plus the few plain input tokens at 3)
    plain = usage.input_tokens * 3.0
    assert cost_usd(usage, "claude-sonnet-4-5") == pytest.approx(
        (2000 * 3.75 + 2000 * 6.0 + 10 * 15.0 + plain) / MTOK
    )


def reply(usage: dict[str, Any]) -> httpx.MockTransport:
    """A Messages API that answers every request with ``usage``."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "msg_p",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "done"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
        )

    return httpx.MockTransport(handler)


USAGE = {
    "input_tokens": 1000,
    "output_tokens": 1000,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000},
}


def priced(config: Config, pricing: dict[str, dict[str, float]]) -> Config:
    """``config`` with a ``pricing`` section."""
    return dataclasses.replace(config, pricing=pricing)


async def test_two_engines_in_one_process_keep_their_own_prices(
    anyio_backend: str, tmp_path: Path
) -> None:
    """Steps, metrics and budgets of each engine use its config's prices, nothing global."""
    base = make_config()
    negotiated = priced(base, {"claude-sonnet-4-5": {"input": 1.0, "output": 1.0}})
    results = []
    for config, folder in ((negotiated, tmp_path / "n"), (base, tmp_path / "t")):
        async with open_engine(
            config, backend=BACKEND, transport=reply(USAGE), metrics=folder
        ) as engine:
            results.append(await engine.run_agent("worker", "go"))
    cheap, table = results
    # negotiated: 1000×1 + 1000×1 + 1000 one-hour writes at the table's 6
    assert cheap.cost_usd == pytest.approx((1000 + 1000 + 6000) / MTOK)
    # table: 1000×3 + 1000×15 + 1000×6 (1-hour writes, not 3.75)
    assert table.cost_usd == pytest.approx((3000 + 15000 + 6000) / MTOK)
    assert cheap.usage.cache_creation_1h_input_tokens == 1000
    assert cheap.to_dict()["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] == 1000
    (record,) = read_records(tmp_path / "n")
    assert record["cost_usd"] == pytest.approx(cheap.cost_usd)


async def test_a_budget_holds_at_the_negotiated_rate(anyio_backend: str) -> None:
    """One run cap: the call fits at a cheap negotiated rate and is refused at a dear one."""
    base = make_config()
    body_bound = 0.1  # USD: 256 output tokens at $999/MTok alone are $0.26
    cheap = priced(base, {"claude-sonnet-4-5": {"input": 0.0, "output": 0.0}})
    dear = priced(base, {"claude-sonnet-4-5": {"output": 999.0, "input": 999.0}})
    outcomes = []
    for config in (cheap, dear):
        async with open_engine(
            config, backend=BACKEND, transport=reply(USAGE), metrics=False
        ) as engine:
            result = await engine.run_agent("worker", "go", budget_usd=body_bound)
        outcomes.append((result.status, result.error_type))
    assert outcomes[0] == ("succeeded", None)
    assert outcomes[1] == ("failed", "budget_exceeded")
