"""``HybridOrchestrator``: Claude Force 1.3's model selection by task complexity, on this engine.

Why: Claude Force users pick Haiku, Sonnet or Opus per call with
``HybridOrchestrator.run_agent`` and check ``estimate_cost`` before they spend.
The same calls, decisions and result shapes work here (the rules live in
:mod:`._hybrid_rules`), with two deliberate differences:

* **Current models.** ``MODELS`` maps each tier through the alias table
  (:func:`~claude_force_trio.resolve_model`), so an auto-selected call goes to
  today's Haiku, Sonnet or Opus rather than to Claude Force's 2024 model ids
  (kept in :data:`CLAUDE_FORCE_MODELS`).
* **Dated prices.** ``estimate_cost`` prices a model from the dated table
  (:data:`~claude_force_trio._pricing.PRICES`). :class:`ModelPricing` keeps
  Claude Force's published constants, which are the real prices of the three
  models Claude Force chose; they price only models the dated table does not
  know (those ids, or any other), by Claude Force's own family rule. Each
  estimate says which source priced it (``price_source``).

As in Claude Force, ``cost_threshold`` warns (a log line) and does not refuse:
asking for approval is the caller's business (Claude Force's CLI prompts).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .._pricing import PRICES_AS_OF, price_for, resolve_model
from .._public import publish
from ._hybrid_rules import Complexity, analyze_task_complexity, estimate_tokens
from .orchestrator import AgentOrchestrator, AgentResult

__all__ = [
    "CLAUDE_FORCE_MODELS",
    "CostEstimate",
    "HybridOrchestrator",
    "ModelPricing",
    "get_hybrid_orchestrator",
]

log = logging.getLogger(__name__)

TIERS = ("haiku", "sonnet", "opus")

#: The model ids Claude Force 1.3.2 sent for each tier (priced by :class:`ModelPricing`).
CLAUDE_FORCE_MODELS: dict[str, str] = {
    "haiku": "claude-3-haiku-20240307",
    "sonnet": "claude-3-5-sonnet-20241022",
    "opus": "claude-opus-4-20250514",
}

DATED_TABLE = f"dated table {PRICES_AS_OF.isoformat()}"
CLAUDE_FORCE_CONSTANTS = "ModelPricing"


@dataclass
class ModelPricing:
    """Claude Force 1.3.2's prices, USD per million tokens, of the models it chose.

    Why kept: code written for Claude Force reads these fields, and they are the
    published prices of :data:`CLAUDE_FORCE_MODELS` (Claude 3 Haiku, Claude 3.5
    Sonnet, Claude Opus 4). :meth:`HybridOrchestrator.estimate_cost` uses them
    only for models the dated price table does not know.
    """

    haiku_input: float = 0.25
    haiku_output: float = 1.25
    sonnet_input: float = 3.00
    sonnet_output: float = 15.00
    opus_input: float = 15.00
    opus_output: float = 75.00


@dataclass
class CostEstimate:
    """What a task is expected to cost on one model, before it runs.

    Attributes:
        model: the model priced.
        estimated_input_tokens: prompt tokens (Claude Force's heuristic).
        estimated_output_tokens: reply tokens, by task complexity.
        estimated_cost: USD.
        breakdown: ``input_cost``, ``output_cost``, ``input_tokens``, ``output_tokens``.
        price_source: which prices were used: the dated table (with its date) or
            ``"ModelPricing"`` (Claude Force's constants, for a model the table
            does not know).
    """

    model: str
    estimated_input_tokens: int
    estimated_output_tokens: int
    estimated_cost: float
    breakdown: dict[str, float]
    price_source: str = DATED_TABLE


class HybridOrchestrator(AgentOrchestrator):
    """An :class:`AgentOrchestrator` that picks the model from the task.

    Haiku for simple template work, Sonnet for reasoning, Opus for critical
    operations (production, deletion, security), decided as Claude Force 1.3 does.

    Args:
        config_path: the ``claude.json`` to load.
        anthropic_api_key: the Anthropic key (default ``ANTHROPIC_API_KEY``).
        auto_select_model: choose the model when ``run_agent`` is given none.
        prefer_cheaper: kept for Claude Force code; it steers no decision there
            either.
        cost_threshold: USD per task above which ``run_agent`` logs a warning.
        **options: passed on to :class:`AgentOrchestrator` (e.g. ``enable_tracking``,
            ``validate_api_key``, ``simulate``).
    """

    #: Agents whose tier decides when a complexity is given that is none of
    #: simple/complex/critical (Claude Force's classification).
    MODEL_STRATEGY: ClassVar[dict[str, list[str]]] = {
        "haiku": ["document-writer-expert", "api-documenter", "deployment-integration-expert"],
        "sonnet": [
            "frontend-architect",
            "backend-architect",
            "database-architect",
            "ai-engineer",
            "prompt-engineer",
            "data-engineer",
            "code-reviewer",
            "security-specialist",
            "bug-investigator",
            "claude-code-expert",
            "devops-architect",
            "google-cloud-expert",
            "qc-automation-expert",
            "ui-components-expert",
            "python-expert",
            "frontend-developer",
        ],
        "opus": [],
    }
    #: Tier → the current model id it means (through the alias table).
    MODELS: ClassVar[dict[str, str]] = {tier: resolve_model(tier) for tier in TIERS}
    _BY_COMPLEXITY: ClassVar[dict[str, str]] = {
        "simple": "haiku",
        "complex": "sonnet",
        "critical": "opus",
    }

    def __init__(
        self,
        config_path: str | os.PathLike[str] = ".claude/claude.json",
        anthropic_api_key: str | None = None,
        auto_select_model: bool = True,
        prefer_cheaper: bool = True,
        cost_threshold: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(config_path, anthropic_api_key, **options)
        self.auto_select_model = auto_select_model
        self.prefer_cheaper = prefer_cheaper
        self.cost_threshold = cost_threshold
        self.pricing = ModelPricing()

    def select_model_for_agent(
        self, agent_name: str, task: str, task_complexity: str = "auto"
    ) -> str:
        """Return the model id for an agent and task.

        Args:
            agent_name: the agent; its tier in ``MODEL_STRATEGY`` decides only for
                an unrecognised ``task_complexity`` (Sonnet if it has none).
            task: the task text, classified when ``task_complexity`` is ``"auto"``.
            task_complexity: ``auto``, ``simple``, ``complex`` or ``critical``.
        """
        complexity = (
            self._analyze_task_complexity(task, agent_name)
            if task_complexity == "auto"
            else task_complexity
        )
        tier = self._BY_COMPLEXITY.get(complexity) or self._agent_tier(agent_name)
        return self.MODELS[tier]

    def _agent_tier(self, agent_name: str) -> str:
        return next(
            (tier for tier, agents in self.MODEL_STRATEGY.items() if agent_name in agents),
            "sonnet",
        )

    def _analyze_task_complexity(self, task: str, agent_name: str) -> Complexity:
        """Classify a task: ``simple``, ``complex`` or ``critical`` (Claude Force's rules).

        Args:
            task: the task text.
            agent_name: accepted for Claude Force's signature; the rules read only the task.
        """
        return analyze_task_complexity(task)

    def estimate_cost(self, task: str, agent_name: str, model: str | None = None) -> CostEstimate:
        """Estimate what running ``task`` would cost, without running it.

        Args:
            task: the task text (its words and complexity set the token counts).
            agent_name: the agent, for the model choice when ``model`` is ``None``.
            model: the model to price; ``None`` picks it as ``run_agent`` would.
        """
        if model is None:
            model = self.select_model_for_agent(agent_name, task)
        input_tokens, output_tokens = estimate_tokens(
            task, self._analyze_task_complexity(task, agent_name)
        )
        (input_price, output_price), source = self._prices(model)
        input_cost = (input_tokens / 1_000_000) * input_price
        output_cost = (output_tokens / 1_000_000) * output_price
        return CostEstimate(
            model=model,
            estimated_input_tokens=input_tokens,
            estimated_output_tokens=output_tokens,
            estimated_cost=input_cost + output_cost,
            breakdown={
                "input_cost": input_cost,
                "output_cost": output_cost,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
            },
            price_source=source,
        )

    def _prices(self, model: str) -> tuple[tuple[float, float], str]:
        """(input, output) USD per MTok of ``model``, and where they came from."""
        dated = price_for(model)
        if dated is not None:
            return (dated.input, dated.output), DATED_TABLE
        # Claude Force's family rule: a name without haiku or sonnet is priced as Opus,
        # the dearest, so an unknown model never looks cheaper than it may be.
        tier = next((t for t in ("haiku", "sonnet") if t in model), "opus")
        prices = (getattr(self.pricing, f"{tier}_input"), getattr(self.pricing, f"{tier}_output"))
        return prices, CLAUDE_FORCE_CONSTANTS

    # Claude Force's own parameter order puts auto_select and estimate_only before
    # workflow_name, unlike its base class; callers passing them by position rely on it.
    def run_agent(  # type: ignore[override]
        self,
        agent_name: str,
        task: str,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        auto_select: bool | None = None,
        estimate_only: bool = False,
        workflow_name: str | None = None,
        workflow_position: int | None = None,
    ) -> AgentResult:
        """Run an agent on the model its task calls for.

        Args:
            agent_name: the agent to run.
            task: the task text.
            model: the model; ``None`` lets auto-selection choose (or, with it off,
                the agent's configured model).
            max_tokens: reply limit (default: the agent's, as ``AgentOrchestrator``).
            temperature: sampling temperature (default: the agent's; not sent when unset).
            auto_select: overrides ``auto_select_model`` for this call.
            estimate_only: return the :class:`CostEstimate` in ``metadata["estimate"]``
                and call nothing.
            workflow_name: passed on to ``AgentOrchestrator.run_agent``.
            workflow_position: passed on to ``AgentOrchestrator.run_agent``.
        """
        should_select = self.auto_select_model if auto_select is None else auto_select
        if should_select and model is None:
            complexity = self._analyze_task_complexity(task, agent_name)
            model = self.select_model_for_agent(agent_name, task, complexity)
            log.info("auto-selected %s for %s (complexity: %s)", model, agent_name, complexity)
        if estimate_only or self.cost_threshold is not None:
            estimate = self.estimate_cost(task, agent_name, model)
            if estimate_only:
                return AgentResult(
                    agent_name=agent_name,
                    success=True,
                    output="Cost estimate only",
                    metadata={"estimate": asdict(estimate), "model": estimate.model},
                    errors=[],
                )
            self._warn_over_threshold(estimate)
        return super().run_agent(
            agent_name,
            task,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            workflow_name=workflow_name,
            workflow_position=workflow_position,
        )

    def _warn_over_threshold(self, estimate: CostEstimate) -> None:
        if self.cost_threshold is not None and estimate.estimated_cost > self.cost_threshold:
            log.warning(
                "estimated cost $%.4f exceeds threshold $%.2f (%s on %s)",
                estimate.estimated_cost,
                self.cost_threshold,
                estimate.model,
                estimate.price_source,
            )

    def get_model_stats(self) -> dict[str, Any]:
        """Executions and cost by model, from the performance tracker.

        Returns Claude Force's shape: ``total_executions``, ``by_model`` (model →
        USD), ``total_cost`` and ``average_cost``; or ``{"error": ...}`` when
        tracking is off.
        """
        tracker = getattr(self, "tracker", None)
        if not tracker:
            return {"error": "Performance tracking not enabled"}
        executions = int(tracker.get_summary().get("total_executions", 0))
        costs = tracker.get_cost_breakdown()
        total = float(costs.get("total", 0.0))
        return {
            "total_executions": executions,
            "by_model": dict(costs.get("by_model", {})),
            "total_cost": total,
            "average_cost": total / executions if executions else 0.0,
        }


def get_hybrid_orchestrator(
    config_path: str | os.PathLike[str] = ".claude/claude.json",
    anthropic_api_key: str | None = None,
    auto_select_model: bool = True,
    prefer_cheaper: bool = True,
    cost_threshold: float | None = None,
) -> HybridOrchestrator:
    """Return a :class:`HybridOrchestrator` (Claude Force's factory).

    Args:
        config_path: the ``claude.json`` to load.
        anthropic_api_key: the Anthropic key (default ``ANTHROPIC_API_KEY``).
        auto_select_model: choose the model when ``run_agent`` is given none.
        prefer_cheaper: kept for Claude Force code.
        cost_threshold: USD per task above which ``run_agent`` warns.
    """
    return HybridOrchestrator(
        config_path=config_path,
        anthropic_api_key=anthropic_api_key,
        auto_select_model=auto_select_model,
        prefer_cheaper=prefer_cheaper,
        cost_threshold=cost_threshold,
    )


publish(globals())
