"""What the disk and Redis caches share: blocking calls in worker threads, writes
in batches, and lookup counts kept in memory until the next flush.

Both stores wrap a blocking client (diskcache's SQLite, redis-py), so each runs
its calls through ``anyio.to_thread.run_sync`` under its own
``anyio.CapacityLimiter`` (created lazily, as a store may be built outside an
event loop). A write is a batch (``set_many``: one thread hop and one
transaction or pipeline for many entries, which is what the write-behind of
:mod:`._writer` hands over); ``set`` is a batch of one. Neither store makes a
hit pay for a write: ``record`` only counts, and the counts are persisted with
the next batch or ``flush``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ._entry import CachedResponse, Tally, nano_usd

__all__ = ["ThreadedStore"]

log = logging.getLogger("claude_force_trio.cache")
T = TypeVar("T")


class ThreadedStore:
    """Base of :class:`DiskCache` and :class:`RedisCache`.

    Args:
        max_threads: how many blocking calls may run in worker threads at once.
    """

    def __init__(self, *, max_threads: int) -> None:
        self._max_threads = max_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._tally = Tally()

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def record(self, *, hit: bool, saved_usd: float = 0.0) -> None:
        """Count one lookup in memory; it is persisted with the next write or flush."""
        self._tally.add("hits" if hit else "misses")
        if saved_usd:
            self._tally.add("saved_nanousd", nano_usd(saved_usd))

    def _take_deltas(self) -> dict[str, int]:
        """The counts to persist now (reset in memory; give them back if persisting fails)."""
        return self._tally.take()

    async def set(self, key: str, entry: CachedResponse) -> None:
        """Store ``entry`` under ``key`` now (a batch of one) and flush the counters."""
        await self.set_many([(key, entry)])

    async def set_many(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        """Store every entry in one worker-thread call, atomically, and flush the counters.

        Never raises for a store that fails: the entries are not stored (a cache
        that cannot write is a cache that misses) and the counts wait for the next try.

        Args:
            entries: ``(key, entry)`` pairs, keys distinct.
        """
        if not entries:
            return
        items = [(key, entry.to_json(key)) for key, entry in entries]
        deltas = self._take_deltas()
        try:
            await self._in_thread(self._write_sync, items, deltas)
        except Exception as exc:  # a cache that cannot write is a cache that misses
            self._tally.give_back(deltas)
            first = f"{entries[0][0][:12]}…"
            what = f"entry {first}" if len(entries) == 1 else f"{len(entries)} entries ({first} …)"
            log.warning("cache: could not store %s: %s", what, exc)

    def _write_sync(self, items: Sequence[tuple[str, bytes]], deltas: Mapping[str, int]) -> None:
        """Store encoded entries and add ``deltas`` to the counters (in a worker thread)."""
        raise NotImplementedError

    async def flush(self) -> None:
        """Persist the counts recorded so far (kept for the next flush if that fails)."""
        deltas = self._take_deltas()
        if not deltas:
            return
        try:
            await self._in_thread(self._persist_counts, deltas)
        except Exception as exc:
            self._tally.give_back(deltas)
            log.warning("cache: could not save statistics: %s", exc)

    def _persist_counts(self, deltas: Mapping[str, int]) -> None:
        """Add ``deltas`` to the stored counters (runs in a worker thread)."""
        raise NotImplementedError
