"""When to use the response cache, and ``ResponseCache``: what the cache layer works with.

The call stack's :class:`~._layer.CacheLayer` does the work (key →
single-flight → lookup → the next layer → store); this module holds what it
decides with and what it counts:

* **policy** (:class:`CachePolicy`): ``cache.enabled``, ``features.cache_enabled``,
  per-agent ``"cache": false``, ``cache.exclude_agents`` and ``--no-cache`` all
  mean *neither read nor write* for that request;
* **what is stored**: only complete answers (``end_turn``, ``stop_sequence``;
  ``max_tokens`` only when asked), because a truncated or tool-calling answer
  replayed forever is worse than a new call; stores are write-behind
  (:mod:`._writer`) when the cache was opened with :func:`open_response_cache`;
* **accounting**: a served answer (a hit, or a follower of a shared flight)
  comes back with zero usage — it cost nothing — and what it *would* have cost
  (``cost_usd`` of the stored usage) is added to the cache's saved-USD counter;
* **the semantic cache** (:func:`semantic_thresholds`): which agents may be
  served the answer of a task close to one asked before (docs/semantic-cache.md);
  it is opened beside the store only when one may.

It also holds :func:`worth_prompt_caching`, the rule for marking the system
prefix with ``cache_control`` (the API's own prompt cache), since both caches
answer the same question: what is worth keeping.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from .._config import CacheConfig, Config
from .._errors import ConfigError
from .._pricing import DEFAULT_PRICING, Pricing, resolve_model
from .._types import MessageResult
from ._entry import CacheBackend, CachedResponse, Clock, default_clock
from ._semantic_use import SemanticIndex
from ._singleflight import SingleFlight
from ._writer import WriteBehind, open_write_behind

__all__ = [
    "STORABLE_STOP_REASONS",
    "CachePolicy",
    "ResponseCache",
    "min_cacheable_tokens",
    "open_backend",
    "open_response_cache",
    "semantic_thresholds",
    "worth_prompt_caching",
]

#: Answers complete enough to replay. A ``MessageResult`` keeps its content
#: blocks, so a tool loop's ``tool_use`` and ``pause_turn`` turns replay whole
#: (each turn's key holds the turns and tool results before it).
STORABLE_STOP_REASONS = frozenset({"end_turn", "stop_sequence", "tool_use", "pause_turn"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Which requests may use the response cache, and which answers may be stored.

    Args:
        enabled: the cache is on at all (config switches and ``--no-cache`` combined).
        excluded: agents that never use it (``exclude_agents`` and ``"cache": false``).
        store_truncated: also store answers cut off by ``max_tokens``.
    """

    enabled: bool = True
    excluded: frozenset[str] = frozenset()
    store_truncated: bool = False

    @classmethod
    def from_config(
        cls, config: Config, *, no_cache: bool = False, store_truncated: bool = False
    ) -> CachePolicy:
        """The policy a config and the ``--no-cache`` flag describe."""
        opted_out = {name for name, agent in config.agents.items() if not agent.cache}
        return cls(
            enabled=config.cache.enabled and config.features.cache_enabled and not no_cache,
            excluded=frozenset(config.cache.exclude_agents) | frozenset(opted_out),
            store_truncated=store_truncated,
        )

    def uses_cache(self, agent: str | None) -> bool:
        """Whether a request of ``agent`` may be served from, and stored in, the cache."""
        return self.enabled and (agent is None or agent not in self.excluded)

    def storable(self, message: MessageResult) -> bool:
        """Whether ``message`` is a complete answer worth replaying."""
        if message.stop_reason == "max_tokens":
            return self.store_truncated
        return message.stop_reason in STORABLE_STOP_REASONS


def semantic_thresholds(config: Config, policy: CachePolicy) -> dict[str, float]:
    """Agent → threshold, for every agent whose calls may be served a semantic match.

    An agent's own ``"cache": {"semantic": …}`` decides for it; an agent that
    says nothing follows ``cache.semantic.enabled`` unless it has tools (its
    answers depend on what they return; the loader refuses one that asks). An
    agent the response cache leaves out (``"cache": false``, ``exclude_agents``,
    the cache off) never has it: a match is an answer of that store.

    Args:
        config: the loaded config.
        policy: the response cache's policy for this run (``--no-cache`` included).
    """
    top = config.cache.semantic
    thresholds: dict[str, float] = {}
    for name, agent in config.agents.items():
        own = agent.semantic_cache
        wanted = top.enabled if own is None else own.enabled
        if not wanted or agent.tools or not policy.uses_cache(name):
            continue
        threshold = own.threshold if own is not None else None
        thresholds[name] = top.threshold if threshold is None else threshold
    return thresholds


