"""Agent memory: past successes in SQLite, recalled as context for new tasks.

One row per (agent, task): recording the same task again replaces its output,
so an exact match is always the latest answer and repeats do not crowd out
other experience.

Queries go through an LRU (:mod:`._lru`) first. It belongs to this process
and to this store; a write through the store drops the writer's agent's
entries, and a damaged file moved aside drops them all. Writes by *other*
processes are seen once those entries are evicted or the store is reopened.
The file itself, its worker thread and its healing are :mod:`._database`'s.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio

from .._quarantine import COMPANIONS, Damaged
from .._text import hash_task
from .._types import Usage
from ._database import Database
from ._items import MemoryItem, MemoryStats
from ._lru import LRUCache

__all__ = ["MEMORY_FILE", "MemoryStore", "open_memory"]

MEMORY_FILE = "memory.sqlite3"
R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    agent TEXT NOT NULL, task_hash TEXT NOT NULL, task TEXT NOT NULL, output TEXT NOT NULL,
    model TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (agent, task_hash)
);
CREATE INDEX IF NOT EXISTS memories_recent ON memories (agent, created_at DESC);
"""
_COLUMNS = "agent, task_hash, task, output, model, input_tokens, output_tokens, created_at"
#: The first queries: our schema is there and the table can be walked.
_PROBE = (f"SELECT {_COLUMNS} FROM memories LIMIT 0", "SELECT COUNT(*) FROM memories")
_INSERT = f"INSERT OR REPLACE INTO memories ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
_RELEVANT = (
    f"SELECT {_COLUMNS}, task_hash = ? AS exact FROM memories WHERE agent = ? "
    "ORDER BY exact DESC, created_at DESC, rowid DESC LIMIT ?"
)
_STATS = "SELECT COUNT(*), COUNT(DISTINCT agent), MIN(created_at), MAX(created_at) FROM memories"


def _item(row: tuple[Any, ...]) -> MemoryItem:
    agent, task_hash, task, output, model, tokens_in, tokens_out, created_at, exact = row
    return MemoryItem(
        agent, task_hash, task, output, model, tokens_in, tokens_out, created_at, bool(exact)
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class MemoryStore:
    """Past successes of each agent, in SQLite, with an LRU of recent queries.

    Open it with :func:`open_memory` (which closes it); every method is async
    and does its SQLite work in a worker thread.

    Args:
        path: the database file; its folder is created.
        cache_size: queries kept in the LRU.
        clock: wall-clock seconds for ``created_at`` (tests pin it).
    """

    def __init__(
        self, path: Path, *, cache_size: int = 256, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.cache: LRUCache[tuple[str, str, int], tuple[MemoryItem, ...]] = LRUCache(cache_size)
        self._clock = clock
        self._db = Database(self.path, schema=_SCHEMA, probe=_PROBE)

    async def _run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        generation = self._db.generation
        try:
            return await self._db.run(fn)
        finally:
            if self._db.generation != generation:  # the file was moved aside
                self.cache.clear()

    async def record(
        self,
        agent: str,
        task: str,
        output: str,
        *,
        model: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        """Remember that ``agent`` answered ``task`` with ``output`` (replacing an older answer).

        Args:
            agent: the agent's name.
            task: the task as the agent was given it, without injected memory.
            output: the successful reply.
            model: the model id that answered.
            usage: its token counts.
        """
        usage = usage or Usage()
        row = (
            agent,
            hash_task(task),
            task,
            output,
            model,
            usage.input_tokens,
            usage.output_tokens,
            self._clock(),
        )
        await self._run(lambda db: db.execute(_INSERT, row))
        self.cache.discard(lambda key: key[0] == agent)

    async def relevant(self, agent: str, task: str, k: int = 3) -> list[MemoryItem]:
        """Up to ``k`` past successes of ``agent``: the same task first, then the most recent.

        Args:
            agent: the agent about to run.
            task: its task (hashed; compared with past tasks' hashes).
            k: how many items at most.
        """
        if k < 1:
            return []
        key = (agent, hash_task(task), k)
        cached = self.cache.get(key)
        if cached is not None:
            return list(cached)
        rows = await self._run(lambda db: db.execute(_RELEVANT, (key[1], agent, k)).fetchall())
        items = tuple(_item(row) for row in rows)
        self.cache.put(key, items)
        return list(items)

    async def stats(self) -> MemoryStats:
        """Counts and sizes of the store, and the query cache's counters."""
        row = await self._run(lambda db: tuple(db.execute(_STATS).fetchone()))
        items, agents, oldest, newest = row
        size = sum(_size(Path(f"{self.path}{suffix}")) for suffix in ("", *COMPANIONS))
        return MemoryStats(
            str(self.path), items, agents, size, oldest, newest, self.cache.hits, self.cache.misses
        )

    async def clear(self) -> int:
        """Forget everything; returns how many items were removed."""

        def wipe(db: sqlite3.Connection) -> int:
            removed: int = db.execute("DELETE FROM memories").rowcount
            if db.execute("SELECT COUNT(*) FROM memories").fetchone() != (0,):
                raise Damaged("rows survive deleting every row")  # a b-tree out of order
            return removed

        removed = await self._run(wipe)
        self.cache.clear()
        return removed

    async def aclose(self) -> None:
        """Close the connection (in a thread, after any running query)."""
        await self._db.aclose()


@asynccontextmanager
async def open_memory(path: Path, *, cache_size: int = 256) -> AsyncIterator[MemoryStore]:
    """Open the memory store at ``path`` for the duration of an ``async with`` block.

    Args:
        path: the database file (``$CFT_HOME/memory/memory.sqlite3``).
        cache_size: queries kept in the LRU.
    """
    store = MemoryStore(path, cache_size=cache_size)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
