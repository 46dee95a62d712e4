"""``AgentOrchestrator``: Claude Force's API on top of the engine.

Why: existing Claude Force code (``orchestrator.run_agent(...)``,
``run_workflow(...)`` returning ``AgentResult`` lists) should keep working when
it switches imports, and gain the eager DAG scheduler, the simulator and the
correct cost accounting for free.

The sync methods (``execute_agent``, ``execute_workflow`` and the seed's
``run_agent``/``run_workflow``) each run a short event loop of their own; the
``*_async`` methods run inside the caller's loop, trio or asyncio. Each call
opens its own engine (one HTTP pool), so an orchestrator holds no open
resources between calls and needs no ``close()``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from .._backend import Backend, resolve_backend
from .._config import Config, load_config
from .._engine import open_engine
from .._public import publish
from .._results import StepResult, WorkflowResult

T = TypeVar("T")

__all__ = ["AgentOrchestrator", "AgentResult"]


@dataclass
class AgentResult:
    """Claude Force's result shape: one agent's outcome.

    Attributes:
        agent_name: the agent that ran.
        success: whether it produced its output.
        output: the reply text ("" on failure).
        metadata: model, token counts, cost, execution time, step id, status.
        errors: error messages, ``None`` on success.
    """

    agent_name: str
    success: bool
    output: str
    metadata: dict[str, Any] = field(default_factory=dict)
    errors: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, as Claude Force's ``AgentResult.to_dict``."""
        return asdict(self)

    @classmethod
    def from_step(cls, step: StepResult) -> AgentResult:
        """Convert an engine :class:`StepResult`."""
        usage = step.usage
        return cls(
            agent_name=step.agent,
            success=step.ok,
            output=step.output or "",
            metadata={
                "step_id": step.id,
                "status": step.status,
                "model": step.model,
                "tokens_used": usage.input_tokens + usage.output_tokens,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cost_usd": step.cost_usd,
                "cached": step.cached,
                "attempts": step.attempts,
                "execution_time_ms": step.elapsed_s * 1000,
            },
            errors=None if step.ok else [step.error or step.status],
        )