class ResponseCache:
    """A store, its policy and its counters: what :class:`~._layer.CacheLayer` works with.

    Args:
        backend: where entries live; ``None`` turns the cache off.
        policy: which requests use it.
        clock: wall-clock seconds stamped on new entries (the backend's TTL clock).

    Attributes:
        flights: identical requests in flight, shared (see :mod:`._singleflight`).
        writer: the write-behind, while :func:`open_response_cache` runs it;
            without one, each answer is written before the step goes on.
        semantic: the semantic cache, when some agent has it on (opened by
            :func:`open_response_cache`), else ``None``.
        hits: requests served without an API call in this session (followers included).
        misses: requests that went to the API through this cache.
        saved_usd: what the served requests would have cost.
        pricing: the prices that ``saved_usd`` is counted at (the engine's).
    """

    def __init__(
        self,
        backend: CacheBackend | None,
        policy: CachePolicy | None = None,
        *,
        clock: Clock = default_clock,
    ) -> None:
        self.backend = backend
        self.policy = policy or CachePolicy()
        self._clock = clock
        # (answer, kept: not a live answer, similarity of a semantic match or None)
        self.flights: SingleFlight[str, tuple[MessageResult, bool, float | None]] = SingleFlight()
        self.writer: WriteBehind | None = None
        self.semantic: SemanticIndex | None = None
        self.pricing: Pricing = DEFAULT_PRICING
        self.hits = 0
        self.misses = 0
        self.saved_usd = 0.0

    def applies_to(self, agent: str | None) -> bool:
        """Whether a request of ``agent`` is read from and written to this cache."""
        return self.backend is not None and self.policy.uses_cache(agent)

    async def lookup(self, key: str) -> CachedResponse | None:
        """The answer kept for ``key``: handed to the writer in this process, else stored.

        A miss is counted here; a hit is counted by :meth:`count_served`, which every
        request answered without an API call goes through (followers too).
        """
        entry = await self.kept(key)
        if entry is None:
            self.count_miss()
        return entry

    async def kept(self, key: str) -> CachedResponse | None:
        """:meth:`lookup` without counting a miss (the layer counts one request once)."""
        assert self.backend is not None
        writer = self.writer
        entry = writer.pending(key) if writer is not None else None
        if entry is None:
            entry = await self.backend.get(key)
        return entry

    def count_miss(self) -> None:
        """Count a request that found no answer to serve (exact nor semantic)."""
        assert self.backend is not None
        self.misses += 1
        self.backend.record(hit=False)

    async def store(self, key: str, message: MessageResult) -> None:
        """Keep ``message`` under ``key`` if it is a complete answer.

        With the writer running this only hands the entry over; without it
        the write is shielded: the answer is paid for, and a cancellation
        arriving now must not throw it away.
        """
        assert self.backend is not None
        if not self.policy.storable(message):
            return
        entry = CachedResponse.from_message(message, self._clock())
        writer = self.writer
        if writer is not None and writer.running:
            await writer.put(key, entry)
            return
        with anyio.CancelScope(shield=True):
            await self.backend.set(key, entry)

    def count_served(self, message: MessageResult, start: float) -> tuple[MessageResult, float]:
        """Count a request answered without an API call.

        Args:
            message: the stored answer, or the one an identical request paid for.
            start: when the request reached the cache (``anyio.current_time()``).

        Returns:
            The answer with zero usage (it cost nothing) and its elapsed time,
            and the USD it saved.
        """
        assert self.backend is not None
        saved = self.pricing.cost_usd(message.usage, message.model) or 0.0
        self.hits += 1
        self.saved_usd += saved
        self.backend.record(hit=True, saved_usd=saved)
        served = MessageResult(
            id=message.id,
            model=message.model,
            text=message.text,
            stop_reason=message.stop_reason,
            stop_sequence=message.stop_sequence,
            elapsed_s=anyio.current_time() - start,
            content=message.content,
        )
        return served, saved

    async def aclose(self) -> None:
        """Flush the counters and close the backend."""
        if self.backend is not None:
            await self.backend.aclose()


async def open_backend(
    cache: CacheConfig, *, directory: Path | None = None, clock: Clock = default_clock
) -> CacheBackend:
    """Open the backend ``cache`` names (``disk`` or ``redis``).

    Args:
        cache: the config's ``cache`` section.
        directory: overrides ``cache.directory`` and ``$CFT_HOME/cache`` (disk only).
        clock: the TTL clock.

    Raises:
        ConfigError: redis without ``redis_url``, without the ``redis`` extra, or
            with no server answering.
    """
    ttl_s = cache.ttl_hours * 3600.0
    if cache.backend == "redis":
        from ._redis import RedisCache

        return await RedisCache.open(_redis_url(cache), ttl_s=ttl_s, clock=clock)
    from ._disk import DiskCache

    size = int(cache.max_size_mb * 2**20)
    where = _disk_directory(cache, directory)
    return await DiskCache.open(where, ttl_s=ttl_s, size_limit_bytes=size, clock=clock)


