"""``DiskCache``: the response cache on one machine, shared by its processes, on diskcache.

**Calling diskcache from the event loop** (measured here, a 2 KB entry in a
cache with least-recently-used eviction, median of 2000 calls): ``get`` takes
42 µs called directly and 134 µs through a worker thread (``to_thread``);
``set`` 38 µs direct and 118 µs threaded. The thread hop would triple the cost
of a hit, so **reads run directly** on the event loop's thread. They are
bounded: with LRU eviction a ``get`` is a small write (it bumps the access
time), so it may wait for another process's SQLite lock; the reading
connection's busy timeout is :data:`READ_TIMEOUT_S` (50 ms), after which the
read is retried in a worker thread. **Writes, removals and counter updates
always go through ``anyio.to_thread``** under a ``CapacityLimiter``: they are
off the hit path, and a writer can wait on locks for as long as another
process holds one. Entries are written in batches (``set_many``: one thread
hop, one transaction), which is how the write-behind of :mod:`._writer` takes
them off the steps' critical path.

Layout under the directory: ``responses/`` (the entries: LRU eviction at
``size_limit``, one entry culled per entry written, so the cap may be overshot
by one entry while entries of very different sizes churn; diskcache ``expire``
= the TTL)
and ``stats/`` (the counters, never evicted). Values are JSON bytes; the
``Disk`` refuses pickled values outright, so a planted pickle in a shared
directory is a corrupt entry, not code we run. Several processes may share the
directory: SQLite (WAL) serialises them, every batch of entries is written in
one transaction, and each read checks the key stored inside the entry.

**A shared directory is untrusted** (:mod:`._disk_store`): entries live inline
in SQLite, so a row naming a side file is foreign — dropped without reading or
deleting that file, counted (``foreign_rows`` in ``cft cache stats``) and logged
once per process; the file's own settings never reach the cache object; and a
damaged ``cache.db`` (responses or counters) is moved aside and started afresh
with one warning, when opening or when SQLite reports corruption later.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import diskcache

from .._errors import ConfigError
from .._quarantine import is_damage, reason
from ._disk_store import DiskStore, ForeignRow, ForeignRowCount, GuardedCache
from ._entry import (
    COUNTERS,
    CachedResponse,
    CacheStats,
    Clock,
    default_clock,
    expired,
)
from ._threaded import ThreadedStore

__all__ = ["READ_TIMEOUT_S", "DiskCache", "default_cache_dir"]

log = logging.getLogger("claude_force_trio.cache")

#: SQLite busy timeout of the direct (event-loop) reads: the longest a hit can stall the loop.
READ_TIMEOUT_S = 0.05
#: Busy timeout of writes, made in worker threads.
WRITE_TIMEOUT_S = 30.0
#: What a read returns for a key with no (live) row: a row without a value reads as None.
_NOT_READ = object()
#: What opening may still raise after one damaged file was moved aside.
_UNUSABLE = (
    OSError,
    sqlite3.Error,
    diskcache.Timeout,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
)


def default_cache_dir() -> Path:
    """``$CFT_HOME/cache``, with ``CFT_HOME`` defaulting to ``~/.cache/claude-force-trio``."""
    from .._paths import state_home

    return state_home() / "cache"


def _as_count(value: Any) -> int:
    """A stored counter as a non-negative int; garbage reads as 0."""
    return value if type(value) is int and value >= 0 else 0


class DiskCache(ThreadedStore):
    """Cached responses in a directory (see the module docstring for the design).

    Args:
        directory: where to keep the cache; created if missing.
        ttl_s: entries older than this (by ``clock``) are misses and are removed;
            ``None`` keeps them until evicted.
        size_limit_bytes: the size cap; least recently *used* entries go first.
        clock: wall-clock seconds, for the TTL; tests pass a fake one.
        max_threads: how many writes may run in worker threads at once.

    Raises:
        ConfigError: the directory cannot be used at all (not writable, or a
            damaged file there cannot be moved aside).
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
        self._foreign = ForeignRowCount()
        self._checked = False
        super().__init__(max_threads=max_threads)
        try:
            self._responses = DiskStore(
                self.directory / "responses",
                timeouts={"reader": READ_TIMEOUT_S, "writer": WRITE_TIMEOUT_S},
                on_foreign=self._foreign.add,
                eviction_policy="least-recently-used",
                size_limit=size_limit_bytes,
                # diskcache culls up to cull_limit LRU entries per write once over the
                # cap — 10 by default, which can throw out the entry just written. One
                # per write keeps eviction exactly least-recently-used.
                cull_limit=1,
            )
            self._stats = DiskStore(
                self.directory / "stats",
                timeouts={"writer": WRITE_TIMEOUT_S},
                on_foreign=self._foreign.add,
                eviction_policy="none",
            )
        except _UNUSABLE as exc:  # not writable, locked for 30 s, or damaged beyond moving aside
            raise ConfigError(str(self.directory), f"cannot open the cache: {reason(exc)}") from exc

    @classmethod
    async def open(cls, directory: Path, **kwargs: Any) -> DiskCache:
        """Create a ``DiskCache`` in a worker thread (opening SQLite is blocking I/O).

        Args:
            directory: as for the constructor.
            **kwargs: the constructor's keyword arguments.
        """
        return await anyio.to_thread.run_sync(functools.partial(cls, directory, **kwargs))

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r})"

    @property
    def _writer(self) -> GuardedCache:
        return self._responses["writer"]

    # -- reads ------------------------------------------------------------------------

    async def get(self, key: str) -> CachedResponse | None:
        """The live entry for ``key``; ``None`` when missing, expired or corrupt (then removed)."""
        store = self._responses
        generation = store.generation
        try:
            reader = store["reader"]
            # A miss asks no lock: with LRU eviction diskcache's get takes the write
            # lock even to miss, so it would wait for a batch being written.
            if key not in reader:
                return None
            try:
                data = reader.get(key, default=_NOT_READ)  # direct: bounded by READ_TIMEOUT_S
            except diskcache.Timeout:
                read = functools.partial(self._read_sync, key)
                data = await self._in_thread(store.run, read)
            if data is _NOT_READ:
                return None
            if data is None:  # a row without a value
                await self._discard(key, "no value")
                return None
            entry = CachedResponse.from_json(data, key)
        except ForeignRow:  # counted and logged once when the row is dropped
            await self._discard(key, None)
            return None
        except Exception as exc:  # any unreadable entry is a miss, never an error
            if is_damage(exc):
                await self._recover(store, exc, generation)
            else:
                await self._discard(key, reason(exc))
            return None
        if expired(entry, self.ttl_s, self._clock):
            self._tally.add("expired")
            await self._discard(key, None)
            return None
        return entry

    def _read_sync(self, key: str) -> Any:
        return self._writer.get(key, default=_NOT_READ, retry=True)

    async def _recover(self, store: DiskStore, exc: BaseException, generation: int) -> None:
        try:
            await self._in_thread(store.recover, reason(exc), generation)
        except Exception as again:  # still only a miss; the next write or open tries again
            log.warning("cache: could not move the damaged %s aside: %s", store.path, again)

    async def _discard(self, key: str, why: str | None) -> None:
        try:
            if why is not None:
                log.warning("cache: removing unreadable entry %s… (%s)", key[:12], why)
                if not self._checked:
                    # A sound file never hands back garbage or another key's entry: the
                    # first time it does, check the whole file once (it may heal it).
                    self._checked = True
                    await self._in_thread(self._responses.check)
            await self._in_thread(self._responses.run, functools.partial(self._discard_sync, key))
        except Exception as exc:  # the store itself is broken: still only a miss
            log.warning("cache: could not remove entry %s…: %s", key[:12], exc)

    def _discard_sync(self, key: str) -> None:
        # Re-check under the write lock: another process may have just stored a
        # good entry under this key, and removing *that* would be a pointless miss.
        cache = self._writer
        with cache.transact(retry=True):
            try:
                data = cache.get(key, default=_NOT_READ, retry=True)
            except (ValueError, TypeError):  # a foreign or unreadable row: remove it
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

    def _take_deltas(self) -> dict[str, int]:
        foreign = self._foreign.take()
        if foreign:
            self._tally.add("foreign_rows", foreign)
        return super()._take_deltas()

    def _write_sync(self, items: Sequence[tuple[str, bytes]], deltas: Mapping[str, int]) -> None:
        gone, evicted = self._responses.run(functools.partial(self._write_entries, items))
        deltas = dict(deltas)
        deltas["expired"] = deltas.get("expired", 0) + gone
        deltas["evictions"] = deltas.get("evictions", 0) + evicted
        self._persist_counts(deltas)

    def _write_entries(self, items: Sequence[tuple[str, bytes]]) -> tuple[int, int]:
        cache = self._writer
        with cache.transact(retry=True):
            gone = cache.expire(retry=True)
            evicted = cache.set_many(items, expire=self.ttl_s, retry=True)
        return int(gone), evicted

    def _persist_counts(self, deltas: Mapping[str, int]) -> None:
        self._stats.run(functools.partial(self._add_counts, deltas))

    def _add_counts(self, deltas: Mapping[str, int]) -> None:
        counters = self._stats["writer"]
        with counters.transact(retry=True):
            for name, amount in deltas.items():
                if not amount:
                    continue
                try:
                    counters.incr(name, amount, default=0, retry=True)
                except (TypeError, ValueError):  # a garbled or foreign counter row starts over
                    counters.set(name, amount, retry=True)

    # -- management ---------------------------------------------------------------------

    async def statistics(self) -> CacheStats:
        """Flush, then a snapshot of entries, bytes on disk and the persisted counters."""
        await self.flush()
        return await self._in_thread(self._statistics_sync)

    def _statistics_sync(self) -> CacheStats:
        counts = self._stats.run(self._read_counts)
        entries, size = self._responses.run(self._size)
        return CacheStats(
            backend=self.name,
            location=str(self.directory),
            entries=entries,
            size_bytes=size,
            hits=counts["hits"],
            misses=counts["misses"],
            evictions=counts["evictions"],
            expired=counts["expired"],
            saved_usd=counts["saved_nanousd"] / 1e9,
            # Rows dropped since the last flush (by this very snapshot, say) count too.
            foreign_rows=counts["foreign_rows"] + self._foreign.peek(),
        )

    def _read_counts(self) -> dict[str, int]:
        counters = self._stats["writer"]
        counts = {}
        for name in COUNTERS:
            try:
                counts[name] = _as_count(counters.get(name, 0, retry=True))
            except ValueError:  # a foreign or pickled row where a counter should be
                counters.delete(name, retry=True)
                counts[name] = 0
        return counts

    def _size(self) -> tuple[int, int]:
        cache = self._writer
        try:  # both read diskcache's own counters, which a planted file may garble
            return _as_count(len(cache)), _as_count(cache.volume())
        except (TypeError, ValueError):
            return 0, 0

    async def clear(self) -> int:
        """Remove every entry and reset the counters; return how many entries were removed."""
        self._tally.take()
        return await self._in_thread(self._clear_sync)

    def _clear_sync(self) -> int:
        self._stats.run(lambda: self._stats["writer"].clear(retry=True))
        return int(self._responses.run(lambda: self._writer.clear(retry=True)))

    async def aclose(self) -> None:
        """Flush the counters and close the SQLite connections.

        diskcache keeps one connection per thread: the reader's lives on the event
        loop's thread and is closed here; a worker thread's closes when that thread ends.
        """
        await self.flush()
        self._responses["reader"].close()
        await self._in_thread(self._close_sync)

    def _close_sync(self) -> None:
        self._responses.close()
        self._stats.close()
