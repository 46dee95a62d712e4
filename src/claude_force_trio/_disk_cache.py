"""``DiskCache``: the response cache on one machine, shared by its processes, on diskcache.

**Calling diskcache from trio** (measured here, a 2 KB entry in a cache with
least-recently-used eviction, median of 2000 calls): ``get`` takes 42 µs called
directly and 134 µs through ``trio.to_thread.run_sync``; ``set`` 38 µs direct
and 118 µs threaded. The thread hop would triple the cost of a hit, so **reads
run directly** on the trio thread. They are bounded: with LRU eviction a
``get`` is a small write (it bumps the access time), so it may wait for another
process's SQLite lock; the reading connection's busy timeout is
:data:`READ_TIMEOUT_S` (50 ms), after which the read is retried in a worker
thread. **Writes, removals and counter updates always go through
``trio.to_thread``** under a ``CapacityLimiter``: they are off the hit path, and
a writer can wait on locks for as long as another process holds one.

Layout under the directory: ``responses/`` (the entries: LRU eviction at
``size_limit``, one entry per write, so the cap may be overshot by one entry
while entries of very different sizes churn; diskcache ``expire`` = the TTL)
and ``stats/`` (the counters, never evicted). Values are JSON bytes; a custom
``Disk`` refuses pickled values outright, so a planted pickle in a shared
directory is a corrupt entry, not code we run. Several processes may share the
directory: SQLite (WAL) serialises them, every entry is written in one
transaction, and each read checks the key stored inside the entry.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import diskcache
import trio

from ._cache import (
    COUNTERS,
    CachedResponse,
    CacheStats,
    Clock,
    default_clock,
    expired,
)
from ._threaded_store import ThreadedStore

__all__ = ["READ_TIMEOUT_S", "DiskCache", "default_cache_dir"]

log = logging.getLogger("claude_force_trio.cache")

T = TypeVar("T")

#: SQLite busy timeout of the direct (event-loop) reads: the longest a hit can stall trio.
READ_TIMEOUT_S = 0.05
#: Busy timeout of writes, made in worker threads.
WRITE_TIMEOUT_S = 30.0
_NOT_READ = object()


def default_cache_dir() -> Path:
    """``$CFT_HOME/cache``, with ``CFT_HOME`` defaulting to ``~/.cache/claude-force-trio``."""
    from ._paths import state_home

    return state_home() / "cache"


class _NoPickleDisk(diskcache.Disk):  # type: ignore[misc]
    """A diskcache ``Disk`` that refuses to unpickle: entries are JSON bytes only."""

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise ValueError("refusing a pickled cache value")
        return super().fetch(mode, filename, value, read)


class DiskCache(ThreadedStore):
    """Cached responses in a directory (see the module docstring for the design).

    Args:
        directory: where to keep the cache; created if missing.
        ttl_s: entries older than this (by ``clock``) are misses and are removed;
            ``None`` keeps them until evicted.
        size_limit_bytes: the size cap; least recently *used* entries go first.
        clock: wall-clock seconds, for the TTL; tests pass a fake one.
        max_threads: how many writes may run in worker threads at once.
    """

    name = "disk"

    def __init__(
        self,
        directory: Path,
        *,
        ttl_s: float | None = 24 * 3600.0,
        size_limit_bytes: int = 100 * 2**20,
        clock: Clock = default_clock,
        max_threads: int = 2,
    ) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self._clock = clock
        super().__init__(max_threads=max_threads)
        settings: dict[str, Any] = {
            "eviction_policy": "least-recently-used",
            "size_limit": size_limit_bytes,
            # diskcache culls up to cull_limit LRU entries per write once over the
            # cap — 10 by default, which can throw out the entry just written. One
            # per write keeps eviction exactly least-recently-used.
            "cull_limit": 1,
            "disk": _NoPickleDisk,
        }
        where = str(self.directory / "responses")
        self._reader = diskcache.Cache(where, timeout=READ_TIMEOUT_S, **settings)
        self._writer = diskcache.Cache(where, timeout=WRITE_TIMEOUT_S, **settings)
        self._counters = diskcache.Cache(
            str(self.directory / "stats"), timeout=WRITE_TIMEOUT_S, eviction_policy="none"
        )

    @classmethod
    async def open(cls, directory: Path, **kwargs: Any) -> DiskCache:
        """Create a ``DiskCache`` in a worker thread (opening SQLite is blocking I/O).

        Args:
            directory: as for the constructor.
            **kwargs: the constructor's keyword arguments.
        """
        return await trio.to_thread.run_sync(functools.partial(cls, directory, **kwargs))

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r})"

    # -- reads ------------------------------------------------------------------------

    async def get(self, key: str) -> CachedResponse | None:
        """The live entry for ``key``; ``None`` when missing, expired or corrupt (then removed)."""
        try:
            try:
                data = self._reader.get(key)  # direct: tens of µs, bounded by READ_TIMEOUT_S
            except diskcache.Timeout:
                data = await self._in_thread(functools.partial(self._writer.get, key, retry=True))
            if data is None:
                if key in self._reader:  # a row whose value file is gone
                    await self._discard(key, "value file missing")
                return None
            entry = CachedResponse.from_json(data, key)
        except Exception as exc:  # any unreadable entry is a miss, never an error
            await self._discard(key, f"{type(exc).__name__}: {exc}")
            return None
        if expired(entry, self.ttl_s, self._clock):
            self._tally.add("expired")
            await self._discard(key, None)
            return None
        return entry

    async def _discard(self, key: str, reason: str | None) -> None:
        if reason is not None:
            log.warning("cache: removing unreadable entry %s… (%s)", key[:12], reason)
        try:
            await self._in_thread(self._discard_sync, key)
        except Exception as exc:  # the store itself is broken: still only a miss
            log.warning("cache: could not remove entry %s…: %s", key[:12], exc)

    def _discard_sync(self, key: str) -> None:
        # Re-check under the write lock: another process may have just stored a
        # good entry under this key, and removing *that* would be a pointless miss.
        cache = self._writer
        with cache.transact(retry=True):
            try:
                data = cache.get(key, default=_NOT_READ, retry=True)
            except Exception:
                data = None
            if data is not _NOT_READ and data is not None:
                try:
                    entry = CachedResponse.from_json(data, key)
                except ValueError:
                    pass
                else:
                    if not expired(entry, self.ttl_s, self._clock):
                        return
            cache.delete(key, retry=True)

    # -- writes -----------------------------------------------------------------------

    async def set(self, key: str, entry: CachedResponse) -> None:
        """Store ``entry`` (one transaction, in a worker thread) and flush the counters."""
        data = entry.to_json(key)
        deltas = self._tally.take()
        try:
            await self._in_thread(self._store_sync, key, data, deltas)
        except Exception as exc:  # a cache that cannot write is a cache that misses
            self._tally.give_back(deltas)
            log.warning("cache: could not store entry %s…: %s", key[:12], exc)

    def _store_sync(self, key: str, data: bytes, deltas: dict[str, int]) -> None:
        cache = self._writer
        with cache.transact(retry=True):
            gone = cache.expire(retry=True)
            before, existed = len(cache), key in cache
            cache.set(key, data, expire=self.ttl_s, retry=True)
            # set() culls least-recently-used entries past size_limit in the same
            # transaction, so the count difference is exactly what it evicted.
            evicted = before + (0 if existed else 1) - len(cache)
        deltas = dict(deltas)
        deltas["expired"] = deltas.get("expired", 0) + gone
        deltas["evictions"] = deltas.get("evictions", 0) + max(0, evicted)
        self._persist_counts(deltas)

    def _persist_counts(self, deltas: Mapping[str, int]) -> None:
        counters = self._counters
        with counters.transact(retry=True):
            for name, amount in deltas.items():
                if amount:
                    counters.incr(name, amount, default=0, retry=True)

    # -- management ---------------------------------------------------------------------

    async def statistics(self) -> CacheStats:
        """Flush, then a snapshot of entries, bytes on disk and the persisted counters."""
        await self.flush()
        return await self._in_thread(self._statistics_sync)

    def _statistics_sync(self) -> CacheStats:
        counts = {name: int(self._counters.get(name, 0, retry=True)) for name in COUNTERS}
        return CacheStats(
            backend=self.name,
            location=str(self.directory),
            entries=len(self._writer),
            size_bytes=int(self._writer.volume()),
            hits=counts["hits"],
            misses=counts["misses"],
            evictions=counts["evictions"],
            expired=counts["expired"],
            saved_usd=counts["saved_nanousd"] / 1e9,
        )

    async def clear(self) -> int:
        """Remove every entry and reset the counters; return how many entries were removed."""
        self._tally.take()
        return await self._in_thread(self._clear_sync)

    def _clear_sync(self) -> int:
        self._counters.clear(retry=True)
        return int(self._writer.clear(retry=True))

    async def aclose(self) -> None:
        """Flush the counters and close the SQLite connections.

        diskcache keeps one connection per thread: the reader's lives on the trio
        thread and is closed here; a worker thread's closes when that thread ends.
        """
        await self.flush()
        self._reader.close()
        await self._in_thread(self._close_sync)

    def _close_sync(self) -> None:
        self._writer.close()
        self._counters.close()
