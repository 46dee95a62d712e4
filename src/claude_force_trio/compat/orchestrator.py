"""``AgentOrchestrator``: Claude Force 1.3's orchestrator API, running on this engine.

Why: code written for Claude Force (``run_agent`` / ``run_workflow`` returning
``AgentResult``, its ``except ValueError`` / ``FileNotFoundError`` clauses, its
performance-tracking calls) keeps working when its import resolves here, and
gains the eager DAG scheduler, the response cache, retries, the circuit
breaker and the metrics file the CLI writes.

As in Claude Force, building an orchestrator reads only ``claude.json``
(``self.config`` is that raw document, a dict you may edit); each agent's files
are read when a run first needs them and kept in memory (see ``_loading``). A
run that cannot start (unknown agent, missing agent file, no backend) comes
back as ``success=False`` with the reason in ``errors``, never as an exception;
an unknown *workflow* raises :class:`~claude_force_trio.UnknownWorkflowError`
(a ``ValueError``), as Claude Force's did.

The sync methods each run a short trio loop of their own, so they work from
plain Python and from threads; the ``*_async`` methods run inside the caller's
loop, trio or asyncio. Each call opens its own engine (one HTTP pool), so an
orchestrator holds no open resources between calls and needs no ``close()``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import sniffio

from .._backend import resolve_backend
from .._config import Config
from .._engine import Engine, open_engine
from .._errors import CFTError, MissingAPIKeyError
from .._public import publish
from .._results import WorkflowResult
from .._text import check_text
from ._catalog import AgentCatalog
from ._loading import read_claude_json, run_config, workflow_agents
from ._results import AgentResult, failed_result, workflow_results
from ._tracking import Tracking

T = TypeVar("T")

__all__ = ["AgentOrchestrator", "AgentResult"]

#: What a run that cannot start raises; turned into a ``success=False`` result.
_NOT_STARTED = (CFTError, OSError, ValueError, TypeError)


class AgentOrchestrator(AgentCatalog, Tracking):
    """Claude Force's orchestrator, running on the engine.

    Args:
        config_path: the ``claude.json`` to load.
        anthropic_api_key: the Anthropic key (default ``ANTHROPIC_API_KEY``).
        enable_tracking: record every call in ``$CFT_HOME/metrics`` (the file
            ``cft metrics`` reads) and serve ``get_performance_summary`` etc.
        enable_memory: ``False`` turns agent memory off; ``True`` leaves it to
            the config's ``memory.enabled`` (off by default: injected memory
            changes prompts, cache keys and cost).
        validate_api_key: raise now when no key is set, as Claude Force did
            (default: a run without one fails with the reason in ``errors``).
        api_key: another name for ``anthropic_api_key``.
        simulate: ``True`` for the embedded offline simulator, ``False`` for the
            live API; by default ``ANTHROPIC_BASE_URL`` or the key decide, and with
            neither a run fails (the simulator is never used unasked).

    Raises:
        ConfigNotFoundError: no ``claude.json`` at ``config_path`` (a ``FileNotFoundError``).
        ConfigError: the file is unreadable or not a JSON object.
        MissingAPIKeyError: ``validate_api_key=True`` and no key (a ``ValueError``).
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] = ".claude/claude.json",
        anthropic_api_key: str | None = None,
        enable_tracking: bool = True,
        enable_memory: bool = True,
        validate_api_key: bool = False,
        *,
        api_key: str | None = None,
        simulate: bool | None = None,
    ) -> None:
        path = Path(config_path)
        self._init_catalog(path, read_claude_json(path))
        key = anthropic_api_key or api_key
        # A key given here counts as if it were ANTHROPIC_API_KEY; the rules are resolve_backend's.
        self._env = {**os.environ, "ANTHROPIC_API_KEY": key} if key else None
        self._simulate = simulate
        env_key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
        if validate_api_key and not (key or env_key or simulate):
            raise MissingAPIKeyError()
        self.enable_tracking = enable_tracking
        self.enable_memory = enable_memory

    def __repr__(self) -> str:
        return f"AgentOrchestrator(config_path={str(self.config_path)!r})"

    def _config_for(self, agents: Iterable[str], workflow: str | None = None) -> Config:
        """The engine's config for a run of ``agents`` (and ``workflow``), read now."""
        return run_config(
            self.config, self.config_path, agents, self._agent_files, workflow=workflow
        )

    # -- the engine, with tracking -------------------------------------------------------------

    @asynccontextmanager
    async def _engine(self, config: Config) -> AsyncIterator[Engine]:
        backend = resolve_backend(self._simulate, api=config.api, env=self._env)
        # The engine's own recorder writes where the tracker reads, stamped with
        # the config's project key (the tracker's scope).
        tracker = self.tracker
        metrics = False if tracker is None else tracker.metrics_dir
        memory = None if self.enable_memory else False
        async with open_engine(config, backend=backend, memory=memory, metrics=metrics) as engine:
            yield engine

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
        """Run one agent on a task; every failure comes back as ``success=False``."""
        start = anyio.current_time()
        try:
            config = self._config_for([agent_name])
            _check_task(task)
            async with self._engine(config) as engine:
                step = await engine.run_agent(
                    agent_name, task, model=model, max_tokens=max_tokens, temperature=temperature
                )
        except _NOT_STARTED as exc:
            return failed_result(str(agent_name), exc, anyio.current_time() - start)
        return AgentResult.from_step(step)

    async def execute_multiple_async(
        self, tasks: Iterable[tuple[str, str] | Mapping[str, str]]
    ) -> list[AgentResult]:
        """Run many ``(agent, task)`` pairs (or ``{"agent", "task"}`` dicts) concurrently.

        Results come back in input order; a job whose agent cannot be loaded
        gets a ``success=False`` result and the others still run.
        """
        jobs = [
            (job["agent"], job["task"]) if isinstance(job, Mapping) else (job[0], job[1])
            for job in tasks
        ]
        start = anyio.current_time()
        unusable: dict[str, BaseException] = {}
        for agent, _ in jobs:
            try:
                self._agent_files(agent)
            except _NOT_STARTED as exc:
                unusable.setdefault(agent, exc)
        runnable = [job for job in jobs if job[0] not in unusable]
        try:
            ran: list[AgentResult] = []
            if runnable:
                config = self._config_for(agent for agent, _ in runnable)
                async with self._engine(config) as engine:
                    ran = [AgentResult.from_step(s) for s in await engine.run_many(runnable)]
        except _NOT_STARTED as exc:
            elapsed = anyio.current_time() - start
            return [failed_result(agent, exc, elapsed) for agent, _ in jobs]
        elapsed = anyio.current_time() - start
        done = iter(ran)
        return [
            failed_result(agent, unusable[agent], elapsed) if agent in unusable else next(done)
            for agent, _ in jobs
        ]

    async def execute_workflow_async(
        self,
        workflow_name: str,
        task: str | None = None,
        *,
        pass_output_to_next: bool = True,
        **options: Any,
    ) -> list[AgentResult]:
        """Run a workflow; results of the steps that ran, in the order they started.

        With ``pass_output_to_next=False`` the agents run one after another on
        the task alone (no step sees another's output), stopping at the first
        failure, as Claude Force did. Every agent's files are read before
        anything is sent: when one cannot be loaded, the only result is that
        agent's failure (Claude Force would have run the agents before it).

        Raises:
            UnknownWorkflowError: no such workflow (a ``ValueError``).
        """
        agents = workflow_agents(self.config, workflow_name)
        start = anyio.current_time()
        for agent in agents:  # in order, so the result names the first agent that cannot load
            try:
                self._agent_files(agent)
            except _NOT_STARTED as exc:
                return [failed_result(agent, exc, anyio.current_time() - start)]
        if not agents:
            return []
        try:
            if not pass_output_to_next:
                return await self._one_by_one(agents, task)
            result = await self.run_workflow_result_async(workflow_name, task, **options)
        except _NOT_STARTED as exc:
            return [failed_result(agents[0], exc, anyio.current_time() - start)]
        return workflow_results(result)

    async def _one_by_one(self, agents: list[str], task: str | None) -> list[AgentResult]:
        config = self._config_for(agents)
        results: list[AgentResult] = []
        async with self._engine(config) as engine:
            for agent in agents:
                results.append(AgentResult.from_step(await engine.run_agent(agent, task or "")))
                if not results[-1].success:
                    break
        return results

    async def run_workflow_result_async(
        self, workflow_name: str, task: str | None = None, **options: Any
    ) -> WorkflowResult:
        """Run a workflow and return the engine's full :class:`~claude_force_trio.WorkflowResult`.

        Raises:
            ConfigError: the workflow or one of its agents cannot be loaded.
        """
        agents = workflow_agents(self.config, workflow_name)
        config = self._config_for(agents, workflow_name)
        async with self._engine(config) as engine:
            return await engine.run_workflow(workflow_name, task, **options)

    # -- sync API: from plain Python ---------------------------------------------------------

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

    def run_agent(
        self,
        agent_name: str,
        task: str,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        workflow_name: str | None = None,
        workflow_position: int | None = None,
    ) -> AgentResult:
        """Claude Force's ``run_agent``: one agent, one task, a result whatever happens.

        Args:
            agent_name: the agent to run.
            task: what to do.
            model: the model (alias or id); ``None`` means the agent's, else the
                config's default (Claude Force hard-coded ``claude-3-5-sonnet-20241022``).
            max_tokens: ``None`` means the agent's, else the config's default.
            temperature: ``None`` means the agent's, else the API's default.
            workflow_name: accepted for Claude Force's callers; not used.
            workflow_position: accepted for Claude Force's callers; not used.
        """
        return self.execute_agent(
            agent_name, task, model=model, max_tokens=max_tokens, temperature=temperature
        )

    def run_workflow(
        self, workflow_name: str, task: str | None = None, pass_output_to_next: bool = True
    ) -> list[AgentResult]:
        """Claude Force's ``run_workflow``: results of the agents that ran, in order.

        Outputs flow along the workflow's edges (a list workflow is a chain);
        after a failure the remaining steps do not run.

        Raises:
            UnknownWorkflowError: no such workflow (a ``ValueError``, "Did you mean?").
        """
        return self.execute_workflow(workflow_name, task, pass_output_to_next=pass_output_to_next)


def _check_task(task: object) -> None:
    """Refuse a task that is not text before anything is opened (Claude Force failed on it too)."""
    if not isinstance(task, str):
        raise TypeError(f"task: expected a string, got {type(task).__name__}")
    check_text(task, "task")


def _run_sync(fn: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``fn(*args)`` to completion on a fresh event loop (trio, the reference backend).

    Called from code that is itself inside an event loop (a sync Claude Force
    call in an ``async def``), the fresh loop runs on a worker thread, since a
    thread runs one loop at a time; the caller blocks, as it did with Claude
    Force's sync client.
    """
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return anyio.run(fn, *args, backend="trio")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cft-sync") as pool:
        return pool.submit(anyio.run, fn, *args, backend="trio").result()


publish(globals())
