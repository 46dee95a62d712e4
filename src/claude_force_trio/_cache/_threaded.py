"""What the disk and Redis caches share: blocking calls in worker threads, and
lookup counts kept in memory until the next flush.

Both stores wrap a blocking client (diskcache's SQLite, redis-py), so each runs
its calls through ``trio.to_thread`` under its own limiter (created lazily, as
a store may be built outside a trio run); and neither makes a hit pay for a
write: ``record`` only counts, and ``flush`` persists the counts in one go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import trio

from ._entry import Tally, nano_usd

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
        self._limiter: trio.CapacityLimiter | None = None
        self._tally = Tally()

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(self._max_threads)
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def record(self, *, hit: bool, saved_usd: float = 0.0) -> None:
        """Count one lookup in memory; it is persisted with the next write or flush."""
        self._tally.add("hits" if hit else "misses")
        if saved_usd:
            self._tally.add("saved_nanousd", nano_usd(saved_usd))

    def _take_deltas(self) -> dict[str, int]:
        """The counts to persist now (reset in memory; give them back if persisting fails)."""
        return self._tally.take()

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
