"""HybridOrchestrator: Claude Force 1.3's model selection by task complexity, on this engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import pytest

from claude_force_trio import resolve_model
from claude_force_trio._pricing import PRICES, PRICES_AS_OF
from claude_force_trio.compat import AgentOrchestrator
from claude_force_trio.compat.hybrid_orchestrator import (
    CLAUDE_FORCE_MODELS,
    CostEstimate,
    HybridOrchestrator,
    ModelPricing,
    get_hybrid_orchestrator,
)
from claude_force_trio.simulator import SimulatorHandle, run_simulator_in_thread

EXAMPLES = Path(__file__).parents[1] / "examples" / ".claude" / "claude.json"
KEY = "fake-key-hybrid-test-SECRET"
LOGGER = "claude_force_trio.compat.hybrid_orchestrator"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no base URL unless a test sets them."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorHandle]:
    """An instant simulator on a thread, with the environment pointing at it."""
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as handle:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", handle.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        yield handle


@pytest.fixture
def hybrid() -> HybridOrchestrator:
    """A HybridOrchestrator over the example project."""
    return HybridOrchestrator(config_path=EXAMPLES)


def sent_models(sim: SimulatorHandle) -> list[str | None]:
    """The model of each request the simulator answered, in order."""
    return [record.model for record in sim.requests if record.path == "/v1/messages"]


# -- pricing and model ids ---------------------------------------------------------------


def test_model_pricing_keeps_claude_force_constants() -> None:
    """ModelPricing's defaults are Claude Force 1.3.2's published numbers."""
    pricing = ModelPricing()
    assert (pricing.haiku_input, pricing.haiku_output) == (0.25, 1.25)
    assert (pricing.sonnet_input, pricing.sonnet_output) == (3.0, 15.0)
    assert (pricing.opus_input, pricing.opus_output) == (15.0, 75.0)


def test_models_are_current_ids_through_the_alias_table() -> None:
    """Each tier means today's model of its family, with a dated price, not the 2024 ids."""
    assert {tier: resolve_model(tier) for tier in ("haiku", "sonnet", "opus")} == (
        HybridOrchestrator.MODELS
    )
    for tier, model in HybridOrchestrator.MODELS.items():
        assert tier in model
        assert model in PRICES
        assert model != CLAUDE_FORCE_MODELS[tier]


# -- complexity rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("Deploy to production", "critical"),
        ("Delete all user data", "critical"),
        ("Run database migration", "critical"),
        ("Security audit for authentication", "critical"),
        ("Drop table from production", "critical"),
        ("Format the code", "simple"),
        ("Generate docs for this function", "simple"),
        ("Create readme", "simple"),
        ("Fix typo in README", "simple"),
        ("Add comments to code", "simple"),
        ("Design the frontend application architecture", "complex"),
        ("Refactor the entire API layer", "complex"),
        ("Build a RAG system with vector database", "complex"),
        ("Build a complex system " * 5000, "complex"),
        ("", "complex"),
        ("   \n\t  ", "complex"),
        ("创建一个中文应用", "complex"),
        ("<script>alert('xss')</script>", "complex"),
        # Long tasks are simple only when they open like a template.
        ("Generate docs " + "x" * 300, "simple"),
        ("Please add comments " + "x" * 300, "complex"),
        # Critical wins over simple.
        ("Format the production config", "critical"),
    ],
)
def test_task_complexity_follows_claude_force_rules(task: str, expected: str) -> None:
    """_analyze_task_complexity gives Claude Force's decision for each kind of task."""
    assert HybridOrchestrator(config_path=EXAMPLES)._analyze_task_complexity(task, "x") == expected


def test_select_model_by_complexity_and_agent(hybrid: HybridOrchestrator) -> None:
    """Complexity picks the tier; an unknown complexity falls back to the agent's tier."""
    models = hybrid.MODELS
    assert hybrid.select_model_for_agent("linter", "Generate documentation") == models["haiku"]
    assert hybrid.select_model_for_agent("linter", "Design the architecture") == models["sonnet"]
    assert hybrid.select_model_for_agent("linter", "Deploy to production") == models["opus"]
    assert hybrid.select_model_for_agent("frontend-architect", "x", "simple") == models["haiku"]
    assert hybrid.select_model_for_agent("api-documenter", "x", "complex") == models["sonnet"]
    assert hybrid.select_model_for_agent("api-documenter", "x", "bogus") == models["haiku"]
    assert hybrid.select_model_for_agent("nobody", "x", "bogus") == models["sonnet"]


# -- cost estimates --------------------------------------------------------------------------


def test_estimate_uses_the_dated_table_for_current_models(hybrid: HybridOrchestrator) -> None:
    """An auto-selected model is priced from the dated table, with Claude Force's token rule."""
    estimate = hybrid.estimate_cost("Format this code", "linter")
    price = PRICES["claude-haiku-4-5"]
    assert estimate.model == "claude-haiku-4-5"
    assert (estimate.estimated_input_tokens, estimate.estimated_output_tokens) == (1503, 500)
    assert estimate.estimated_cost == (1503 / 1e6) * price.input + (500 / 1e6) * price.output
    assert estimate.breakdown["input_tokens"] == 1503
    assert estimate.price_source == f"dated table {PRICES_AS_OF.isoformat()}"


