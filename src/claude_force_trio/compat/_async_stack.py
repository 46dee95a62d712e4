"""The call stack behind ``AsyncAgentOrchestrator``: a lazy keeper, and a client in the SDK's shape.

Why a keeper task: the call stack (HTTP pool, response cache and its writer,
breakers, adaptive limiter) is an async context whose task groups belong to
the task that entered them, so it cannot be opened in one ``execute_agent``
and closed in a later ``close()``. A :class:`StackSlot` opens it inside a task
of its own, started on first use in a task group the caller owns (the
orchestrator's ``async with`` block, or one ``execute_multiple`` call), and
closes it when told to: one pool and one set of breakers for every call made
meanwhile, and structured concurrency kept under trio and asyncio alike.

Why an SDK-shaped client: Claude Force's ``_call_api_with_retry`` awaited
``async_client.messages.create(...)`` and read ``response.content[0].text``
and ``response.usage``; its users' tests replace either seam with fakes of
that shape. :class:`EngineClient` answers the same call through the stack.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from .._backend import Backend
from .._call import Call, CallObserver
from .._config import ApiConfig
from .._errors import ConfigError
from .._pricing import resolve_model
from .._stack import CallStack, open_call_stack
from .._types import Usage
from ._loading import run_config

__all__ = [
    "CURRENT_AGENT",
    "EngineClient",
    "SDKMessage",
    "SDKTextBlock",
    "StackSlot",
    "open_compat_stack",
]

#: The agent a call is made for: the cache policy is per agent (``cache.exclude_agents``).
CURRENT_AGENT: ContextVar[str | None] = ContextVar("cft_compat_agent", default=None)

OpenStack = Callable[[], AbstractAsyncContextManager[CallStack]]


@asynccontextmanager
async def open_compat_stack(
    doc: dict[str, Any],
    config_path: Path,
    *,
    backend: Callable[[ApiConfig], Backend],
    max_concurrent: int,
    max_retries: int,
    cache: bool,
    cache_ttl_hours: float,
    cache_max_size_mb: float,
) -> AsyncIterator[CallStack]:
    """The engine's call stack, configured by ``claude.json``'s sections and Claude Force's knobs.

    Args:
        doc: the raw ``claude.json`` (``{}`` when there is none); only its
            sections (``api``, ``retry``, ``cache``…) are used, no agent.
        config_path: where it lives.
        backend: picks the backend, given the ``api`` section.
        max_concurrent: requests in flight at most (and the pool's size).
        max_retries: attempts per call (``retry.max_attempts``).
        cache: use the response cache.
        cache_ttl_hours: ``cache.ttl_hours``.
        cache_max_size_mb: ``cache.max_size_mb``.

    Raises:
        ConfigError: a bad section, no backend, or ``max_concurrent`` below 1.
    """
    if max_concurrent < 1:
        raise ConfigError("max_concurrent", f"must be at least 1, got {max_concurrent}")
    config = run_config(doc, config_path, (), _no_files)
    config = replace(
        config,
        retry=replace(config.retry, max_attempts=max(1, max_retries)),
        cache=replace(config.cache, ttl_hours=cache_ttl_hours, max_size_mb=cache_max_size_mb),
    )
    async with open_call_stack(
        config, backend(config.api), _no_events, max_concurrency=max_concurrent, no_cache=not cache
    ) as stack:
        yield stack


def _no_files(name: str) -> tuple[str, str | None]:
    raise AssertionError(f"the stack's config names no agents, yet {name!r} was asked for")


def _no_events(event: object) -> None:
    """The stack's own events go nowhere: each run is recorded by ``_track_performance_async``."""


class StackSlot:
    """Holds one call stack, opened by the first :meth:`get` in a keeper task of ``group``.

    Args:
        open_stack: opens the stack (called once per opening).
        group: the task group that hosts the keeper; it must outlive every call.
    """

    def __init__(self, open_stack: OpenStack, group: anyio.abc.TaskGroup) -> None:
        self._open = open_stack
        self._group = group
        self._stack: CallStack | None = None
        self._done: anyio.Event | None = None
        self._lock = anyio.Lock()

    @property
    def opened(self) -> bool:
        """Whether a stack is open now."""
        return self._stack is not None

    async def get(self) -> CallStack:
        """The open stack, opening it first if need be (concurrent first callers share one)."""
        if self._stack is None:
            async with self._lock:
                if self._stack is None:
                    self._stack = await self._group.start(self._keep)
        return self._stack

    async def _keep(self, *, task_status: anyio.abc.TaskStatus[CallStack]) -> None:
        done = anyio.Event()
        async with self._open() as stack:
            self._done = done
            task_status.started(stack)
            await done.wait()

    def close(self) -> None:
        """Let the keeper close the stack (it finishes in its task group); a later get reopens."""
        self._stack = None
        if self._done is not None:
            self._done.set()
            self._done = None


@dataclass(frozen=True, slots=True)
class SDKTextBlock:
    """A text content block, as the SDK's ``TextBlock``."""

    text: str
    type: str = "text"


@dataclass(frozen=True, slots=True)
class SDKMessage:
    """A reply in the shape of the SDK's ``Message``, plus what the stack knows of it.

    Attributes:
        cached: served by the response cache (or an identical call in flight).
        attempts: requests the call made (0 when served).
        request_id: the API's ``request-id``.
    """

    id: str
    model: str
    content: list[SDKTextBlock]
    usage: Usage  # the same four counts, under the same names as the SDK's
    stop_reason: str | None
    role: str = "assistant"
    type: str = "message"
    cached: bool = False
    attempts: int = 0
    request_id: str | None = field(default=None, repr=False)


class _Watcher(CallObserver):
    """Notes what the stack tells about one call: attempts made, served without one."""

    __slots__ = ("attempts", "served_from_cache")

    def __init__(self) -> None:
        self.attempts = 0
        self.served_from_cache = False

    def attempt_started(self, attempt: int) -> None:
        self.attempts = attempt

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        self.served_from_cache = True


class _Messages:
    """``client.messages``: ``create(...)`` sends one request through the stack."""

    def __init__(self, open_stack: OpenStack, slot: Callable[[], StackSlot | None]) -> None:
        self._open = open_stack
        self._slot = slot

    async def create(
        self,
        *,
        model: str,
        max_tokens: int,
        messages: Iterable[Mapping[str, Any]],
        temperature: float | None = None,
        **extra: Any,
    ) -> SDKMessage:
        """Send a Messages request (the SDK's keywords) and return the complete reply.

        Retries, the circuit breaker, the adaptive limiter and the response cache
        apply, as for every call of the engine; what still fails raises the
        engine's :class:`~claude_force_trio.APIError` (or ``ConfigError`` when no
        backend can be chosen).
        """
        body: dict[str, Any] = {
            "model": resolve_model(model),
            "max_tokens": max_tokens,
            "messages": [dict(message) for message in messages],
            **extra,
        }
        if temperature is not None:
            body["temperature"] = temperature
        call = Call(body, agent=CURRENT_AGENT.get())
        slot = self._slot()
        if slot is not None:
            return await _send((await slot.get()), call)
        async with self._open() as stack:  # no caller-owned slot: a stack for this call alone
            return await _send(stack, call)


async def _send(stack: CallStack, call: Call) -> SDKMessage:
    watcher = _Watcher()
    message = await stack.top.send(call, watcher)
    return SDKMessage(
        id=message.id,
        model=message.model or call.model,
        content=[SDKTextBlock(message.text)],
        usage=message.usage,
        stop_reason=message.stop_reason,
        cached=watcher.served_from_cache,
        attempts=watcher.attempts,
        request_id=message.request_id,
    )


class EngineClient:
    """What ``AsyncAgentOrchestrator.async_client`` is: ``messages.create`` on the call stack.

    It holds no resources itself (the stack is opened per call, or kept by the
    orchestrator's slot), so building it costs nothing and ``close()`` is cheap.

    Args:
        open_stack: opens a call stack for a call made outside any slot.
        slot: the slot calls should use now, if any.
    """

    def __init__(self, open_stack: OpenStack, slot: Callable[[], StackSlot | None]) -> None:
        self.messages = _Messages(open_stack, slot)

    def __repr__(self) -> str:
        return "EngineClient()"
