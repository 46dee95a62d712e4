"""The call stack, assembled: recording → response cache → resilience → HTTP client.

Why one place: the order of the layers is the design (a cache hit must not
take a concurrency slot; a retry must not be recorded as a call of its own;
every call, served or not, is recorded once), so it is written down once, here,
and every entry point gets the same stack. Each layer is an object with one
method, ``send(call, observer)`` (``_call``), wrapping the next.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ._api._breaker import BreakerKey, BreakerRegistry, BreakerState
from ._api._client import MessagesClient
from ._api._ratelimit import AdaptiveLimiter
from ._api._resilience import ResilienceLayer
from ._api._retry import RetryPolicy
from ._backend import Backend, open_base_url
from ._cache._layer import CacheLayer
from ._cache._policy import ResponseCache, open_response_cache
from ._call import Layer
from ._config import Config
from ._events import BreakerStateChanged, ConcurrencyChanged, Event
from ._record import RecordingLayer

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from .simulator import SimulatorConfig

__all__ = ["TRANSPORT_URL", "CallStack", "open_call_stack"]

#: Where requests "go" when a transport answers them in-process.
TRANSPORT_URL = "http://transport.invalid"


@dataclass(frozen=True, slots=True)
class CallStack:
    """An open call stack and the parts of it worth looking at.

    Attributes:
        top: where calls go in (the recording layer).
        resilience: retries, breakers and the adaptive limiter (for statistics).
        response_cache: the response cache (counters, policy).
        base_url: where requests go.
    """

    top: Layer
    resilience: ResilienceLayer
    response_cache: ResponseCache
    base_url: str


@asynccontextmanager
async def open_call_stack(
    config: Config,
    backend: Backend,
    emit: Callable[[Event], object],
    *,
    max_concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    simulator: SimulatorConfig | None = None,
    rng: random.Random | None = None,
    no_cache: bool = False,
) -> AsyncIterator[CallStack]:
    """Open every layer for ``backend`` (starting the embedded simulator if it is one).

    Args:
        config: the loaded config (``api``, ``retry``, ``circuit_breaker``, ``cache``).
        backend: where requests go.
        emit: receives the engine-wide events (breakers, concurrency, calls).
        max_concurrency: requests in flight at most, and the pool's size.
        transport: an httpx transport answering in-process (tests).
        simulator: settings of the embedded simulator.
        rng: the retry jitter's source.
        no_cache: ``--no-cache``.
    """
    async with AsyncExitStack() as stack:
        if transport is not None and backend.kind == "simulator":
            base_url = TRANSPORT_URL  # a transport answers: nothing to start
        else:
            base_url = await stack.enter_async_context(open_base_url(backend, simulator))
        client = await stack.enter_async_context(
            MessagesClient(
                base_url=base_url,
                api_key=backend.api_key,
                auth=backend.auth,
                version=backend.version if backend.kind != "simulator" else config.api.version,
                connect_timeout_s=config.api.connect_timeout_s,
                read_timeout_s=config.api.read_timeout_s,
                max_connections=max_concurrency,
                transport=transport,
            )
        )

        def breaker_changed(key: BreakerKey, old: BreakerState, new: BreakerState) -> None:
            emit(BreakerStateChanged(key, old, new, anyio.current_time()))

        def concurrency_changed(value: int, reason: str) -> None:
            emit(ConcurrencyChanged(value, reason, anyio.current_time()))

        resilience = ResilienceLayer(
            client,
            base_url=client.base_url,
            policy=RetryPolicy.from_config(config.retry),
            breakers=BreakerRegistry(config.circuit_breaker, on_state_change=breaker_changed),
            limiter=AdaptiveLimiter(max_concurrency, on_change=concurrency_changed),
            rng=rng,
        )
        response_cache = await stack.enter_async_context(
            open_response_cache(config, no_cache=no_cache)
        )
        top = RecordingLayer(CacheLayer(resilience, response_cache), emit)
        yield CallStack(top, resilience, response_cache, client.base_url)
