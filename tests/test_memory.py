"""Tests for the SQLite agent memory and its LRU query cache (``_memory``), on trio and asyncio."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import anyio
import pytest

from claude_force_trio._memory import LRUCache, MemoryItem, format_context, open_memory
from claude_force_trio._metrics import hash_task
from claude_force_trio._types import Usage

pytestmark = pytest.mark.anyio


def clock() -> itertools.count[float]:
    """Deterministic created_at values: 1000, 1001, …"""
    return itertools.count(1000.0)


async def test_new_task_gets_the_most_recent_and_a_repeat_gets_its_own_context(
    tmp_path: Path,
) -> None:
    """A first-seen task gets the agent's latest successes; a repeat, what its answer was given."""
    ticks = clock()
    async with open_memory(tmp_path / "m.sqlite3", project="p") as store:
        store._clock = lambda: next(ticks)
        await store.record("rev", "task one", "out one", model="m", usage=Usage(10, 5))
        await store.record("rev", "task two", "out two")
        first = await store.relevant("rev", "task three", k=3)
        assert [i.task for i in first] == ["task two", "task one"]
        await store.record("rev", "task three", "out three", context=first)
        await store.record("other", "task one", "not mine")
        assert [i.task for i in await store.relevant("rev", "task three", k=3)] == [
            "task two",
            "task one",
        ]
        assert [i.task for i in await store.relevant("rev", "new task", k=2)] == [
            "task three",
            "task two",
        ]
        (item,) = [i for i in first if i.task == "task one"]
        assert item == MemoryItem(
            "rev", hash_task("task one"), "task one", "out one", "m", 10, 5, 1000.0, False, "p"
        )
        assert await store.relevant("rev", "task one") == []  # its answer was given nothing
        assert await store.relevant("nobody", "task one") == []
        assert await store.relevant("rev", "task one", k=0) == []


async def test_same_task_again_replaces_its_answer(tmp_path: Path) -> None:
    """One row per (project, agent, task): the latest output wins."""
    async with open_memory(tmp_path / "m.sqlite3", project="p") as store:
        await store.record("rev", "t", "old")
        await store.record("rev", "t", "new")
        assert [i.output for i in await store.relevant("rev", "another", k=5)] == ["new"]
        assert (await store.stats()).items == 1


async def test_lru_hit_after_first_query_and_invalidation_by_affected_keys(
    tmp_path: Path,
) -> None:
    """A write drops only the recalls it changes, and refreshes the written task's own."""
    async with open_memory(tmp_path / "m.sqlite3", project="p") as store:
        await store.record("rev", "t1", "o1")
        assert [i.task for i in await store.relevant("rev", "t2")] == ["t1"]
        await store.relevant("rev", "t2")
        assert (store.cache.hits, store.cache.misses) == (1, 1)
        await store.relevant("other", "t1")
        await store.relevant("rev", "t1")  # a repeat: given nothing (its answer had no context)
        assert len(store.cache) == 3
        await store.record("rev", "t3", "o3")  # changes first-seen recalls only: t2's
        assert len(store.cache) == 2
        assert [i.task for i in await store.relevant("rev", "t1")] == []
        assert (store.cache.hits, store.cache.misses) == (2, 3)
        await store.record("rev", "t1", "o1 again")  # t1's own recall: replaced, still cached
        assert await store.relevant("rev", "t1") == []
        assert (store.cache.hits, store.cache.misses) == (3, 3)
        stats = await store.stats()
        assert (stats.cache_hits, stats.cache_misses) == (3, 3)


async def test_stats_clear_and_wal(tmp_path: Path) -> None:
    """Stats count items and agents; clear empties the store; the file is in WAL mode."""
    path = tmp_path / "deep" / "m.sqlite3"
    async with open_memory(path, project="p") as store:
        await store.record("a", "t", "o")
        await store.record("b", "t", "o")
        stats = await store.stats()
        assert (stats.items, stats.agents) == (2, 2)
        assert stats.size_bytes > 0
        assert stats.to_dict()["newest"] is not None
        assert await store.clear() == 2
        assert await store.relevant("a", "other") == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


async def test_concurrent_queries_share_one_connection_safely(tmp_path: Path) -> None:
    """Many tasks querying and writing at once: the limiter serialises SQLite work."""
    async with open_memory(tmp_path / "m.sqlite3", project="p", cache_size=4) as store:

        async def worker(n: int) -> None:
            await store.record(f"agent{n % 3}", f"task{n}", f"out{n}")
            await store.relevant(f"agent{n % 3}", f"task{n}")

        async with anyio.create_task_group() as group:
            for n in range(30):
                group.start_soon(worker, n)
        assert (await store.stats()).items == 30


def test_lru_evicts_least_recently_used() -> None:
    """Beyond maxsize the least recently used entry goes; get refreshes recency."""
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert (cache.hits, cache.misses) == (3, 1)
    with pytest.raises(ValueError, match="maxsize"):
        LRUCache(0)


def test_format_context_orders_labels_and_truncates() -> None:
    """Items appear in order, labelled, and the text never exceeds ``max_chars``."""
    items = [
        MemoryItem("a", "h1", "same task", "answer " * 10, None, 0, 0, 0.0, exact=True),
        MemoryItem("a", "h2", "older task", "x" * 5000, None, 0, 0, 86400.0),
        MemoryItem("a", "h3", "dropped", "y", None, 0, 0, 0.0),
    ]
    text = format_context(items, max_chars=400)
    assert len(text) <= 400
    assert text.startswith("### the same task (1970-01-01)\n\nTask: same task")
    assert "### an earlier task (1970-01-02)" in text
    assert text.endswith("…")
    assert "dropped" not in text
    assert format_context([], 100) == ""


async def test_a_cancelled_block_still_closes_the_database(tmp_path: Path) -> None:
    """Cancelled inside ``open_memory``, the shielded close still runs: the WAL is folded in."""
    path = tmp_path / "m.sqlite3"
    with anyio.CancelScope() as scope:
        async with open_memory(path, project="p") as store:
            await store.record("a", "t", "o")
            assert Path(f"{path}-wal").exists()
            scope.cancel()
            await anyio.sleep(1)  # cancelled here; the close runs on the way out
    assert scope.cancelled_caught
    assert not Path(f"{path}-wal").exists()  # SQLite checkpoints and removes it on close
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT output FROM memory_items").fetchall() == [("o",)]
    db.close()


def test_setting_up_a_file_waits_out_another_process_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """'database is locked' at set-up is retried; other errors, and a lock past patience, raise."""
    import time

    from claude_force_trio import _quarantine

    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the pauses, not their length
    answers = [sqlite3.OperationalError("database is locked")] * 2 + [None]

    def statement() -> None:
        if (answer := answers.pop(0)) is not None:
            raise answer

    _quarantine.while_locked(statement)
    assert answers == []

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: x")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _quarantine.while_locked(broken)

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(_quarantine, "OPEN_PATIENCE_S", 0.0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _quarantine.while_locked(locked)