def test_estimate_prices_unknown_models_from_model_pricing(hybrid: HybridOrchestrator) -> None:
    """A model the dated table does not know is priced by ModelPricing, by Claude Force's rule."""
    old_haiku = hybrid.estimate_cost("Format this code", "linter", CLAUDE_FORCE_MODELS["haiku"])
    assert old_haiku.estimated_cost == (1503 / 1e6) * 0.25 + (500 / 1e6) * 1.25
    # Claude Force's Haiku 3 is in the dated table now, at the same published price.
    assert old_haiku.price_source.startswith("dated table")
    old_sonnet = hybrid.estimate_cost("Format this code", "linter", CLAUDE_FORCE_MODELS["sonnet"])
    assert old_sonnet.estimated_cost > old_haiku.estimated_cost
    hybrid.pricing = ModelPricing(opus_input=100.0, opus_output=0.0)
    mystery = hybrid.estimate_cost("Format this code", "linter", "mystery-model")
    assert mystery.estimated_cost == (1503 / 1e6) * 100.0
    # The dated table wins over ModelPricing for a model it knows.
    assert hybrid.estimate_cost("Format this code", "linter", "opus").estimated_cost == (
        (1503 / 1e6) * PRICES["claude-opus-5-5"].input
        + (500 / 1e6) * PRICES["claude-opus-5-5"].output
    )


def test_estimated_output_grows_with_complexity(hybrid: HybridOrchestrator) -> None:
    """Simple, complex and critical tasks expect 500, 2000 and 3000 output tokens."""
    outputs = [
        hybrid.estimate_cost(task, "linter", "sonnet").estimated_output_tokens
        for task in ("Fix typo", "Design a microservices architecture", "Delete the tables")
    ]
    assert outputs == [500, 2000, 3000]


def test_estimates_work_with_the_parent_init_patched() -> None:
    """With AgentOrchestrator.__init__ patched away (as Claude Force's tests do), estimates work."""
    target = "claude_force_trio.compat.hybrid_orchestrator.AgentOrchestrator.__init__"
    with patch(target, return_value=None) as init:
        hybrid = HybridOrchestrator(config_path="missing.json", cost_threshold=1.0)
        estimate = hybrid.estimate_cost("Generate documentation", "api-documenter")
        assert estimate.model == hybrid.MODELS["haiku"]
    init.assert_called_once_with("missing.json", None)
    assert hybrid.cost_threshold == 1.0
    assert isinstance(hybrid.pricing, ModelPricing)


def test_factory_passes_every_setting() -> None:
    """get_hybrid_orchestrator builds a HybridOrchestrator with the settings given."""
    hybrid = get_hybrid_orchestrator(
        config_path=EXAMPLES, auto_select_model=False, prefer_cheaper=False, cost_threshold=5.0
    )
    assert isinstance(hybrid, HybridOrchestrator)
    assert isinstance(hybrid, AgentOrchestrator)
    assert (hybrid.auto_select_model, hybrid.prefer_cheaper, hybrid.cost_threshold) == (
        False,
        False,
        5.0,
    )


# -- running agents ------------------------------------------------------------------------


def test_run_agent_sends_the_auto_selected_model(
    sim: SimulatorHandle, hybrid: HybridOrchestrator
) -> None:
    """Simple, complex and critical tasks reach the API as Haiku, Sonnet and Opus."""
    tasks = ["Format utils.py", "Design a cache layer", "Deploy to production"]
    results = [hybrid.run_agent("code-reviewer", task) for task in tasks]
    assert all(result.success for result in results), [r.errors for r in results]
    expected = [hybrid.MODELS[tier] for tier in ("haiku", "sonnet", "opus")]
    assert sent_models(sim) == expected
    assert [result.metadata["model"] for result in results] == expected
    body = sim.requests[0].body
    assert body is not None
    assert (body["max_tokens"], body.get("temperature", 1.0)) == (4096, 1.0)


def test_run_agent_explicit_or_disabled_selection(
    sim: SimulatorHandle, hybrid: HybridOrchestrator
) -> None:
    """An explicit model wins; with selection off the agent's configured model is used."""
    assert hybrid.run_agent("code-reviewer", "Deploy to production", model="haiku").success
    assert hybrid.run_agent("code-reviewer", "Deploy to prod now", auto_select=False).success
    hybrid.auto_select_model = False
    assert hybrid.run_agent("linter", "Delete the tables").success
    assert sent_models(sim) == ["claude-haiku-4-5", "claude-sonnet-5", "claude-haiku-4-5"]


def test_estimate_only_calls_nothing(sim: SimulatorHandle, hybrid: HybridOrchestrator) -> None:
    """estimate_only returns the estimate as metadata and sends no request."""
    result = hybrid.run_agent("linter", "Format utils.py", estimate_only=True)
    assert (result.success, result.output, result.errors) == (True, "Cost estimate only", [])
    assert result.metadata["model"] == "claude-haiku-4-5"
    assert result.metadata["estimate"]["estimated_output_tokens"] == 500
    assert CostEstimate(**result.metadata["estimate"]).model == "claude-haiku-4-5"
    assert sim.requests == []
    assert KEY not in repr(result)


def test_cost_threshold_warns_and_still_runs(
    sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """Over the threshold, run_agent logs a warning and runs anyway, as Claude Force does."""
    hybrid = HybridOrchestrator(config_path=EXAMPLES, cost_threshold=0.0001)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = hybrid.run_agent("code-reviewer", "Deploy to production")
    assert result.success
    assert sent_models(sim) == ["claude-opus-5-5"]
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert "exceeds threshold $0.00" in record.getMessage()
    assert KEY not in caplog.text
    caplog.clear()
    roomy = HybridOrchestrator(config_path=EXAMPLES, cost_threshold=10.0)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert roomy.run_agent("code-reviewer", "Deploy to production today").success
    assert not [r for r in caplog.records if r.name == LOGGER]


def test_model_stats_without_tracking_say_so() -> None:
    """get_model_stats answers Claude Force's error dict when tracking is off."""
    hybrid = HybridOrchestrator(config_path=EXAMPLES, enable_tracking=False)
    assert hybrid.get_model_stats() == {"error": "Performance tracking not enabled"}
