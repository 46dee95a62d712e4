"""The write-behind in virtual time (trio's ``MockClock(autojump_threshold=0)``, exact times).

A fake store takes a fixed virtual time per batch, so when entries are
written, when a producer waits and how long closing may take are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import cast

import pytest
import trio
import trio.testing

from claude_force_trio._cache._entry import CacheBackend, CachedResponse
from claude_force_trio._cache._writer import HIGH_WATER, MAX_BATCH, WriteBehind

from .test_cache import FakeClock, entry


class SlowStore:
    """Takes ``batch_s`` of virtual time per ``set_many``; keeps what it was given, in order."""

    name = "slow"

    def __init__(self, batch_s: float, ttl_s: float | None = None) -> None:
        self.batch_s = batch_s
        self.ttl_s = ttl_s
        self.written: list[tuple[float, str, str]] = []

    async def set_many(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        """Write ``entries`` after ``batch_s``, noting when."""
        await trio.sleep(self.batch_s)
        self.written += [(trio.current_time(), key, e.text) for key, e in entries]


def writer_for(
    store: SlowStore, *, max_batch: int = MAX_BATCH, high_water: int = HIGH_WATER
) -> WriteBehind:
    """A WriteBehind over ``store``."""
    backend = cast(CacheBackend, store)
    return WriteBehind(backend, max_batch=max_batch, high_water=high_water)


@asynccontextmanager
async def serving(writer: WriteBehind) -> AsyncIterator[None]:
    """Run ``writer``'s task for the block, then stop it."""
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        yield
        nursery.cancel_scope.cancel()


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)


async def test_put_hands_over_without_a_checkpoint(autojump_clock: trio.testing.MockClock) -> None:
    """Handing an answer over never yields: even a cancelled step gets it in."""
    store = SlowStore(1.0)
    writer = writer_for(store)
    with trio.CancelScope() as scope:
        scope.cancel()
        await writer.put("k", entry("kept"))
    assert writer.pending("k") == entry("kept")


async def test_batches_form_while_a_batch_is_written(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The first answer goes alone; those that arrive during its write go together next."""
    store = SlowStore(1.0)
    writer = writer_for(store)
    async with serving(writer):
        await writer.put("a", entry("a"))
        await trio.sleep(0.5)
        for key in "bcd":
            await writer.put(key, entry(key))
        await trio.sleep(2)
        assert writer.backlog == 0
    assert store.written == [(1.0, "a", "a"), (2.0, "b", "b"), (2.0, "c", "c"), (2.0, "d", "d")]
    assert writer.batches == 2
    assert not writer.running


async def test_answer_replaced_during_its_write_is_written_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A newer answer for a key being written stays pending, and is written next."""
    store = SlowStore(1.0)
    writer = writer_for(store)
    async with serving(writer):
        await writer.put("k", entry("old"))
        await trio.sleep(0.5)
        await writer.put("k", entry("new"))
        await trio.sleep(1)
        assert writer.pending("k") == entry("new")  # the old one was written, this one not yet
        await trio.sleep(1)
    assert store.written == [(1.0, "k", "old"), (2.0, "k", "new")]
    assert writer.pending("k") is None


async def test_producer_waits_past_high_water(autojump_clock: trio.testing.MockClock) -> None:
    """Past the high-water mark a store waits exactly until the writer has made room."""
    store = SlowStore(1.0)
    writer = writer_for(store, high_water=1, max_batch=1)
    async with serving(writer):
        await writer.put("a", entry("a"))
        await writer.put("b", entry("b"))  # two pending: waits for "a" to be written
        assert trio.current_time() == 1.0


async def test_stopping_the_writer_releases_waiting_producers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A producer waiting for room is not stranded when the writer stops."""
    store = SlowStore(10.0)
    writer = writer_for(store, high_water=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        nursery.start_soon(writer.put, "a", entry("a"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # the batch in progress finishes first (shielded)
    assert trio.current_time() == 10.0
    assert store.written == [(10.0, "a", "a")]


async def test_drain_is_bounded(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing writes batch after batch until its bound, then drops the rest with one warning."""
    store = SlowStore(4.0)
    writer = writer_for(store, max_batch=1)
    for key in "abcde":
        await writer.put(key, entry(key))
    with trio.CancelScope() as scope:
        scope.cancel()  # closing happens under cancellation: the drain is shielded
        await writer.drain(timeout_s=10.0)
    assert trio.current_time() == 12.0  # the batch begun at 8 s is finished, no later one
    assert [key for _, key, _ in store.written] == ["a", "b", "c"]
    assert writer.backlog == 0
    (warning,) = [r.getMessage() for r in caplog.records if "not stored" in r.getMessage()]
    assert "2 answers" in warning


async def test_pending_entry_past_its_ttl_is_not_served() -> None:
    """A pending entry ages by the store's TTL clock, like a stored one."""
    clock = FakeClock()
    store = SlowStore(1.0, ttl_s=60.0)
    writer = WriteBehind(cast(CacheBackend, store), clock=clock)
    await writer.put("k", entry(created=clock.now))
    clock.now += 59
    assert writer.pending("k") is not None
    clock.now += 1
    assert writer.pending("k") is None
