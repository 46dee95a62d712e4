"""Write-behind: stored answers reach the store in batches, off the steps' critical path.

Why: writing one answer costs a worker-thread hop and a SQLite transaction (or
a Redis round trip), about 0.6 ms a step — a 10,000-step run took 17 s with the
cache off and 24 s with it on. A step has its answer once the API call is
done; it should not also wait for the store.

How:

* :meth:`WriteBehind.put` keeps the entry in a dict and wakes the writer; it
  returns at once (no thread hop, no checkpoint) unless the writer has fallen
  :data:`HIGH_WATER` entries behind, when it waits for room — the entry is
  pending already, so a cancelled wait loses nothing.
* :meth:`WriteBehind.pending` is what a lookup in this process checks before
  the store, so an answer handed over is a hit at once, and stays one while it
  is being written (it leaves the dict only after its batch is written).
* :meth:`WriteBehind.serve`, the writer task (started by ``open_response_cache``
  in its own task group), writes up to :data:`MAX_BATCH` pending entries with
  one ``set_many`` — one thread hop, one diskcache transaction or one Redis
  pipeline. While a batch is written the next entries pile up and go together,
  so the busier the run, the bigger (and fewer) the batches.
* :meth:`WriteBehind.drain`, on close, writes whatever is left: shielded from
  cancellation, and bounded by :data:`DRAIN_TIMEOUT_S` (checked between
  batches; a batch in progress is bounded by the store's own timeouts).

**The one behaviour change:** another process sharing the store sees a new
entry a moment later — once the batch holding it is written, normally within
one thread hop of the step that produced it — instead of when that step ends.
A process killed before then loses the entries not yet written, which only
means later misses (entries are a cache, never the record of a run).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel

from ._entry import CacheBackend, CachedResponse, Clock, default_clock, expired

__all__ = ["DRAIN_TIMEOUT_S", "HIGH_WATER", "MAX_BATCH", "WriteBehind", "open_write_behind"]

log = logging.getLogger("claude_force_trio.cache")

#: Most entries written in one batch (one thread hop, one transaction). Small
#: enough that the transaction holds the store's write lock a few ms at most: a
#: hit (its LRU bump is a write) in this or another process waits for it.
MAX_BATCH = 128
#: Pending entries past which producers wait for the writer (bounds memory).
HIGH_WATER = 4096
#: How long closing may spend writing what is pending, between batches.
DRAIN_TIMEOUT_S = 10.0


class WriteBehind:
    """Entries handed to a store but not yet written, and the task that writes them.

    Args:
        backend: where entries go (its ``set_many`` writes a batch).
        clock: the TTL clock, for pending entries (the backend's own).
        max_batch: most entries per ``set_many``.
        high_water: pending entries past which :meth:`put` waits.

    Attributes:
        running: the writer task is serving (only then may :meth:`put` be used).
        batches: how many ``set_many`` calls were made (each one thread hop).
    """

    def __init__(
        self,
        backend: CacheBackend,
        *,
        clock: Clock = default_clock,
        max_batch: int = MAX_BATCH,
        high_water: int = HIGH_WATER,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._max_batch = max_batch
        self._high_water = high_water
        self._pending: dict[str, CachedResponse] = {}
        self._wake: anyio.Event | None = None
        self._room: anyio.Event | None = None
        self.running = False
        self.batches = 0

    @property
    def backlog(self) -> int:
        """How many entries are waiting to be written."""
        return len(self._pending)

    def pending(self, key: str) -> CachedResponse | None:
        """The live entry for ``key`` handed over but not yet written, or ``None``."""
        entry = self._pending.get(key)
        if entry is None or expired(entry, self._backend.ttl_s, self._clock):
            return None
        return entry

    async def put(self, key: str, entry: CachedResponse) -> None:
        """Hand ``entry`` to the writer; wait only while it is :data:`HIGH_WATER` behind."""
        self._pending[key] = entry
        if self._wake is not None:
            self._wake.set()
        while self.running and len(self._pending) > self._high_water:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Write pending entries in batches until cancelled (the writer task)."""
        self.running = True
        task_status.started()
        try:
            while True:
                if not self._pending:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                await self._write_batch()
        finally:
            self.running = False
            self._make_room()  # no producer may wait for a writer that is gone

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Write everything pending, shielded, for at most ``timeout_s`` (call once stopped).

        What is still pending then is dropped with one warning: the store is
        stuck (another process holding its lock), and a cache may always miss.
        """
        with anyio.move_on_after(timeout_s, shield=True):
            while self._pending:
                await self._write_batch()
        if self._pending:
            log.warning(
                "cache: %d answers were not stored: the store did not take them within %g s",
                len(self._pending),
                timeout_s,
            )
            self._pending.clear()

    async def _write_batch(self) -> None:
        # A stop (the writer's) or the end of drain()'s bound is seen here, between
        # batches: a batch itself is shielded.
        await anyio.lowlevel.checkpoint_if_cancelled()
        batch: Sequence[tuple[str, CachedResponse]] = list(
            itertools.islice(self._pending.items(), self._max_batch)
        )
        # Shielded: a batch begun is finished and accounted for, even when the
        # writer is being stopped (the thread would finish it anyway).
        with anyio.CancelScope(shield=True):
            await self._backend.set_many(batch)
        self.batches += 1
        for key, entry in batch:
            if self._pending.get(key) is entry:  # not replaced by a newer answer meanwhile
                del self._pending[key]
        if len(self._pending) <= self._high_water:
            self._make_room()

    def _make_room(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None


@asynccontextmanager
async def open_write_behind(
    backend: CacheBackend, *, clock: Clock = default_clock
) -> AsyncIterator[WriteBehind]:
    """A :class:`WriteBehind` whose writer runs in its own task group; drained on exit.

    The body's own exception leaves as itself, not wrapped in an exception
    group: callers catch a ``ConfigError`` or a cancellation as they always did.

    Args:
        backend: the store entries go to.
        clock: the backend's TTL clock.
    """
    writer = WriteBehind(backend, clock=clock)
    failure: BaseException | None = None
    try:
        async with anyio.create_task_group() as group:
            await group.start(writer.serve)
            try:
                yield writer
            except BaseException as exc:  # re-raised below, outside the task group
                failure = exc
            group.cancel_scope.cancel()
    finally:
        await writer.drain()  # shielded and bounded, whatever ended the body
    if failure is not None:
        try:
            raise failure
        finally:
            del failure
