"""The engine: shared resources, and the three ways to use them (one agent, many, a workflow).

Data flows one way: the engine builds a :class:`~claude_force_trio._step.Step`
for each thing to run and, for a workflow, hands a
:class:`~claude_force_trio._run.WorkflowRun` a factory of them; the run
schedules, the step lives its life, and neither calls back into the engine.
What the engine owns lives as long as it does and is shared by every step:

* **the call stack** (``_stack``), each layer wrapping the next: recording
  (one ``CallFinished`` per call) → response cache (single-flight, store) →
  resilience (retries, breaker per (base URL, model), the adaptive limit on
  requests in flight) → the HTTP client;
* agent memory, the hooks every event goes to, and the toolset (every
  agent's tools; the MCP servers they use run until the engine closes).

The limit on requests in flight never exceeds ``max_concurrency`` and the
HTTP pool has exactly that many connections; a step holds a slot only while
one of its attempts is in flight, never while it waits to retry. Everything
here is anyio: the same engine runs under ``trio.run`` and ``asyncio.run``.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from ._api._redact import Redactor
from ._backend import Backend, BackendChoice, choose_backend
from ._config import AgentConfig, Config, StepConfig, WorkflowConfig
from ._dag import build_graph
from ._errors import ConfigError, UnknownAgentError, UnknownWorkflowError
from ._events import Emitter, Hook
from ._prompts import DependencyOutput
from ._public import publish
from ._reply_stream import RestartCallback, TextCallback
from ._results import StepResult, WorkflowResult
from ._run import StopSignal, WorkflowRun, check_timeout
from ._stack import TRANSPORT_URL, CallStack, open_call_stack
from ._step import Step, StepServices, StepSpec
from ._text import check_text
from ._tools._registry import Toolset, open_toolset

if TYPE_CHECKING:
    import httpx

    from ._memory import MemoryStore
    from .simulator import SimulatorConfig

__all__ = ["Engine", "open_engine"]


class Engine:
    """Runs agents against the Messages API. Create it with :func:`open_engine`.

    Attributes:
        config: the loaded configuration.
        backend: where requests go.
        hooks: called with every :class:`~claude_force_trio.Event` (append to add one).
        resilience: the retry policy, circuit breakers and adaptive limiter every
            request goes through; ``resilience.breakers.statistics()`` and
            ``resilience.limiter.statistics()`` are snapshots for dashboards.
        response_cache: the response cache (always present: its policy says whether it is used).
        memory: agent memory (``None`` when it is off).
        toolset: every agent's tools; ``toolset.warnings`` says what is not offered, and why.
    """

    def __init__(
        self,
        config: Config,
        *,
        backend: Backend,
        calls: CallStack,
        hooks: list[Hook],
        prompt_cache: bool = True,
        memory: MemoryStore | None = None,
        toolset: Toolset | None = None,
    ) -> None:
        self.config = config
        self.toolset = toolset or Toolset()
        self.backend = backend
        self.hooks = hooks
        self.resilience = calls.resilience
        self.response_cache = calls.response_cache
        self.memory = memory
        self.prompt_cache = prompt_cache
        self._base_url = calls.base_url
        # What tools' failures say is scrubbed of the key, like every server-provided text.
        redact = Redactor(backend.api_key)
        self._services = StepServices(
            calls.top, config.defaults, prompt_cache, memory, config.memory, redact=redact
        )

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

    def _timeout(self, value: float | None, name: str, default: float) -> float:
        return default if value is None else check_timeout(value, name)

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
    ) -> StepResult:
        """Run one agent on one task and return its result (never raises for API errors).

        With ``on_text`` the reply is streamed; for a successful result the chunks
        after the last ``on_restart`` call joined are exactly ``result.output``
        (an answer from the cache, or from a server that would not stream, comes
        as one chunk).

        Args:
            agent: the agent's name in the config.
            task: what to do.
            model: override the model (alias or id).
            max_tokens: override ``max_tokens``.
            temperature: override the temperature.
            timeout_s: this call's deadline (default ``performance.step_timeout_s``).
            on_text: stream the reply, calling this with each text chunk as it arrives.
            on_restart: called with the next attempt's number (2, 3, …) before it
                is sent, when a failed attempt had delivered text, which is now
                void (its ``StepRetrying`` event reached the hooks first). Without
                it a retried stream repeats: partial text, then the whole reply.
            hooks: extra hooks for this call only.

        Raises:
            ConfigError: unknown agent, empty task, or one that is not UTF-8 text.
            ValueError: ``timeout_s`` is zero, negative or NaN.
        """
        step = self._step(
            self.agent(agent),
            (uuid.uuid4().hex, self._emitter(hooks)),
            step_id=agent,
            task=check_text(task, "task"),
            timeout_s=self._timeout(timeout_s, "timeout_s", self.config.performance.step_timeout_s),
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            on_text=on_text,
            on_restart=on_restart,
        )
        return await step.run()

    # -- many agents ------------------------------------------------------------------

    async def run_many(
        self, jobs: Iterable[tuple[str, str]], *, hooks: Sequence[Hook] = ()
    ) -> list[StepResult]:
        """Run ``(agent, task)`` pairs concurrently; results come back in input order.

        Raises:
            ConfigError: an unknown agent or a task that is not UTF-8 text, naming
                the job (``jobs[3].task``), before anything is sent.
        """
        run = (uuid.uuid4().hex, self._emitter(hooks))
        timeout = self.config.performance.step_timeout_s
        steps = [
            self._step(
                self.agent(agent, f"jobs[{index}].agent"),
                run,
                step_id=agent,
                task=check_text(task, f"jobs[{index}].task"),
                timeout_s=timeout,
            )
            for index, (agent, task) in enumerate(jobs)
        ]
        results: list[StepResult | None] = [None] * len(steps)

        async def one(index: int, step: Step) -> None:
            results[index] = await step.run()

        async with anyio.create_task_group() as group:
            for index, step in enumerate(steps):
                group.start_soon(one, index, step)
        return [result for result in results if result is not None]

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
    ) -> WorkflowResult:
        """Run a workflow as a DAG and return every step's result.

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

        Raises:
            ConfigError: unknown workflow, an invalid graph, a task that is not
                UTF-8 text, or a step with no task at all.
            ValueError: a timeout is zero, negative or NaN.
        """
        workflow = self.workflow(name)
        if task is not None:
            check_text(task, "task")
        run_task = task if task is not None else workflow.task
        if not run_task:
            for step in workflow.steps:
                if not step.task:
                    raise ConfigError(
                        f"{step.path or workflow.path}.task",
                        "a task is required: set one on the step, give the workflow a task, "
                        "or pass one to the run (--task)",
                    )
        performance = self.config.performance
        deadline = self._timeout(
            timeout_s, "timeout_s", workflow.timeout_s or performance.workflow_timeout_s
        )
        default_step_timeout = self._timeout(
            step_timeout_s, "step_timeout_s", performance.step_timeout_s
        )
        run_id = uuid.uuid4().hex
        emitter = self._emitter(hooks)

        def make_step(step: StepConfig, inputs: Sequence[DependencyOutput]) -> Step:
            return self._step(
                self.agent(step.agent, f"{step.path}.agent"),
                (run_id, emitter),
                step_id=step.id,
                task=step.task,
                timeout_s=default_step_timeout if step.timeout_s is None else step.timeout_s,
                workflow_task=run_task,
                inputs=inputs,
                output_schema=step.output_schema,
            )

        run = WorkflowRun(
            workflow,
            build_graph(workflow),
            make_step,
            run_id=run_id,
            emit=emitter,
            sequential=(
                not self.config.features.parallel_workflows_enabled
                if sequential is None
                else sequential
            ),
            keep_going=workflow.on_failure == "continue" if keep_going is None else keep_going,
        )
        return await run.execute(deadline, stop)


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
) -> AsyncIterator[Engine]:
    """Open an engine: one HTTP pool, the call stack, cache, memory and tools; closed on exit.

    Args:
        config: a loaded :class:`~claude_force_trio.Config`.
        backend: where requests go: a :class:`~claude_force_trio.Backend`,
            ``"simulator"`` (the embedded offline simulator), ``"api"`` (a key
            required), or ``None``/``"env"``: ``ANTHROPIC_BASE_URL``, else the API
            when ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) is set, else a
            :class:`~claude_force_trio.ConfigError` naming these three ways out —
            the library never answers with the simulator unasked.
        hooks: called with every event.
        max_concurrency: the most requests in flight at once (default
            ``performance.max_concurrent_agents``); the HTTP pool gets as many
            connections. The adaptive limit starts here, halves on 429s and
            grows back to it.
        prompt_cache: mark agent definitions with ``cache_control``.
        transport: an httpx transport (``httpx.MockTransport`` in tests); requests
            then never leave the process, and ``backend`` defaults to a placeholder.
        simulator: a ``SimulatorConfig`` for the embedded simulator.
        rng: the retry jitter's source; seed one for reproducible delays in tests.
        cache: ``False`` is ``--no-cache``: the response cache is neither read nor
            written. Otherwise the config decides (``cache.enabled``,
            ``features.cache_enabled``, per-agent ``cache``, ``exclude_agents``).
        memory: agent memory on or off (default: the config's ``memory.enabled``);
            stored in ``$CFT_HOME/memory``.
        tools: library tools agents may name: functions (sync or async) or ``Tool`` objects.
        workspace: the folder ``read_file``, ``list_files`` and ``search_text`` may
            read; without one they are not offered (see ``engine.toolset.warnings``).

    Raises:
        ConfigError: no backend can be chosen, ``max_concurrency`` is below 1, an
            unknown tool (``agents.NAME.tools[i]``), a bad ``tools`` entry or
            ``workspace``, or an MCP server that did not start.
    """
    if transport is not None and backend is None:
        backend = Backend.url(TRANSPORT_URL)
    chosen = choose_backend(backend, config.api)
    limit = config.performance.max_concurrent_agents if max_concurrency is None else max_concurrency
    if limit < 1:
        raise ConfigError("--max-concurrency", f"must be at least 1, got {limit}")
    engine_hooks = list(hooks)
    async with AsyncExitStack() as resources:
        toolset = await resources.enter_async_context(
            open_toolset(config, library=tools, workspace=workspace)
        )
        calls = await resources.enter_async_context(
            open_call_stack(
                config,
                chosen,
                Emitter(engine_hooks),
                max_concurrency=limit,
                transport=transport,
                simulator=simulator,
                rng=rng,
                no_cache=not cache,
            )
        )
        store = None
        if config.memory.enabled if memory is None else memory:
            from ._memory import MEMORY_FILE, open_memory
            from ._paths import state_home

            store = await resources.enter_async_context(
                open_memory(state_home() / "memory" / MEMORY_FILE)
            )
        yield Engine(
            config,
            backend=chosen,
            calls=calls,
            hooks=engine_hooks,
            prompt_cache=prompt_cache,
            memory=store,
            toolset=toolset,
        )


publish(globals())
