"""``open_semantic_cache``: the semantic cache beside the response cache, on its backend.

The wiring passes what the response cache uses: its directory (vectors go to
``<directory>/semantic.db``) or its Redis URL (the same server, a key prefix
of its own). The model is not loaded here — on the first lookup, in a worker
thread — so opening costs one SQLite open or one Redis ``PING``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from ..._errors import ConfigError
from .._entry import Clock, default_clock
from ._cache import DEFAULT_MAX_ENTRIES, SemanticCache
from ._embedder import MISSING_EXTRA, Embedder, WordLlamaEmbedder, model_files, semantic_available

if TYPE_CHECKING:
    from ._store import VectorStore

__all__ = ["open_semantic_cache"]

_REDIS_INSTALL = "the redis cache backend needs redis-py: pip install 'claude-force-trio[redis]'"


def _open_store(
    directory: Path | None,
    redis_url: str | None,
    *,
    dim: int,
    namespace: str,
    ttl_s: float | None,
    clock: Clock,
    max_entries: int,
) -> VectorStore:
    """The store next to the response cache (blocking: run it in a worker thread)."""
    if directory is not None:
        from ._sqlite import SQLiteVectors

        return SQLiteVectors(
            directory,
            dim=dim,
            max_entries=max_entries,
            ttl_s=ttl_s,
            clock=clock,
            namespace=namespace,
        )
    try:
        import redis
    except ImportError:
        raise ConfigError("cache.backend", _REDIS_INSTALL) from None
    from ._redis import RedisVectors

    client = redis.Redis.from_url(str(redis_url), socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise ConfigError("cache.redis_url", f"no Redis server answers: {exc}") from exc
    return RedisVectors(client, dim=dim, max_entries=max_entries, ttl_s=ttl_s, namespace=namespace)


@asynccontextmanager
async def open_semantic_cache(
    thresholds: Mapping[str, float],
    *,
    directory: Path | None = None,
    redis_url: str | None = None,
    namespace: str = "cft",
    ttl_s: float | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    clock: Clock = default_clock,
    embedder: Embedder | None = None,
) -> AsyncIterator[SemanticCache]:
    """Open the semantic cache beside the response cache; close its store on exit.

    Args:
        thresholds: agent name -> threshold, only agents with the semantic cache on.
        directory: the disk cache's directory: vectors go to ``<directory>/semantic.db``.
        redis_url: when the response cache is Redis: vectors go to the same Redis.
        namespace: Redis key prefix / table namespace.
        ttl_s: entries older than this are never matched (the cache TTL).
        max_entries: the most entries kept (the oldest are dropped).
        clock: wall-clock seconds, for the TTL (tests inject one).
        embedder: the embedder (default: the model the ``wordllama`` wheel ships).

    Raises:
        ConfigError: the ``semantic`` extra (or redis-py) is missing, or no Redis answers.
        ValueError: not exactly one of ``directory`` and ``redis_url``, or a threshold
            outside (0, 1].
    """
    if embedder is None and not semantic_available():
        raise ConfigError("cache.semantic", MISSING_EXTRA)
    if (directory is None) == (redis_url is None):
        raise ValueError("open_semantic_cache needs exactly one of directory and redis_url")
    for agent, threshold in thresholds.items():
        if not 0 < threshold <= 1:
            raise ValueError(f"the semantic threshold of {agent!r} must be in (0, 1]")
    chosen = embedder if embedder is not None else WordLlamaEmbedder(model_files())
    store = await anyio.to_thread.run_sync(
        lambda: _open_store(
            directory,
            redis_url,
            dim=chosen.dim,
            namespace=namespace,
            ttl_s=ttl_s,
            clock=clock,
            max_entries=max_entries,
        )
    )
    cache = SemanticCache(
        thresholds, store, chosen, ttl_s=ttl_s, clock=clock, max_entries=max_entries
    )
    try:
        yield cache
    finally:
        await cache.aclose()
