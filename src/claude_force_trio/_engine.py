"""The engine: shared resources, and the three ways to use them (one agent, many, a workflow).

Data flows one way: the engine builds a :class:`~claude_force_trio._step.Step` for each thing
to run and, for a workflow, hands a ``WorkflowRun`` a factory of them; the run schedules, the
step lives its life, and neither calls back into the engine. What the engine holds
(``_resources``) lives as long as it does. With a journal each step's result is durable before
it counts as done, so :meth:`Engine.resume_workflow` can finish a run killed at any moment.
All of it is anyio: the same engine runs under ``trio.run`` and ``asyncio.run``.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ._api._redact import Redactor
from ._approval import ApprovalCallback
from ._backend import BackendChoice
from ._config import AgentConfig, Config, StepConfig, WorkflowConfig
from ._errors import UnknownAgentError, UnknownWorkflowError
from ._events import Emitter, Hook
from ._journalling import JournalledRun
from ._many import run_all
from ._options import RunOptions, timeout_or
from ._prompts import DependencyOutput
from ._public import publish
from ._reply_stream import RestartCallback, TextCallback
from ._resources import EngineParts, JournalChoice, MetricsChoice, open_parts
from ._results import StepResult, WorkflowResult
from ._resume import RunPlan, load_resumable
from ._run import StopSignal, admission_bound
from ._run_budget import run_budget
from ._step import Step, StepServices, StepSpec
from ._text import check_text
from ._workflow_exec import execute_plan

if TYPE_CHECKING:
    import httpx

    from .simulator import SimulatorConfig

__all__ = ["Engine", "open_engine"]


class Engine:
    """Runs agents against the Messages API. Create it with :func:`open_engine`.

    Attributes:
        config: the loaded configuration.
        backend: where requests go.
        hooks: called with every :class:`~claude_force_trio.Event` (append to add one).
        resilience: every request's retries, breakers and limiter (``.statistics()`` of each).
        response_cache: the response cache (always present: its policy says whether it is used).
        memory: agent memory (``None`` when it is off).
        toolset: every agent's tools; ``toolset.warnings``: what is not offered, and why.
        journal: the run journal of every workflow run and ``run_many`` (``None`` when off).
        batches: the Message Batches layer in batch mode (``docs/batches.md``), else ``None``.
    """

    def __init__(self, config: Config, parts: EngineParts, *, prompt_cache: bool = True) -> None:
        self.config = config
        self.journal = parts.journal
        self.toolset = parts.toolset
        self.backend = parts.backend
        self.hooks = parts.hooks
        self.resilience = parts.calls.resilience
        self.response_cache = parts.calls.response_cache
        self.memory = parts.memory
        self.prompt_cache = prompt_cache
        self._base_url = parts.calls.base_url
        self.batches = parts.calls.batches
        self._max_active = None if self.batches else admission_bound(self.max_concurrency)
        # What tools' failures say is scrubbed of the key, like every server-provided text.
        redact = Redactor(parts.backend.api_key)
        lent = (parts.calls.top, config.defaults, prompt_cache, parts.memory, config.memory)
        self._services = StepServices(*lent, redact=redact, pricing=parts.calls.pricing)

    @property
    def base_url(self) -> str:
        """The URL requests go to (the embedded simulator's, when it is in use)."""
        return self._base_url

    @property
    def max_concurrency(self) -> int:
        """The most requests that may be in flight at once (the adaptive limit's ceiling)."""
        return self.resilience.limiter.max_limit

    def _emitter(self, extra: Sequence[Hook]) -> Emitter:
        return Emitter(self.hooks, tuple(extra))

    def agent(self, name: str, path: str = "agent") -> AgentConfig:
        """The agent called ``name``; a :class:`ConfigError` naming ``path`` if there is none."""
        try:
            return self.config.agents[name]
        except KeyError:
            raise UnknownAgentError(path, name, self.config.agents) from None

    def workflow(self, name: str) -> WorkflowConfig:
        """The workflow called ``name``; a :class:`ConfigError` if there is none."""
        try:
            return self.config.workflows[name]
        except KeyError:
            raise UnknownWorkflowError("workflow", name, self.config.workflows) from None

    def _step(self, agent: AgentConfig, run: tuple[str, Emitter], **fields: Any) -> Step:
        """A step of ``agent`` with its tools and output schema (a step's own wins)."""
        if fields.get("output_schema") is None:
            fields["output_schema"] = agent.output_schema
        spec = StepSpec(agent=agent, tools=self.toolset.for_agent(agent), **fields)
        return Step(self._services, spec, run_id=run[0], emit=run[1])

    # -- one agent --------------------------------------------------------------------

    async def run_agent(
        self,
        agent: str,
        task: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout_s: float | None = None,
        on_text: TextCallback | None = None,
        on_restart: RestartCallback | None = None,
        hooks: Sequence[Hook] = (),
        budget_usd: float | None = None,
    ) -> StepResult:
        """Run one agent on one task and return its result (never raises for API errors).

        Streamed with ``on_text``: the chunks after the last ``on_restart`` call
        joined are exactly ``result.output`` (a cached answer comes as one chunk).

        Args:
            agent: the agent's name in the config.
            task: what to do.
            model: override the model (alias or id).
            max_tokens: override ``max_tokens``.
            temperature: override the temperature.
            timeout_s: this call's deadline (default ``performance.step_timeout_s``).
            on_text: stream the reply, calling this with each text chunk as it arrives.
            on_restart: called with the next attempt's number (2, 3, …) when a
                failed attempt had delivered text, now void; without it a retried
                stream repeats: partial text, then the whole reply.
            hooks: extra hooks for this call only.
            budget_usd: the most this run may spend (``budget.per_run_usd``; :meth:`run_workflow`).

        Raises:
            ConfigError: unknown agent, empty task, or one that is not UTF-8 text.
            ValueError: ``timeout_s`` or ``budget_usd`` is zero, negative or NaN.
        """
        step = self._step(
            self.agent(agent),
            (uuid.uuid4().hex, self._emitter(hooks)),
            step_id=agent,
            task=check_text(task, "task"),
            timeout_s=timeout_or(timeout_s, "timeout_s", self.config.performance.step_timeout_s),
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            on_text=on_text,
            on_restart=on_restart,
            budget=run_budget(self.config.budget, budget_usd, None),
        )
        return await step.run()

    # -- many agents ------------------------------------------------------------------

    async def run_many(
        self,
        jobs: Iterable[tuple[str, str]],
        *,
        hooks: Sequence[Hook] = (),
        budget_usd: float | None = None,
    ) -> list[StepResult]:
        """Run ``(agent, task)`` pairs concurrently; results come back in input order.

        Journalled (with a journal) as kind ``many``; ``budget_usd`` caps all the jobs
        together (default ``budget.per_run_usd``).

        Raises:
            ConfigError: an unknown agent or a task that is not UTF-8 text, naming
                the job (``jobs[3].task``), before anything is sent.
            JournalWriteError: the journal could not be written (the run stopped).
        """
        run = (uuid.uuid4().hex, self._emitter(hooks))
        timeout = self.config.performance.step_timeout_s
        budget = run_budget(self.config.budget, budget_usd, None)
        steps = [
            self._step(
                self.agent(agent, f"jobs[{index}].agent"),
                run,
                step_id=f"jobs[{index}]",
                task=check_text(task, f"jobs[{index}].task"),
                timeout_s=timeout,
                budget=budget,
            )
            for index, (agent, task) in enumerate(jobs)
        ]
        only_calls = self._max_active is not None and not any(step.tools for step in steps)
        max_active = self.max_concurrency if only_calls else self._max_active  # see _many
        return await run_all(steps, JournalledRun(self.journal, run[0]), max_active=max_active)

    # -- a workflow -------------------------------------------------------------------

    async def run_workflow(
        self,
        name: str,
        task: str | None = None,
        *,
        sequential: bool | None = None,
        keep_going: bool | None = None,
        timeout_s: float | None = None,
        step_timeout_s: float | None = None,
        stop: StopSignal | None = None,
        hooks: Sequence[Hook] = (),
        on_approval: ApprovalCallback | None = None,
        budget_usd: float | None = None,
    ) -> WorkflowResult:
        """Run a workflow as a DAG and return every step's result.

        With a journal each step's result is durable before its dependents start.

        Args:
            name: the workflow's name in the config.
            task: a task for the whole run, given to every step before its own.
            sequential: one step at a time in topological order (default: the
                inverse of ``features.parallel_workflows_enabled``).
            keep_going: let independent branches finish after a failure (default:
                the workflow's ``on_failure == "continue"``).
            timeout_s: deadline for the whole run (default: the workflow's, else
                ``performance.workflow_timeout_s``; ``math.inf`` for none).
            step_timeout_s: deadline for steps that set none of their own.
            stop: set it to stop the run early; the result then says ``cancelled``.
                An ``anyio.Event`` (or a ``trio.Event`` under trio).
            hooks: extra hooks for this run only.
            on_approval: decides a gated step (``"approval": true``) that has no
                journalled decision: ``await on_approval(ApprovalRequest)`` answers
                ``True``/``False`` or a decision; without it the step waits and the
                run ends ``waiting_approval`` (see docs/runs.md).
            budget_usd: the most the run may spend (default ``per_workflow_usd`` for
                it, else ``per_run_usd``); a call whose worst case does not fit is
                not sent: its step fails ``budget_exceeded`` (docs/budgets.md).

        Raises:
            ConfigError: unknown workflow, an invalid graph, a task that is not
                UTF-8 text, or a step with no task at all.
            ValueError: a timeout or ``budget_usd`` is zero, negative or NaN.
            JournalWriteError: the journal could not be written (the run stopped).
        """
        workflow = self.workflow(name)
        if task is not None:
            check_text(task, "task")
        run_task = task if task is not None else workflow.task
        options = RunOptions(
            sequential, keep_going, timeout_s, step_timeout_s, stop, hooks, on_approval, budget_usd
        )
        return await self._execute(RunPlan(uuid.uuid4().hex, workflow, run_task), options)

    async def resume_workflow(
        self,
        run_id: str,
        *,
        force: bool = False,
        sequential: bool | None = None,
        keep_going: bool | None = None,
        timeout_s: float | None = None,
        step_timeout_s: float | None = None,
        stop: StopSignal | None = None,
        hooks: Sequence[Hook] = (),
        on_approval: ApprovalCallback | None = None,
        budget_usd: float | None = None,
    ) -> WorkflowResult:
        """Finish a journalled workflow run: run again only what did not succeed.

        Steps journalled ``succeeded`` are not run (no call, whatever the cache
        settings): their output and data feed their dependents, their results say
        ``resumed``. Every other step runs again; the run keeps its id.

        Args:
            run_id: the run's id, or a unique prefix of it (6 characters or more).
            force: resume even though the config or agent files changed since
                the run started (its successes are replayed all the same).
            sequential: as for :meth:`run_workflow`, like ``keep_going``,
                ``timeout_s``, ``step_timeout_s``, ``stop``, ``hooks``,
                ``on_approval`` and ``budget_usd`` (whose cap starts with what the
                replayed steps cost). A step that waited for approval runs again
                through its gate, which finds the decision journalled since.

        Raises:
            ConfigError: no journal is open, or naming the run: unknown, not a
                workflow run, or (unless ``force``) its config changed since.
            JournalWriteError: the journal could not be written (the run stopped).
        """
        plan = await load_resumable(self.journal, self.config, run_id, force=force)
        options = RunOptions(
            sequential, keep_going, timeout_s, step_timeout_s, stop, hooks, on_approval, budget_usd
        )
        return await self._execute(plan, options)

    async def _execute(self, plan: RunPlan, options: RunOptions) -> WorkflowResult:
        """Run ``plan`` (its ``done`` steps already finished), journalled if the journal is on."""
        emitter = self._emitter(options.hooks)
        spent = sum(result.cost_usd or 0.0 for result in plan.done.values())
        budget = run_budget(self.config.budget, options.budget_usd, plan.workflow.name, spent)

        def build(step: StepConfig, inputs: Sequence[DependencyOutput], timeout_s: float) -> Step:
            return self._step(
                self.agent(step.agent, f"{step.path}.agent"),
                (plan.run_id, emitter),
                step_id=step.id,
                task=step.task,
                timeout_s=timeout_s,
                workflow_task=plan.task,
                inputs=inputs,
                output_schema=step.output_schema,
                budget=budget,
            )

        parts = (self.config, self.journal, emitter, build)
        return await execute_plan(plan, options, *parts, max_active=self._max_active)


@asynccontextmanager
async def open_engine(
    config: Config,
    *,
    backend: BackendChoice | None = None,
    hooks: Sequence[Hook] = (),
    max_concurrency: int | None = None,
    prompt_cache: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    simulator: SimulatorConfig | None = None,
    rng: random.Random | None = None,
    cache: bool = True,
    memory: bool | None = None,
    tools: Iterable[object] = (),
    workspace: str | os.PathLike[str] | None = None,
    journal: JournalChoice = None,
    metrics: MetricsChoice = True,
    mode: str = "live",
) -> AsyncIterator[Engine]:
    """Open an engine: one HTTP pool, the call stack, cache, memory and tools; closed on exit.

    Args:
        config: a loaded :class:`~claude_force_trio.Config`.
        backend: a :class:`~claude_force_trio.Backend`, ``"simulator"`` (the
            embedded offline simulator), ``"api"`` (a key required), or ``None``/
            ``"env"``: ``ANTHROPIC_BASE_URL``, else the API when a key is set, else a
            ``ConfigError`` — the library never answers with the simulator unasked.
        hooks: called with every event.
        max_concurrency: the most requests in flight, and the pool's size (default
            ``performance.max_concurrent_agents``); the adaptive limit's ceiling. Twice as
            many steps (and 16 more) are under way at once; more wait, not yet started.
        prompt_cache: mark agent definitions with ``cache_control``.
        transport: an httpx transport (``httpx.MockTransport`` in tests): requests
            never leave the process.
        simulator: a ``SimulatorConfig`` for the embedded simulator.
        rng: the retry jitter's source; seed one for reproducible delays in tests.
        cache: ``False`` is ``--no-cache`` (neither read nor written); else the config
            decides (``cache.enabled``, per-agent ``cache``, ``exclude_agents``…).
        memory: agent memory on or off (default ``memory.enabled``), in ``$CFT_HOME/memory``.
        tools: library tools agents may name: functions (sync or async) or ``Tool`` objects.
        workspace: the folder ``read_file``, ``list_files`` and ``search_text`` may read;
            without one they are not offered (see ``engine.toolset.warnings``).
        journal: the run journal: ``None``/``False`` for none (the default), ``True`` for
            ``$CFT_HOME/runs/journal.db``, a path, or an open ``RedisJournal``.
        metrics: record each call (with ``config.project_key``) in ``$CFT_HOME/metrics``
            (``True``), nowhere (``False``) or a folder; a hook flushed on close.
        mode: ``"live"`` or ``"batch"``: through Message Batches, half price (docs/batches.md).

    Raises:
        ConfigError: no backend can be chosen, ``max_concurrency`` is below 1, an
            unknown tool, or a bad ``tools`` entry or ``workspace`` (an MCP server
            that does not start fails only its agents' steps: ``toolset.warnings``).
    """
    parts = open_parts(
        config,
        backend,
        list(hooks),
        max_concurrency=max_concurrency,
        transport=transport,
        simulator=simulator,
        rng=rng,
        cache=cache,
        memory=memory,
        tools=tools,
        workspace=workspace,
        journal=journal,
        metrics=metrics,
        mode=mode,
    )
    async with parts as opened:
        yield Engine(config, opened, prompt_cache=prompt_cache)


publish(globals())