def _redis_url(cache: CacheConfig) -> str:
    if not cache.redis_url:
        raise ConfigError("cache.redis_url", 'required when cache.backend is "redis"')
    return cache.redis_url


def _disk_directory(cache: CacheConfig, directory: Path | None) -> Path:
    from ._disk import default_cache_dir

    return directory or cache.directory or default_cache_dir()


def _open_semantic(
    cache: CacheConfig, thresholds: dict[str, float], directory: Path | None
) -> AbstractAsyncContextManager[SemanticIndex]:
    """The semantic cache beside the store: the same Redis, or ``semantic.db`` in its directory.

    Raises:
        ConfigError: (on entering) the ``semantic`` extra is not installed.
    """
    from ._semantic import open_semantic_cache  # numpy and the model load only when asked for

    ttl_s = cache.ttl_hours * 3600.0
    if cache.backend == "redis":
        return open_semantic_cache(thresholds, redis_url=_redis_url(cache), ttl_s=ttl_s)
    where = _disk_directory(cache, directory)
    return open_semantic_cache(thresholds, directory=where, ttl_s=ttl_s)


@asynccontextmanager
async def open_response_cache(
    config: Config,
    *,
    no_cache: bool = False,
    store_truncated: bool = False,
    directory: Path | None = None,
    clock: Clock = default_clock,
) -> AsyncIterator[ResponseCache]:
    """A :class:`ResponseCache` for ``config``, with its writer running; closed on exit.

    Stores are write-behind (:mod:`._writer`): the writer task runs in its own
    task group for as long as the context; on exit everything pending is
    written (shielded, bounded) and the backend closed (counters flushed).
    When the policy turns the cache off, no store is opened at all. The
    semantic cache is opened beside the store only when some agent has it on
    (:func:`semantic_thresholds`), and closed first.

    Args:
        config: the loaded config (``cache``, ``features``, agents' ``cache``).
        no_cache: the ``--no-cache`` flag: neither read nor write.
        store_truncated: also store answers cut off by ``max_tokens``.
        directory: the disk cache's directory, overriding config and ``$CFT_HOME``.
        clock: the TTL clock.

    Raises:
        ConfigError: the store cannot be opened, or the semantic cache is on
            without the ``semantic`` extra.
    """
    policy = CachePolicy.from_config(config, no_cache=no_cache, store_truncated=store_truncated)
    backend = None
    if policy.enabled:
        backend = await open_backend(config.cache, directory=directory, clock=clock)
    cache = ResponseCache(backend, policy, clock=clock)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_shielded_close, cache)
        if backend is not None:
            cache.writer = await stack.enter_async_context(open_write_behind(backend, clock=clock))
            if thresholds := semantic_thresholds(config, policy):
                semantic = _open_semantic(config.cache, thresholds, directory)
                cache.semantic = await stack.enter_async_context(semantic)
        yield cache


async def _shielded_close(cache: ResponseCache) -> None:
    with anyio.CancelScope(shield=True):
        await cache.aclose()


# -- prompt caching (the API's) ------------------------------------------------------

#: The API's minimum cacheable prefix, in tokens, by model-id fragment; first match wins.
#: Sources disagree at the edges (checked 2026-11): these follow the prompt-caching
#: docs' table. Unknown models get 1024, the most common floor.
_MIN_CACHEABLE: tuple[tuple[str, int], ...] = (
    ("haiku-4-5", 4096),
    ("opus-4-5", 4096),
    ("opus-4-6", 4096),
    ("opus-4-7", 4096),
    ("mythos-preview", 4096),
    ("haiku", 2048),  # Haiku 3 and 3.5
)


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix, in tokens, the API caches for ``model`` (alias or id)."""
    name = resolve_model(model).lower()
    return next((tokens for part, tokens in _MIN_CACHEABLE if part in name), 1024)


def worth_prompt_caching(system_text: str, model: str) -> bool:
    """Whether a system prefix is long enough for the API to cache it.

    Below the floor a ``cache_control`` marker does nothing at all (no write, no
    read, no error), so marking only what clears it keeps requests honest and
    the key stable. Tokens are estimated as characters ÷ 4, as the simulator counts.

    Args:
        system_text: the whole system prefix (definition and contract).
        model: the model alias or id the request goes to.
    """
    return math.ceil(len(system_text) / 4) >= min_cacheable_tokens(model)
