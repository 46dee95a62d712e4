"""The engine: run one agent, many agents, or a workflow DAG in a trio nursery.

Why a nursery and not waves: a step starts the moment *its own* dependencies
have succeeded, so a slow branch never holds back a fast one. With A (1.0 s)
and B (0.2 s) → C (0.8 s), the run takes 1.0 s, not the 1.8 s a wave scheduler
("run everything ready, wait for all of it") would take.

The engine owns what lives as long as it does (HTTP pool, cache, breakers,
limiter, memory) and runs each step; ``_scheduler.WorkflowRun`` holds one run's
DAG bookkeeping. Every step catches and records its own failure (a ``CFTError``: API errors,
timeouts, an open circuit); only bugs and cancellation escape a nursery. The
engine only *emits* events; the CLI's table, metrics and journals are hooks.

Every request goes through one resilience pipeline (``_resilience``): retries
by the API's rules, a circuit breaker per (base URL, model), and an adaptive
limit on requests in flight shared by every step. The limit never exceeds
``max_concurrency``, and the HTTP pool has exactly that many connections:
httpcore's pool bookkeeping grows with the square of the requests queued inside
it, so requests wait here, not there. A step holds a slot only while one of its
attempts is in flight, never while it waits to retry.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import trio

from ._api._breaker import BreakerKey, BreakerRegistry, BreakerState
from ._api._client import MessagesClient
from ._api._ratelimit import AdaptiveLimiter
from ._api._resilience import Resilience
from ._api._retry import RetryDetails, RetryPolicy
from ._backend import Backend, resolve_backend
from ._config import AgentConfig, Config, WorkflowConfig
from ._dag import build_graph
from ._errors import CFTError, ConfigError
from ._events import (
    BreakerStateChanged,
    ConcurrencyChanged,
    Event,
    Hook,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    emit,
)
from ._pricing import cost_usd
from ._prompts import DependencyOutput, build_request, user_message
from ._reply_stream import ReplyStream, RestartCallback, TextCallback
from ._results import StepResult, WorkflowResult
from ._run import StepProgress, WorkflowRun, now
from ._text import check_text
from ._types import MessageResult

if TYPE_CHECKING:
    from ._cache._policy import ResponseCache
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
    """

    def __init__(
        self,
        config: Config,
        client: MessagesClient,
        *,
        backend: Backend,
        max_concurrency: int,
        hooks: Sequence[Hook] = (),
        prompt_cache: bool = True,
        rng: random.Random | None = None,
        response_cache: ResponseCache | None = None,
        memory: MemoryStore | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.hooks: list[Hook] = list(hooks)
        self.prompt_cache = prompt_cache
        self.response_cache = response_cache
        self.memory = memory
        self._client = client
        self.resilience = Resilience(
            RetryPolicy.from_config(config.retry),
            BreakerRegistry(config.circuit_breaker, on_state_change=self._breaker_changed),
            AdaptiveLimiter(max_concurrency, on_change=self._concurrency_changed),
            rng=rng,
        )

    @property
    def max_concurrency(self) -> int:
        """The most requests that may be in flight at once (the adaptive limit's ceiling)."""
        return self.resilience.limiter.max_limit

    def _breaker_changed(self, key: BreakerKey, old: BreakerState, new: BreakerState) -> None:
        self._emit(BreakerStateChanged(key, old, new, trio.current_time()))

    def _concurrency_changed(self, limit: int, reason: str) -> None:
        self._emit(ConcurrencyChanged(limit, reason, trio.current_time()))

    @property
    def base_url(self) -> str:
        """The URL requests go to (the embedded simulator's, when it is in use)."""
        return self._client.base_url

    def _emit(self, event: Event, extra: Sequence[Hook] = ()) -> None:
        emit(self.hooks, event)
        if extra:
            emit(extra, event)

    def _agent(self, name: str, path: str = "agent") -> AgentConfig:
        try:
            return self.config.agents[name]
        except KeyError:
            known = ", ".join(sorted(self.config.agents)) or "none configured"
            raise ConfigError(path, f"unknown agent {name!r} (known: {known})") from None

    def workflow(self, name: str) -> WorkflowConfig:
        """The workflow called ``name``; a :class:`ConfigError` if there is none."""
        try:
            return self.config.workflows[name]
        except KeyError:
            known = ", ".join(sorted(self.config.workflows)) or "none configured"
            raise ConfigError("workflow", f"unknown workflow {name!r} (known: {known})") from None

    # -- one call -----------------------------------------------------------------

    async def _call(
        self,
        body: dict[str, Any],
        stream: ReplyStream | None,
        *,
        agent: str | None = None,
        on_attempt: Callable[[int], object] | None = None,
        on_retry: Callable[[RetryDetails], object] | None = None,
        on_served: Callable[[float], object] | None = None,
    ) -> tuple[MessageResult, bool]:
        """Get one answer for ``body``: the single place a request is made.

        The response cache (lookup, single-flight, store) wraps the resilience
        pipeline (breaker, limiter slot, retries) which wraps the client.

        Args:
            body: the request body.
            stream: gets the reply's text: told where each attempt begins, and
                given the answer whole if no chunk of it was streamed.
            agent: the agent asking, for the per-agent cache policy.
            on_attempt: called with each attempt's number just before it is sent.
            on_retry: called before waiting to retry.
            on_served: called with the USD saved when the cache answered.

        Returns:
            ``(message, cached)``; a cached message has zero usage.
        """
        client = self._client

        def attempting(number: int) -> None:
            if stream is not None:
                stream.attempt(number)
            if on_attempt is not None:
                on_attempt(number)

        async def live() -> MessageResult:
            return await self.resilience.call(
                (client.base_url, str(body.get("model", ""))),
                lambda: client.create(body, on_text=stream),
                on_attempt=attempting,
                on_retry=on_retry,
            )

        if self.response_cache is None:
            answer = await live(), False
        else:
            answer = await self.response_cache.fetch_or_call(
                body, agent, live, on_text=stream, on_served=on_served
            )
        if stream is not None:
            stream.whole(answer[0].text)
        return answer

    async def _execute(
        self,
        progress: StepProgress,
        body: dict[str, Any],
        *,
        run_id: str,
        timeout_s: float,
        on_text: TextCallback | None,
        hooks: Sequence[Hook],
        on_start: Callable[[str], None] | None = None,
        memory_task: str | None = None,
        on_restart: RestartCallback | None = None,
    ) -> StepResult:
        """Run one prepared request, with retries, under the step's own deadline.

        The step starts (``StepStarted``, and its deadline starts counting) when
        its first attempt holds a slot, as it did when a step held one slot
        throughout; waiting in the queue does not eat into its timeout, but
        retries and their waits do. ``progress.attempts`` counts requests
        actually sent: a circuit-open fast failure sends none.

        Returns a result whatever happened, except cancellation from outside,
        which propagates (``progress`` then still describes the step).
        """
        model = progress.model or ""
        queued = trio.current_time()
        self._emit(
            StepQueued(
                run_id, progress.step_id, progress.agent, queued, task_hash=_task_hash(body)
            ),
            hooks,
        )
        deadline = trio.CancelScope()
        saved: list[float] = []

        def start(at: float) -> None:
            progress.started = at
            progress.started_at = now()
            if on_start is not None:
                on_start(progress.step_id)
            self._emit(StepStarted(run_id, progress.step_id, progress.agent, model, at), hooks)

        def attempting(number: int) -> None:
            progress.attempts = number
            if number == 1:
                start(trio.current_time())
                deadline.deadline = trio.current_time() + timeout_s

        def retrying(details: RetryDetails) -> None:
            error = details.error
            event = StepRetrying(
                run_id,
                progress.step_id,
                details.attempt,
                details.delay_s,
                type(error).__name__,
                str(error),
                trio.current_time(),
            )
            self._emit(event, hooks)

        try:
            with deadline:
                message, cached = await self._call(
                    body,
                    None if on_text is None else ReplyStream(on_text, on_restart),
                    agent=progress.agent,
                    on_attempt=attempting,
                    on_retry=retrying,
                    on_served=saved.append,
                )
        except CFTError as exc:
            result = progress.result("failed", str(exc), type(exc).__name__)
            self._emit(StepFailed(run_id, result.id, result, trio.current_time()), hooks)
            return result
        if deadline.cancelled_caught:
            result = progress.result(
                "timed_out", f"timed out after {timeout_s:g} s", "StepTimeoutError"
            )
            self._emit(StepTimedOut(run_id, result.id, result, trio.current_time()), hooks)
            return result
        if progress.started is None:
            # Answered by the cache (or by an identical request in flight): no
            # attempt of its own, so the step "ran" from the moment it asked.
            start(queued)
        assert progress.started is not None
        finished = trio.current_time()
        result = StepResult(
            id=progress.step_id,
            agent=progress.agent,
            status="succeeded",
            output=message.text,
            attempts=progress.attempts,
            model=message.model or model,
            started_at=progress.started_at,
            finished_at=now(),
            elapsed_s=finished - progress.started,
            usage=message.usage,
            cost_usd=cost_usd(message.usage, message.model or model),
            stop_reason=message.stop_reason,
            ttft_s=message.ttft_s,
            cached=cached,
            saved_usd=sum(saved) if cached else None,
        )
        if self.memory is not None and memory_task is not None and not cached:
            await self.memory.record(
                progress.agent, memory_task, message.text, model=result.model, usage=message.usage
            )
        self._emit(StepSucceeded(run_id, result.id, result, finished), hooks)
        return result

    async def _user_text(
        self,
        agent: str,
        task: str | None,
        *,
        workflow_task: str | None = None,
        dependencies: Sequence[DependencyOutput] = (),
    ) -> tuple[str, str]:
        """The user message, with agent memory when it is on; and the text memory keys on.

        Memory goes in the user message, never in the cached system prefix, and
        is looked up by the message *without* memory so the key is stable.
        """
        base = user_message(task, workflow_task=workflow_task, dependencies=dependencies)
        if self.memory is None:
            return base, base
        from ._memory import format_context

        settings = self.config.memory
        items = await self.memory.relevant(agent, base, settings.max_context_items)
        context = format_context(items, settings.max_context_chars) or None
        if context is None:
            return base, base
        text = user_message(
            task, workflow_task=workflow_task, dependencies=dependencies, memory=context
        )
        return text, base

    def _prepare(
        self,
        agent: AgentConfig,
        user_text: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> dict[str, Any]:
        return build_request(
            agent,
            self.config.defaults,
            user_text,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            prompt_cache=self.prompt_cache,
        )

    def _step_timeout(self, own: float | None, override: float | None) -> float:
        # A step's own timeout wins, then the run's override, then the config's default.
        if own is not None:
            return own
        if override is not None:
            return override
        return self.config.performance.step_timeout_s

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

        With ``on_text`` the reply is streamed. A retry sends the request again and
        its text starts from the beginning, so ``on_restart`` says when the text
        delivered so far belonged to an attempt that failed and is void: for a
        successful result, the chunks ``on_text`` got after the last
        ``on_restart`` call joined are exactly ``result.output``. An answer from
        the cache (or from a server that would not stream) arrives as one chunk.

        Args:
            agent: the agent's name in the config.
            task: what to do.
            model: override the model (alias or id).
            max_tokens: override ``max_tokens``.
            temperature: override the temperature.
            timeout_s: this call's deadline (default ``performance.step_timeout_s``).
            on_text: stream the reply, calling this with each text chunk as it arrives.
            on_restart: called with the next attempt's number (2, 3, …) just before
                it is sent, when the failed attempt had delivered text; its
                ``StepRetrying`` event, with the error, reached the hooks first.
                Without it, a retried stream's chunks are the failed attempt's
                partial text followed by the whole new reply.
            hooks: extra hooks for this call only.

        Raises:
            ConfigError: unknown agent, empty task, or one that is not UTF-8 text.
        """
        config = self._agent(agent)
        check_text(task, "task")
        text, memory_task = await self._user_text(agent, task)
        body = self._prepare(
            config, text, model=model, max_tokens=max_tokens, temperature=temperature
        )
        progress = StepProgress(agent, agent, model=str(body["model"]))
        return await self._execute(
            progress,
            body,
            run_id=uuid.uuid4().hex,
            timeout_s=self._step_timeout(timeout_s, None),
            on_text=on_text,
            hooks=hooks,
            memory_task=memory_task,
            on_restart=on_restart,
        )

    async def run_many(
        self, jobs: Iterable[tuple[str, str]], *, hooks: Sequence[Hook] = ()
    ) -> list[StepResult]:
        """Run ``(agent, task)`` pairs concurrently; results come back in input order.

        Raises:
            ConfigError: an unknown agent or empty task, before anything is sent.
        """
        run_id = uuid.uuid4().hex
        prepared = []
        for index, (agent, task) in enumerate(jobs):
            config = self._agent(agent, f"jobs[{index}].agent")
            check_text(task, f"jobs[{index}].task")
            text, memory_task = await self._user_text(agent, task)
            body = self._prepare(config, text)
            prepared.append(
                (StepProgress(agent, agent, model=str(body["model"])), body, memory_task)
            )
        results: list[StepResult | None] = [None] * len(prepared)
        timeout = self._step_timeout(None, None)

        async def one(index: int, progress: StepProgress, body: dict[str, Any], key: str) -> None:
            results[index] = await self._execute(
                progress,
                body,
                run_id=run_id,
                timeout_s=timeout,
                on_text=None,
                hooks=hooks,
                memory_task=key,
            )

        async with trio.open_nursery() as nursery:
            for index, (progress, body, key) in enumerate(prepared):
                nursery.start_soon(one, index, progress, body, key)
        return [result for result in results if result is not None]

    async def run_workflow(
        self,
        name: str,
        task: str | None = None,
        *,
        sequential: bool | None = None,
        keep_going: bool | None = None,
        timeout_s: float | None = None,
        step_timeout_s: float | None = None,
        stop: trio.Event | None = None,
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
                ``performance.workflow_timeout_s``).
            step_timeout_s: deadline for steps that set none of their own.
            stop: set it to stop the run early; the result then says ``cancelled``.
            hooks: extra hooks for this run only.

        Raises:
            ConfigError: unknown workflow or an invalid graph.
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
        run = WorkflowRun(
            self,
            workflow,
            build_graph(workflow),
            task=task,
            sequential=(
                not self.config.features.parallel_workflows_enabled
                if sequential is None
                else sequential
            ),
            keep_going=workflow.on_failure == "continue" if keep_going is None else keep_going,
            step_timeout_s=step_timeout_s,
            hooks=hooks,
        )
        deadline = timeout_s or workflow.timeout_s or self.config.performance.workflow_timeout_s
        return await run.execute(deadline, stop)


def _task_hash(body: Mapping[str, Any]) -> str:
    """sha256 of the user message: metrics can group repeats without storing the task."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    text = content if isinstance(content, str) else repr(content)
    return hashlib.sha256(text.encode()).hexdigest()


@asynccontextmanager
async def open_engine(
    config: Config,
    *,
    backend: Backend | None = None,
    hooks: Sequence[Hook] = (),
    max_concurrency: int | None = None,
    prompt_cache: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    simulator: SimulatorConfig | None = None,
    rng: random.Random | None = None,
    cache: bool = True,
    memory: bool | None = None,
) -> AsyncIterator[Engine]:
    """Open an engine: one HTTP client (and, if chosen, the embedded simulator).

    Args:
        config: a loaded :class:`~claude_force_trio.Config`.
        backend: where to send requests (default: :func:`resolve_backend` from the
            environment, which picks the embedded simulator when no key is set).
        hooks: called with every event.
        max_concurrency: the most requests in flight at once (default
            ``performance.max_concurrent_agents``); the HTTP pool gets as many
            connections. The adaptive limit starts here, halves on 429s and
            grows back to it.
        prompt_cache: mark agent definitions with ``cache_control``.
        transport: an httpx transport (``httpx.MockTransport`` in tests).
        simulator: a ``SimulatorConfig`` for the embedded simulator.
        rng: the retry jitter's source; seed one for reproducible delays in tests.
        cache: ``False`` is ``--no-cache``: the response cache is neither read nor
            written. Otherwise the config decides (``cache.enabled``,
            ``features.cache_enabled``, per-agent ``cache``, ``exclude_agents``).
        memory: agent memory on or off (default: the config's ``memory.enabled``);
            stored in ``$CFT_HOME/memory``.
    """
    backend = backend or resolve_backend(api=config.api)
    limit = config.performance.max_concurrent_agents if max_concurrency is None else max_concurrency
    if limit < 1:
        raise ConfigError("--max-concurrency", f"must be at least 1, got {limit}")
    async with AsyncExitStack() as stack:
        base_url = backend.base_url
        if backend.kind == "simulator" and transport is None:
            from .simulator import config_from_env, open_simulator

            sim = await stack.enter_async_context(open_simulator(simulator or config_from_env()))
            base_url = sim.url
        client = await stack.enter_async_context(
            MessagesClient(
                base_url=base_url or "http://simulator.invalid",
                api_key=backend.api_key,
                auth=backend.auth,
                version=backend.version if backend.kind != "simulator" else config.api.version,
                connect_timeout_s=config.api.connect_timeout_s,
                read_timeout_s=config.api.read_timeout_s,
                max_connections=limit,
                transport=transport,
            )
        )
        from ._cache._policy import open_response_cache

        response_cache = await stack.enter_async_context(
            open_response_cache(config, no_cache=not cache)
        )
        store = None
        if config.memory.enabled if memory is None else memory:
            from ._memory import MEMORY_FILE, open_memory
            from ._paths import state_home

            store = await stack.enter_async_context(
                open_memory(state_home() / "memory" / MEMORY_FILE)
            )
        yield Engine(
            config,
            client,
            backend=backend,
            max_concurrency=limit,
            hooks=hooks,
            prompt_cache=prompt_cache,
            rng=rng,
            response_cache=response_cache,
            memory=store,
        )
