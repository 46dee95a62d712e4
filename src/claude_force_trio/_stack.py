"""The call stack, assembled: recording → response cache → budgets → resilience → HTTP client.

With a Redis to coordinate through (:func:`coordination_url`), the response
cache's single-flight, the breakers and the request pacing are shared with
every process using it (``_coord``, docs/scaling-out.md).

Why one place: the order of the layers is the design (a cache hit must not
take a concurrency slot nor reserve any budget; one reservation covers a
call's retries; a retry must not be recorded as a call of its own;
every call, served or not, is recorded once), so it is written down once, here,
and every entry point gets the same stack. Each layer is an object with one
method, ``send(call, observer)`` (``_call``), wrapping the next.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from ._api._breaker import BreakerKey, BreakerRegistry, BreakerState
from ._api._ratelimit import AdaptiveLimiter
from ._api._resilience import ResilienceLayer
from ._api._retry import RetryPolicy
from ._backend import Backend, serve_simulator_url
from ._budget import BudgetLayer
from ._cache._layer import CacheLayer
from ._cache._policy import ResponseCache, open_response_cache
from ._call import Call, CallObserver, Layer
from ._config import Config
from ._events import BreakerStateChanged, ConcurrencyChanged, Event
from ._pricing import DEFAULT_PRICING, Pricing
from ._record import RecordingLayer

if TYPE_CHECKING:
    import httpx

    from ._api._batch_layer import BatchLayer
    from ._api._batches import BatchesClient
    from ._coord._open import Coordination
    from ._journal._ledger import DayLedger
    from ._types import MessageResult
    from .simulator import SimulatorConfig

__all__ = [
    "SIMULATOR_KEY",
    "TRANSPORT_URL",
    "CallStack",
    "OnDemandClient",
    "coordination_url",
    "open_call_stack",
    "open_day_ledger",
]

#: Where requests "go" when a transport answers them in-process.
TRANSPORT_URL = "http://transport.invalid"
#: What breakers key on for the embedded simulator, whose port is known only once it runs.
SIMULATOR_KEY = "simulator:embedded"


class OnDemandClient:
    """The bottom layer: the HTTP client, opened by the first call that reaches it.

    Why on demand: a run answered wholly from the response cache never needs a
    connection pool, httpx or (with no key) the embedded simulator; opening
    them only when a call first gets past the cache keeps such a run's process
    start cheap. Concurrent first calls wait for one opening.

    Args:
        open_client: opens the client (and whatever it talks to) once.
    """

    def __init__(self, open_client: Callable[[], Awaitable[Layer]]) -> None:
        self._open = open_client
        self._client: Layer | None = None
        self._lock = anyio.Lock()

    @property
    def opened(self) -> bool:
        """Whether a call has needed the client yet."""
        return self._client is not None

    def send(self, call: Call, observer: CallObserver) -> Coroutine[Any, Any, MessageResult]:
        """Send ``call`` through the client, opening it first if this is the first call.

        Once open, the call is the client's coroutine as it is (see ``Layer``).
        """
        client = self._client
        if client is not None:
            return client.send(call, observer)
        return self._send_opening(call, observer)

    async def _send_opening(self, call: Call, observer: CallObserver) -> MessageResult:
        client = await self._opened()
        return await client.send(call, observer)

    async def _opened(self) -> Layer:
        """The client, opened by the first caller; the callers meanwhile wait for it.

        The first caller takes the lock without a trip through the scheduler.
        It holds one of the limiter's slots (this is the bottom layer), so a
        checkpoint here would let every other ready step run down to the
        limiter and park there with its whole call stack (~13 KB a step: a
        10,000-step fan-in peaked at 176 MB RSS instead of 74), although
        opening a client over a transport never has to wait.
        """
        try:
            self._lock.acquire_nowait()
        except anyio.WouldBlock:
            await self._lock.acquire()
        try:
            if self._client is None:
                self._client = await self._open()
            return self._client
        finally:
            self._lock.release()


@dataclass(frozen=True, slots=True)
class CallStack:
    """An open call stack and the parts of it worth looking at.

    Attributes:
        top: where calls go in (the recording layer).
        resilience: retries, breakers and the adaptive limiter (for statistics).
        response_cache: the response cache (counters, policy).
        base_url: where requests go (``simulator:embedded`` for the embedded simulator,
            whose port is known only once a call starts it).
        coordination: what is shared with other processes through Redis, or ``None``.
        pricing: the config's prices (``pricing`` over the dated table), which
            every cost of this stack is computed at.
        batches: the bottom layer in batch mode (``docs/batches.md``), else ``None``.
    """

    top: Layer
    resilience: ResilienceLayer
    response_cache: ResponseCache
    base_url: str
    coordination: Coordination | None = None
    pricing: Pricing = DEFAULT_PRICING
    batches: BatchLayer | None = None


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
    mode: str = "live",
) -> AsyncIterator[CallStack]:
    """Open the layers for ``backend``; the client (and simulator) open on the first call.

    Args:
        config: the loaded config (``api``, ``retry``, ``circuit_breaker``, ``cache``).
        backend: where requests go.
        emit: receives the engine-wide events (breakers, concurrency, calls).
        max_concurrency: requests in flight at most, and the pool's size.
        transport: an httpx transport answering in-process (tests).
        simulator: settings of the embedded simulator.
        rng: the retry jitter's source.
        no_cache: ``--no-cache``.
        mode: ``"live"``, or ``"batch"``: a :class:`BatchLayer` answers in place of
            resilience and the client (``docs/batches.md``).

    Raises:
        ValueError: ``mode`` is neither.
    """
    if mode not in ("live", "batch"):
        raise ValueError(f"mode must be 'live' or 'batch', not {mode!r}")
    failure: BaseException | None = None
    async with anyio.create_task_group() as services:
        try:
            async with AsyncExitStack() as stack:

                async def open_client() -> Layer:
                    # Imported here: a run answered from the cache never loads httpx.
                    from ._api._client import MessagesClient

                    if backend.kind != "simulator":
                        assert backend.base_url is not None
                        base_url = backend.base_url
                    elif transport is not None:
                        base_url = TRANSPORT_URL  # a transport answers: nothing to start
                    else:
                        base_url = await services.start(serve_simulator_url, simulator)
                    return await stack.enter_async_context(
                        MessagesClient(
                            base_url=base_url,
                            api_key=backend.api_key,
                            auth=backend.auth,
                            version=(
                                backend.version
                                if backend.kind != "simulator"
                                else config.api.version
                            ),
                            connect_timeout_s=config.api.connect_timeout_s,
                            read_timeout_s=config.api.read_timeout_s,
                            max_connections=max_concurrency,
                            transport=transport,
                        )
                    )

                batches = None
                if mode == "batch":
                    batches = await stack.enter_async_context(
                        _batch_bottom(config, backend, services, transport, simulator, rng)
                    )
                opened = await stack.enter_async_context(
                    _stack_of(
                        config,
                        backend,
                        emit,
                        OnDemandClient(open_client),
                        max_concurrency=max_concurrency,
                        rng=rng,
                        no_cache=no_cache,
                        bottom=batches,
                    )
                )
                yield opened if batches is None else replace(opened, batches=batches)
        except BaseException as exc:  # re-raised below, outside the services' task group
            failure = exc
        services.cancel_scope.cancel()
    if failure is not None:
        try:
            raise failure
        finally:
            del failure


@asynccontextmanager
async def _stack_of(
    config: Config,
    backend: Backend,
    emit: Callable[[Event], object],
    client: OnDemandClient,
    *,
    max_concurrency: int,
    rng: random.Random | None,
    no_cache: bool,
    bottom: Layer | None = None,
) -> AsyncIterator[CallStack]:
    """The layers above the client: resilience, the response cache, recording.

    ``bottom``, when given (batch mode), is what budgets wrap instead of resilience.
    """
    async with AsyncExitStack() as stack:

        def breaker_changed(key: BreakerKey, old: BreakerState, new: BreakerState) -> None:
            emit(BreakerStateChanged(key, old, new, anyio.current_time()))

        def concurrency_changed(value: int, reason: str) -> None:
            emit(ConcurrencyChanged(value, reason, anyio.current_time()))

        base_url = backend.base_url if backend.kind != "simulator" else SIMULATOR_KEY
        coord = None
        if (url := coordination_url(config)) is not None:
            from ._coord._open import open_coordination

            coord = await stack.enter_async_context(open_coordination(url, config))
        # An embedded simulator or an in-process transport is this process's own:
        # its limits and health are not shared with anyone.
        limits = coord if base_url not in (None, SIMULATOR_KEY, TRANSPORT_URL) else None
        resilience = ResilienceLayer(
            client,
            base_url=base_url or SIMULATOR_KEY,
            policy=RetryPolicy.from_config(config.retry),
            breakers=BreakerRegistry(config.circuit_breaker, on_state_change=breaker_changed),
            limiter=AdaptiveLimiter(max_concurrency, on_change=concurrency_changed),
            rng=rng,
            pacer=limits.pacer if limits is not None else None,
            shared_breakers=limits.breakers if limits is not None else None,
        )
        response_cache = await stack.enter_async_context(
            open_response_cache(config, no_cache=no_cache)
        )
        # Only a store other processes read can carry one process's answer to them.
        store = response_cache.backend
        shared_store = store is not None and store.name == "redis"
        flights = coord.flights if coord is not None and shared_store else None
        pricing = Pricing.from_overrides(config.pricing)
        response_cache.pricing = pricing
        budgets = BudgetLayer(
            resilience if bottom is None else bottom,
            ledger=await stack.enter_async_context(open_day_ledger(config)),
            day_limit_usd=config.budget.per_day_usd,
            hold_ttl_s=hold_ttl_s(config),
            pricing=pricing,
        )
        top = RecordingLayer(CacheLayer(budgets, response_cache, flights), emit)
        yield CallStack(top, resilience, response_cache, base_url or SIMULATOR_KEY, coord, pricing)


@asynccontextmanager
async def _batch_bottom(
    config: Config,
    backend: Backend,
    services: anyio.abc.TaskGroup,
    transport: httpx.AsyncBaseTransport | None,
    simulator: SimulatorConfig | None,
    rng: random.Random | None,
) -> AsyncIterator[BatchLayer]:
    """The bottom of a batch-mode stack; its client (and simulator) open on the first call."""
    from ._api._batch_layer import open_batch_layer

    async def open_batches() -> BatchesClient:
        from ._api._batches import BatchesClient

        if backend.kind != "simulator":
            assert backend.base_url is not None
            base_url = backend.base_url
        elif transport is not None:
            base_url = TRANSPORT_URL
        else:
            base_url = await services.start(serve_simulator_url, simulator)
        return BatchesClient(
            base_url=base_url,
            api_key=backend.api_key,
            auth=backend.auth,
            version=backend.version if backend.kind != "simulator" else config.api.version,
            connect_timeout_s=config.api.connect_timeout_s,
            read_timeout_s=config.api.read_timeout_s,
            max_connections=8,
            transport=transport,
        )

    async with open_batch_layer(
        open_batches, policy=RetryPolicy.from_config(config.retry), rng=rng
    ) as layer:
        yield layer


def coordination_url(config: Config) -> str | None:
    """The Redis URL processes coordinate through: ``coordination.redis_url``, else the cache's."""
    if config.coordination.redis_url:
        return config.coordination.redis_url
    return config.cache.redis_url if config.cache.backend == "redis" else None


def hold_ttl_s(config: Config) -> float:
    """How long a day hold may stay unsettled: the longest a call can take, retries included."""
    attempts = config.retry.max_attempts
    return attempts * (config.api.read_timeout_s + config.retry.max_delay_s) + 60.0


@asynccontextmanager
async def open_day_ledger(config: Config) -> AsyncIterator[DayLedger | None]:
    """The shared ledger of the UTC day's spending, when ``budget.per_day_usd`` is set.

    Redis when processes coordinate through one (:func:`coordination_url`),
    else the SQLite file beside the run journal; ``None`` with no day cap.
    """
    if config.budget.per_day_usd is None:
        yield None
        return
    url = coordination_url(config)
    if url is not None:
        from ._journal._ledger_redis import open_redis_ledger

        async with open_redis_ledger(url) as ledger:
            yield ledger
    else:
        from ._journal._ledger import open_sqlite_ledger

        async with open_sqlite_ledger() as sqlite_ledger:
            yield sqlite_ledger
