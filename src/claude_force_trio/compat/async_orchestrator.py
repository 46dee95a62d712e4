"""``AsyncAgentOrchestrator``: Claude Force 1.3's async API, running on the engine's call stack.

Why: code written for Claude Force (``await orchestrator.execute_agent(...)``,
``execute_multiple([...])`` under ``asyncio.run``) keeps working when it
switches imports, and gains the engine's retries by the API's rules, circuit
breaker, adaptive limiter, response cache and metrics file. Written on anyio:
the same object works under ``asyncio.run`` and ``trio.run``.

Kept as Claude Force had it: the constructor and its defaults, lazy config and
client, ``ValueError`` for bad agent names and oversized tasks, the sanitising
of injection markers, every other failure as ``success=False``, and the seams
its users' tests patch (``load_agent_definition``, ``_call_api_with_retry``
with SDK-shaped fakes, ``async_client``, ``_track_performance_async``,
``execute_agent``).

Resources: ``async with AsyncAgentOrchestrator(...)`` keeps one call stack for
the whole block, opened on first need; without it each ``execute_multiple``
shares one among its tasks and a lone ``execute_agent`` opens its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from .._backend import resolve_backend
from .._errors import ConfigError
from .._metrics import MetricsRecorder
from .._options import check_timeout
from .._public import publish
from .._stack import CallStack
from ._async_results import (
    DEFAULT_CACHE_TTL_HOURS,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_CACHE_SIZE_MB,
    AsyncAgentResult,
    check_request,
    create_with_retries,
    failed,
    sanitize_task,
    succeeded,
)
from ._async_stack import CURRENT_AGENT, EngineClient, StackSlot, open_compat_stack
from ._async_tracking import pricing_of, record_execution, recorder_for
from ._loading import agent_entry, read_agent_file, read_claude_json

__all__ = ["AsyncAgentOrchestrator", "AsyncAgentResult"]

log = logging.getLogger("claude_force_trio.compat")

_NO_BACKEND = (
    "Anthropic API key not found: set ANTHROPIC_API_KEY or pass api_key=..., "
    "set ANTHROPIC_BASE_URL to use another server, or pass simulate=True for offline replies"
)
# (orchestrator, slot) of the execute_multiple call the current task belongs to.
_BATCH: ContextVar[tuple[AsyncAgentOrchestrator, StackSlot] | None] = ContextVar(
    "cft_compat_batch", default=None
)


class AsyncAgentOrchestrator:
    """Claude Force's async orchestrator, on the engine's call stack.

    Args:
        config_path: the ``claude.json`` (default ``~/.claude/claude.json``), read on first use.
        api_key: the Anthropic key (default ``ANTHROPIC_API_KEY``).
        max_concurrent: agents run at once by ``execute_multiple``, and requests in flight.
        timeout_seconds: deadline of one API call, retries included.
        max_retries: attempts per call (Claude Force's ``stop_after_attempt``).
        enable_tracking: record every call in ``$CFT_HOME/metrics`` (as ``cft metrics`` reads).
        enable_memory: accepted for compatibility; agent memory is not applied here.
        enable_cache: use the response cache (``$CFT_HOME/cache``, shared with the CLI).
        cache_ttl_hours: how long a cached answer is served.
        cache_max_size_mb: the disk cache's size bound.
        anthropic_api_key: another name for ``api_key``.
        simulate: ``True`` for the embedded offline simulator, ``False`` for the
            API; by default ``ANTHROPIC_BASE_URL`` or the key decide, and with
            neither a call fails (the simulator is never used unasked).
    """

    def __init__(
        self,
        config_path: Path | None = None,
        api_key: str | None = None,
        max_concurrent: int = 10,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = 3,
        enable_tracking: bool = True,
        enable_memory: bool = True,
        enable_cache: bool = True,
        cache_ttl_hours: int = DEFAULT_CACHE_TTL_HOURS,
        cache_max_size_mb: int = MAX_CACHE_SIZE_MB,
        *,
        anthropic_api_key: str | None = None,
        simulate: bool | None = None,
    ) -> None:
        self.config_path = Path(config_path or Path.home() / ".claude" / "claude.json")
        given_key = api_key or anthropic_api_key
        self.api_key = given_key or os.getenv("ANTHROPIC_API_KEY")
        self.max_concurrent = max_concurrent
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.enable_tracking = enable_tracking
        self.enable_memory = enable_memory
        self.enable_cache = enable_cache
        self.cache_ttl_hours = cache_ttl_hours
        self.cache_max_size_mb = cache_max_size_mb
        self._simulate = simulate
        # A key given here counts as ANTHROPIC_API_KEY; the rules are resolve_backend's.
        self._env = {**os.environ, "ANTHROPIC_API_KEY": given_key} if given_key else None
        # Lazy, as Claude Force's: nothing is read or opened until a call needs it.
        self._config: dict[str, Any] | None = None
        self._async_client: EngineClient | None = None
        self._semaphore: anyio.Semaphore | None = None
        self._recorder: MetricsRecorder | None = None
        self._slot: StackSlot | None = None
        self._group: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"AsyncAgentOrchestrator(config_path={str(self.config_path)!r})"

    # -- resources --------------------------------------------------------------------

    async def __aenter__(self) -> AsyncAgentOrchestrator:
        """Keep one call stack for every call in the block (opened when first needed)."""
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group, self._slot = group, StackSlot(self._open_stack, group)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self.close()
        group, self._group, self._slot = self._group, None, None
        assert group is not None
        return await group.__aexit__(*exc_info)

    async def close(self) -> None:
        """Release the client and the call stack, and write out buffered metrics."""
        if self._slot is not None:
            self._slot.close()
        self._async_client = None
        self._semaphore = None
        if self._recorder is not None:
            await self._recorder.aclose()

    async def _get_semaphore(self) -> anyio.Semaphore:
        """The semaphore bounding ``execute_with_semaphore``, made on first use."""
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.max_concurrent)
        return self._semaphore

    @property
    def async_client(self) -> EngineClient:
        """The client ``_call_api_with_retry`` uses (it opens nothing by itself).

        Raises:
            ValueError: no key, no ``ANTHROPIC_BASE_URL`` and no ``simulate=True``.
        """
        if self._async_client is None:
            try:
                resolve_backend(self._simulate, env=self._env)
            except ConfigError:
                raise ValueError(_NO_BACKEND) from None
            self._async_client = EngineClient(self._open_stack, self._current_slot)
        return self._async_client

    def _current_slot(self) -> StackSlot | None:
        if self._slot is not None:
            return self._slot
        batch = _BATCH.get()
        return batch[1] if batch is not None and batch[0] is self else None

    @asynccontextmanager
    async def _open_stack(self) -> AsyncIterator[CallStack]:
        try:
            doc = await self.load_config()
        except FileNotFoundError:
            doc = {}  # the agents may come from a patched load_agent_definition
        async with open_compat_stack(
            doc,
            self.config_path,
            backend=lambda api: resolve_backend(self._simulate, api=api, env=self._env),
            max_concurrent=self.max_concurrent,
            max_retries=self.max_retries,
            cache=self.enable_cache,
            cache_ttl_hours=self.cache_ttl_hours,
            cache_max_size_mb=self.cache_max_size_mb,
        ) as stack:
            yield stack

    @asynccontextmanager
    async def _batch(self) -> AsyncIterator[None]:
        """One stack for the tasks of one ``execute_multiple``, unless one is already kept."""
        if self._current_slot() is not None:
            yield
            return
        async with anyio.create_task_group() as host:
            slot = StackSlot(self._open_stack, host)
            token = _BATCH.set((self, slot))
            try:
                yield
            finally:
                _BATCH.reset(token)
                slot.close()

    # -- config and agents ------------------------------------------------------------

    async def load_config(self) -> dict[str, Any]:
        """The ``claude.json`` document as a dict, read once (in the loop: a small regular file).

        Raises:
            FileNotFoundError: there is no config file (a ``ConfigNotFoundError``).
            ConfigError: it cannot be read or is not a JSON object.
        """
        if self._config is None:
            self._config = read_claude_json(self.config_path)
        return self._config

    async def load_agent_definition(self, agent_name: str) -> str:
        """The text of the agent's definition file, read on every call (edits are seen at once).

        Raises:
            ValueError: the config has no such agent (an ``UnknownAgentError``:
                ``not found``, ``Did you mean?`` / ``Available agents:``).
            FileNotFoundError: the agent's file does not exist.
            ConfigError: the file is outside the config's folder or unreadable.
        """
        config = await self.load_config()
        entry = agent_entry(config, agent_name)
        key = "path" if "path" in entry and "file" not in entry else "file"
        where = f"agents.{agent_name}.{key}"
        root = self.config_path.absolute().parent
        return read_agent_file(root, entry.get(key), where, missing_ok=False)

    # -- the API call -----------------------------------------------------------------

    async def _call_api_with_retry(
        self, model: str, max_tokens: int, temperature: float, messages: list[dict[str, str]]
    ) -> Any:
        """One Messages call through ``async_client`` within ``timeout_seconds`` (retries included).

        Raises:
            TimeoutError: ``timeout_seconds`` passed (retries included).
        """
        timeout = check_timeout(self.timeout_seconds, "timeout_seconds")
        request = {
            "model": model,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "messages": messages,
        }
        try:
            with anyio.fail_after(timeout):
                return await self._create_with_retries(request)
        except TimeoutError:
            log.warning("compat: API call timed out after %ss", self.timeout_seconds)
            raise TimeoutError(f"API call timed out after {self.timeout_seconds}s") from None

    async def _create_with_retries(self, request: dict[str, Any]) -> Any:
        client = self.async_client  # no backend: a ValueError, not worth a retry
        return await create_with_retries(client, request, self.max_retries)

    def _sanitize_task(self, task: str) -> str:
        """Defang prompt-injection markers and runs of 4+ newlines, as Claude Force did."""
        return sanitize_task(task)

    # -- running agents ---------------------------------------------------------------

    async def execute_agent(
        self,
        agent_name: str,
        task: str,
        model: str = DEFAULT_MODEL,
        max_tokens: int = 4096,
        temperature: float = 1.0,
        workflow_name: str | None = None,
        workflow_position: int | None = None,
        use_memory: bool = True,
    ) -> AsyncAgentResult:
        """Run one agent on a task; every failure past validation comes back as a result.

        Raises:
            ValueError: the agent name is not letters, digits, ``-`` and ``_``, or
                the task is over 100,000 characters.
        """
        start = anyio.current_time()
        check_request(agent_name, task)
        sanitized = self._sanitize_task(task)
        where = {"workflow_name": workflow_name, "workflow_position": workflow_position}
        try:
            definition = await self.load_agent_definition(agent_name)
            prompt = "\n".join([definition, "", "# Task", sanitized])
            token = CURRENT_AGENT.set(agent_name)
            try:
                response = await self._call_api_with_retry(
                    model=model,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    messages=[{"role": "user", "content": prompt}],
                )
            finally:
                CURRENT_AGENT.reset(token)
            output = "".join(b.text for b in response.content if hasattr(b, "text"))
            input_tokens, output_tokens = response.usage.input_tokens, response.usage.output_tokens
            cached = getattr(response, "cached", False) is True
            elapsed_ms = (anyio.current_time() - start) * 1000
            if self.enable_tracking:
                # ``cached`` only when true: users' replacements take Claude Force's keywords.
                facts = {"input_tokens": input_tokens, "output_tokens": output_tokens, **where}
                await self._track_performance_async(
                    agent_name=agent_name, task=task, success=True, execution_time_ms=elapsed_ms,
                    model=model, **facts, **({"cached": True} if cached else {}),
                )  # fmt: skip
        except Exception as exc:
            return await self._failed(agent_name, task, model, exc, start, where)
        tokens = (input_tokens, output_tokens)
        return succeeded(agent_name, model, output, tokens, elapsed_ms, where, cached=cached)

    async def _failed(
        self, agent_name: str, task: str, model: str, error: Exception, start: float, where: Any
    ) -> AsyncAgentResult:
        """The result (and the metrics line) of a run that failed with ``error``."""
        elapsed_ms = (anyio.current_time() - start) * 1000
        error_type = type(error).__name__
        log.warning("compat: agent %s failed: %s: %s", agent_name, error_type, error)
        if self.enable_tracking:
            try:
                await self._track_performance_async(
                    agent_name=agent_name, task=task, success=False, execution_time_ms=elapsed_ms,
                    model=model, input_tokens=0, output_tokens=0, error_type=error_type, **where,
                )  # fmt: skip
            except Exception as exc:  # a metrics failure must not hide the run's own
                log.warning("compat: could not record the failed run: %s", exc)
        return failed(agent_name, error, elapsed_ms)

    async def execute_with_semaphore(
        self, agent_name: str, task: str, **kwargs: Any
    ) -> AsyncAgentResult:
        """:meth:`execute_agent` holding one of ``max_concurrent`` places."""
        semaphore = await self._get_semaphore()
        async with semaphore:
            return await self.execute_agent(agent_name, task, **kwargs)

    async def execute_multiple(
        self, tasks: list[tuple[str, str]], **kwargs: Any
    ) -> list[AsyncAgentResult]:
        """Run ``(agent_name, task)`` pairs concurrently, at most ``max_concurrent`` at once.

        Results in input order, sharing one call stack. A validation ``ValueError``
        is raised as itself (the others are cancelled), as ``asyncio.gather`` did.

        Args:
            tasks: the pairs to run.
            **kwargs: passed to every :meth:`execute_agent`.
        """
        jobs = list(tasks)
        results: list[AsyncAgentResult | None] = [None] * len(jobs)
        errors: list[Exception] = []

        async def one(index: int, agent_name: str, task: str) -> None:
            try:
                results[index] = await self.execute_with_semaphore(agent_name, task, **kwargs)
            except Exception as exc:
                errors.append(exc)
                group.cancel_scope.cancel()

        async with self._batch(), anyio.create_task_group() as group:
            for index, (agent_name, task) in enumerate(jobs):
                group.start_soon(one, index, agent_name, task)
        if errors:
            raise errors[0]
        done = [result for result in results if result is not None]
        succeeded = sum(result.success for result in done)
        log.info("compat: %d of %d agents succeeded", succeeded, len(done))
        return done

    # -- metrics ----------------------------------------------------------------------

    async def _track_performance_async(self, **kwargs: Any) -> None:
        """Record one run in ``$CFT_HOME/metrics`` (takes ``record_execution``'s keywords)."""
        if not self.enable_tracking:
            return
        self._recorder = recorder_for(self._recorder, self.config_path, self._config)
        record_execution(self._recorder, pricing=pricing_of(self._config), **kwargs)
        # One small write, as the engine's own hook does: cheaper than a hop to a thread.
        self._recorder.flush()


publish(globals())
