"""What a step is given: :class:`StepServices` (lent by the engine) and :class:`StepSpec`.

They live apart from :mod:`._step` so that one holds the step's life alone;
the engine builds both and imports them from ``_step``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._api._redact import Redactor
from ._pricing import DEFAULT_PRICING, Pricing
from ._prompts import DependencyOutput, system_blocks
from ._tools import ToolBox

if TYPE_CHECKING:
    from ._call import Layer
    from ._config import AgentConfig, Defaults, MemoryConfig
    from ._memory import MemoryStore
    from ._reply_stream import RestartCallback, TextCallback
    from ._run_budget import RunBudget
    from ._tool_round import Redact

__all__ = ["StepServices", "StepSpec"]


@dataclass(frozen=True, slots=True)
class StepServices:
    """What the engine lends every step: shared by all the steps of an engine.

    Attributes:
        caller: the top of the call stack.
        defaults: the config's request defaults.
        prompt_cache: mark the system prefix for the API's prompt cache.
        memory: agent memory, or ``None`` when it is off.
        memory_settings: how much memory context a prompt may carry.
        systems: each agent's system blocks, built on first use (they never change).
        redact: scrubs what tools' failures say before the model, a record or
            an event sees it (the engine passes the one that knows the API key).
        pricing: the prices steps' calls are costed at (the config's
            ``pricing`` over the dated table).
    """

    caller: Layer
    defaults: Defaults
    prompt_cache: bool
    memory: MemoryStore | None
    memory_settings: MemoryConfig
    systems: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    redact: Redact = field(default_factory=lambda: Redactor(None))
    pricing: Pricing = DEFAULT_PRICING

    def system(self, agent: AgentConfig) -> list[dict[str, Any]]:
        """The system blocks of ``agent`` (definition, contract), built once per engine."""
        blocks = self.systems.get(agent.name)
        if blocks is None:
            blocks = self.systems[agent.name] = system_blocks(agent, prompt_cache=self.prompt_cache)
        return blocks


@dataclass(frozen=True, slots=True)
class StepSpec:
    """What one step is asked to do.

    Attributes:
        step_id: the step's id (the agent's name for a single run).
        agent: the agent that runs it.
        task: the step's own task.
        timeout_s: the step's deadline, from its first request.
        workflow_task: the task of the whole run, shown above the step's.
        inputs: its dependencies' outputs, in config order.
        model: a model overriding the agent's.
        max_tokens: an output limit overriding the agent's.
        temperature: a temperature overriding the agent's.
        on_text: streams the reply.
        on_restart: told when streamed text belonged to a failed attempt.
        tools: the tools the agent may use in this step.
        output_schema: the JSON Schema the final answer must satisfy (the
            step's schema over the agent's), or ``None``.
        budget: the run's cap each of its calls reserves under, or ``None``.
    """

    step_id: str
    agent: AgentConfig
    task: str | None
    timeout_s: float
    workflow_task: str | None = None
    inputs: Sequence[DependencyOutput] = ()
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    on_text: TextCallback | None = None
    on_restart: RestartCallback | None = None
    tools: ToolBox = field(default_factory=ToolBox)
    output_schema: Mapping[str, Any] | None = None
    budget: RunBudget | None = None
