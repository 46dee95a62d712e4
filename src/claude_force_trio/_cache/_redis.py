"""``RedisCache``: the response cache shared by several machines, on a Redis server.

Same contract as ``DiskCache`` (:class:`~._cache.CacheBackend`): JSON values
validated on read, a corrupt or expired value is a miss and is deleted, counts
are kept in memory and flushed with the next write. Differences, and why:

* redis-py is blocking, so every command runs through ``anyio.to_thread`` under
  a ``CapacityLimiter`` (the connection pool is thread-safe). A hit therefore
  costs a thread hop plus a network round trip (~0.2 ms on loopback). A batch
  of entries (``set_many``) is one pipeline: one hop, one round trip.
* TTL is Redis expiry (``SET … EX``), plus the same check against our clock on
  read, so entries written by a machine with a skewed clock still age out and
  tests can run in virtual time.
* There is no size cap of ours: Redis enforces memory with its own
  ``maxmemory`` and ``maxmemory-policy`` (use ``allkeys-lru``); ``evictions`` in
  the stats is the server's ``evicted_keys``, which covers the whole server.
* redis is an optional dependency (extra ``redis``), imported only when this
  backend is opened.

Keys: ``{prefix}:r:{sha256}`` for entries, ``{prefix}:stats`` (a hash) for counters.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread

from .._errors import ConfigError
from ._entry import COUNTERS, CachedResponse, CacheStats, Clock, default_clock, expired
from ._threaded import ThreadedStore

__all__ = ["RedisCache"]

log = logging.getLogger("claude_force_trio.cache")

_INSTALL = "the redis cache backend needs redis-py: pip install 'claude-force-trio[redis]'"


class RedisCache(ThreadedStore):
    """Cached responses in Redis. Create it with :meth:`open`.

    Args:
        client: a ``redis.Redis`` client (bytes responses).
        ttl_s: expiry of new entries, and the age past which a read is a miss.
        clock: wall-clock seconds, for the TTL check on read.
        prefix: namespace for every key this cache writes.
        max_threads: how many commands may run in worker threads at once.
    """

    name = "redis"

    def __init__(
        self,
        client: Any,
        *,
        ttl_s: float | None = 24 * 3600.0,
        clock: Clock = default_clock,
        prefix: str = "cft:v1",
        max_threads: int = 8,
    ) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self._clock = clock
        self.prefix = prefix
        super().__init__(max_threads=max_threads)

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RedisCache:
        """Connect to ``url`` and check the server answers.

        Args:
            url: ``redis://host:port/db``.
            **kwargs: the constructor's keyword arguments.

        Raises:
            ConfigError: redis-py is not installed, or no server answers at ``url``.
        """
        try:
            import redis
        except ImportError:
            raise ConfigError("cache.backend", _INSTALL) from None
        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        try:
            await anyio.to_thread.run_sync(client.ping)
        except redis.RedisError as exc:
            client.close()
            raise ConfigError("cache.redis_url", f"no Redis server answers: {exc}") from exc
        return cls(client, **kwargs)

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return f"{self.prefix}:r:{key}"

    @property
    def _stats_key(self) -> str:
        return f"{self.prefix}:stats"

    async def get(self, key: str) -> CachedResponse | None:
        """The live entry for ``key``; ``None`` when missing, expired or corrupt (then deleted)."""
        try:
            data = await self._in_thread(self._redis.get, self._key(key))
        except Exception as exc:  # a server that fails is a cache that misses
            log.warning("cache: redis read failed: %s", exc)
            return None
        if data is None:
            return None
        try:
            entry = CachedResponse.from_json(data, key)
        except ValueError as exc:
            log.warning("cache: removing unreadable entry %s… (%s)", key[:12], exc)
            await self._delete_if_same(key, data)
            return None
        if expired(entry, self.ttl_s, self._clock):
            self._tally.add("expired")
            await self._delete_if_same(key, data)
            return None
        return entry

    async def _delete_if_same(self, key: str, data: bytes) -> None:
        # Only if unchanged: another machine may have just stored a good entry.
        try:
            await self._in_thread(self._delete_if_same_sync, self._key(key), data)
        except Exception as exc:
            log.warning("cache: could not remove entry %s…: %s", key[:12], exc)

    def _delete_if_same_sync(self, name: str, data: bytes) -> None:
        def remove(pipe: Any) -> None:
            if pipe.get(name) == data:
                pipe.multi()
                pipe.delete(name)

        self._redis.transaction(remove, name)

    def _write_sync(self, items: Sequence[tuple[str, bytes]], deltas: Mapping[str, int]) -> None:
        ttl = max(1, round(self.ttl_s)) if self.ttl_s is not None else None
        pipe = self._redis.pipeline(transaction=True)
        for key, data in items:
            pipe.set(self._key(key), data, ex=ttl)
        for counter, amount in deltas.items():
            pipe.hincrby(self._stats_key, counter, amount)
        pipe.execute()

    def _persist_counts(self, deltas: Mapping[str, int]) -> None:
        self._write_sync((), deltas)

    async def statistics(self) -> CacheStats:
        """Flush, then count entries and bytes (SCAN over our prefix) and read the counters."""
        await self.flush()
        return await self._in_thread(self._statistics_sync)

    def _scan(self) -> list[bytes]:
        return list(self._redis.scan_iter(match=f"{self.prefix}:r:*", count=1000))

    def _statistics_sync(self) -> CacheStats:
        names = self._scan()
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.strlen(name)
        sizes = pipe.execute() if names else []
        raw = self._redis.hgetall(self._stats_key)
        counts = {c: int(raw.get(c.encode(), 0)) for c in COUNTERS}
        info = self._redis.info("stats")
        pool = self._redis.connection_pool.connection_kwargs
        where = f"redis://{pool.get('host', '?')}:{pool.get('port', '?')}/{pool.get('db', 0)}"
        return CacheStats(
            backend=self.name,
            location=where,
            entries=len(names),
            size_bytes=sum(int(s) for s in sizes),
            hits=counts["hits"],
            misses=counts["misses"],
            evictions=int(info.get("evicted_keys", 0)),
            expired=counts["expired"],
            saved_usd=counts["saved_nanousd"] / 1e9,
        )

    async def clear(self) -> int:
        """Delete every entry under our prefix and the counters; return how many entries went."""
        self._tally.take()
        return await self._in_thread(self._clear_sync)

    def _clear_sync(self) -> int:
        names = self._scan()
        removed = 0
        for start in range(0, len(names), 500):
            removed += int(self._redis.delete(*names[start : start + 500]))
        self._redis.delete(self._stats_key)
        return removed

    async def aclose(self) -> None:
        """Flush the counters and close the connection pool."""
        await self.flush()
        await self._in_thread(functools.partial(self._redis.close))