class AgentOrchestrator:
    """Claude Force's orchestrator, running on the engine.

    Args:
        config_path: the ``claude.json`` to load.
        api_key: the Anthropic key (default ``ANTHROPIC_API_KEY``).
        anthropic_api_key: the seed's name for ``api_key``.
        simulate: ``True`` for the embedded offline simulator, ``False`` for the
            live API; by default ``ANTHROPIC_BASE_URL`` or the key decide, and with
            neither a run fails (the simulator is never used unasked).
        validate_api_key: raise ``ValueError`` now when there is no key, as
            Claude Force does (default: find out when a run needs one).
        **_ignored: the seed's ``enable_tracking``/``enable_memory`` switches are
            accepted so old call sites keep working.

    Raises:
        ConfigError: the config is missing or invalid.
        ValueError: ``validate_api_key=True`` and no key is set.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] = ".claude/claude.json",
        api_key: str | None = None,
        *,
        anthropic_api_key: str | None = None,
        simulate: bool | None = None,
        validate_api_key: bool = False,
        **_ignored: Any,
    ) -> None:
        self.config_path = Path(config_path)
        self.config: Config = load_config(self.config_path)
        key = api_key or anthropic_api_key
        # A key given here counts as if it were ANTHROPIC_API_KEY; the rules are resolve_backend's.
        self._env = {**os.environ, "ANTHROPIC_API_KEY": key} if key else None
        self._simulate = simulate
        has_key = bool(key or os.environ.get("ANTHROPIC_API_KEY"))
        if validate_api_key and not has_key and not simulate:
            raise ValueError(
                "ANTHROPIC_API_KEY is not set: export it, or pass anthropic_api_key=..."
            )

    @property
    def _backend(self) -> Backend:
        return resolve_backend(self._simulate, api=self.config.api, env=self._env)

    def __repr__(self) -> str:
        return f"AgentOrchestrator(config_path={str(self.config_path)!r})"

    # -- async API: inside the caller's loop (trio or asyncio) ---------------------------------

    async def execute_agent_async(
        self,
        agent_name: str,
        task: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AgentResult:
        """Run one agent on a task; failures come back as ``success=False``."""
        async with open_engine(self.config, backend=self._backend) as engine:
            step = await engine.run_agent(
                agent_name, task, model=model, max_tokens=max_tokens, temperature=temperature
            )
        return AgentResult.from_step(step)

    async def execute_multiple_async(
        self, tasks: Iterable[tuple[str, str] | Mapping[str, str]]
    ) -> list[AgentResult]:
        """Run many ``(agent, task)`` pairs (or ``{"agent", "task"}`` dicts) concurrently."""
        jobs = [
            (job["agent"], job["task"]) if isinstance(job, Mapping) else (job[0], job[1])
            for job in tasks
        ]
        async with open_engine(self.config, backend=self._backend) as engine:
            steps = await engine.run_many(jobs)
        return [AgentResult.from_step(step) for step in steps]

    async def execute_workflow_async(
        self, workflow_name: str, task: str | None = None, **options: Any
    ) -> list[AgentResult]:
        """Run a workflow; results of the steps that ran, in the order they started."""
        result = await self.run_workflow_result_async(workflow_name, task, **options)
        return _agent_results(result)

    async def run_workflow_result_async(
        self, workflow_name: str, task: str | None = None, **options: Any
    ) -> WorkflowResult:
        """Run a workflow and return the engine's full :class:`WorkflowResult`."""
        async with open_engine(self.config, backend=self._backend) as engine:
            return await engine.run_workflow(workflow_name, task, **options)

    # -- sync API: from plain Python ----------------------------------------------

    def execute_agent(self, agent_name: str, task: str, **overrides: Any) -> AgentResult:
        """Sync :meth:`execute_agent_async` (runs its own event loop)."""
        return _run_sync(partial(self.execute_agent_async, agent_name, task, **overrides))

    def execute_multiple(
        self, tasks: Iterable[tuple[str, str] | Mapping[str, str]]
    ) -> list[AgentResult]:
        """Sync :meth:`execute_multiple_async`."""
        return _run_sync(self.execute_multiple_async, list(tasks))

    def execute_workflow(
        self, workflow_name: str, task: str | None = None, **options: Any
    ) -> list[AgentResult]:
        """Sync :meth:`execute_workflow_async`."""
        return _run_sync(partial(self.execute_workflow_async, workflow_name, task, **options))

    # The seed's own names.
    def run_agent(self, agent_name: str, task: str, **overrides: Any) -> AgentResult:
        """Claude Force's ``run_agent`` (seed-only keywords are ignored)."""
        for seed_only in ("workflow_name", "workflow_position"):
            overrides.pop(seed_only, None)
        return self.execute_agent(agent_name, task, **overrides)

    def run_workflow(
        self, workflow_name: str, task: str | None = None, pass_output_to_next: bool = True
    ) -> list[AgentResult]:
        """Claude Force's ``run_workflow``: outputs always flow along the DAG's edges."""
        return self.execute_workflow(workflow_name, task)

    def list_agents(self) -> list[dict[str, Any]]:
        """Agents as Claude Force listed them, sorted by priority."""
        agents = [
            {
                "name": agent.name,
                "file": str(agent.file.relative_to(self.config.root))
                if agent.file.is_relative_to(self.config.root)
                else str(agent.file),
                "domains": list(agent.domains),
                "priority": agent.priority if agent.priority is not None else 3,
            }
            for agent in self.config.agents.values()
        ]
        return sorted(agents, key=lambda agent: agent["priority"])

    def list_workflows(self) -> dict[str, list[str]]:
        """Workflows as lists of agent names, in topological order."""
        from .._dag import build_graph

        listing = {}
        for name, workflow in self.config.workflows.items():
            graph = build_graph(workflow)
            listing[name] = [graph.steps[step_id].agent for step_id in graph.order]
        return listing

    def get_agent_info(self, agent_name: str) -> dict[str, Any]:
        """An agent's settings and the start of its definition."""
        from .._errors import ConfigError

        agent = self.config.agents.get(agent_name)
        if agent is None:
            raise ConfigError("agent", f"unknown agent {agent_name!r}")
        return {
            "name": agent.name,
            "file": str(agent.file),
            "domains": list(agent.domains),
            "priority": agent.priority if agent.priority is not None else 3,
            "model": agent.model or self.config.defaults.model,
            "description": "\n".join(agent.definition.splitlines()[:10]),
        }


def _agent_results(result: WorkflowResult) -> list[AgentResult]:
    by_id = {step.id: step for step in result.steps}
    return [AgentResult.from_step(by_id[step_id]) for step_id in result.execution_order]


def _run_sync(fn: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``fn(*args)`` to completion on a fresh event loop (trio, the reference backend)."""
    return anyio.run(fn, *args, backend="trio")


publish(globals())
