"""Agent memory: past successes in SQLite, recalled as context for new tasks.

Why SQLite: one file under ``$CFT_HOME/memory``, transactional, shared safely by
several processes (WAL mode lets readers and a writer work at once), and in the
standard library. Every call runs in a worker thread
(``trio.to_thread.run_sync``) behind a ``CapacityLimiter(1)``: sqlite3 blocks,
and one connection must not be used by two threads at the same time.

Why an LRU in front: the same (agent, task) is asked for on every run of a
workflow, and a hit answers without a thread hop or a query. The cache belongs
to this process and to this store; a write through the store drops the
writer's agent's entries. Writes by *other* processes are seen once those
entries are evicted or the store is reopened.

One row per (agent, task): recording the same task again replaces its output,
so an exact match is always the latest answer and repeats do not crowd out
other experience.

A damaged file never stops a command (:mod:`._quarantine`): when the database
cannot be opened, fails its first query, or SQLite reports corruption later,
it is moved aside to ``memory.sqlite3.damaged-<UTC time>`` (still readable by
``sqlite3`` for recovery), an empty one is started, one warning names both
paths, and the operation is retried once on the fresh file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import trio

from ._errors import ConfigError
from ._metrics._recorder import hash_task
from ._quarantine import (
    COMPANIONS,
    Damaged,
    Identity,
    identity,
    is_damage,
    lenient_text,
    quarantine,
    reason,
    unfit,
)
from ._types import Usage

__all__ = ["LRUCache", "MemoryItem", "MemoryStats", "MemoryStore", "format_context", "open_memory"]

log = logging.getLogger("claude_force_trio.memory")

MEMORY_FILE = "memory.sqlite3"
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
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
#: The first query: our schema is there and the table can be walked.
_PROBE = (f"SELECT {_COLUMNS} FROM memories LIMIT 0", "SELECT COUNT(*) FROM memories")


class LRUCache(Generic[K, V]):
    """A small least-recently-used map with hit and miss counters.

    Args:
        maxsize: entries kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = self.misses = 0
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recent), or ``None``; counts a hit or a miss."""
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as the most recent entry."""
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def discard(self, predicate: Callable[[K], bool]) -> None:
        """Drop every entry whose key matches ``predicate`` (invalidation)."""
        for key in [k for k in self._data if predicate(k)]:
            del self._data[key]

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One remembered success. ``exact`` is true when it answered the very same task."""

    agent: str
    task_hash: str
    task: str
    output: str
    model: str | None
    input_tokens: int
    output_tokens: int
    created_at: float
    exact: bool = False


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """A snapshot of the store: rows, agents, file size, cache counters."""

    path: str
    items: int
    agents: int
    size_bytes: int
    oldest: float | None
    newest: float | None
    cache_hits: int
    cache_misses: int

    def to_dict(self) -> dict[str, Any]:
        """The ``cft memory stats --json`` document."""

        def iso(t: float | None) -> str | None:
            return (
                None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
            )

        return {
            "path": self.path,
            "items": self.items,
            "agents": self.agents,
            "size_bytes": self.size_bytes,
            "oldest": iso(self.oldest),
            "newest": iso(self.newest),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }


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
        self._limiter = trio.CapacityLimiter(1)
        self._db: sqlite3.Connection | None = None
        self._opened = False  # _db has passed the first queries
        self._identity: Identity | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        def call() -> R:
            try:
                return self._call(fn)
            except Exception as exc:
                if not is_damage(exc, opening=not self._opened):
                    raise
                self._move_aside(reason(exc), expect=self._identity)
            return self._call(fn)  # once more, on the fresh file

        return await trio.to_thread.run_sync(call, limiter=self._limiter)

    def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        db = self._db if self._opened else None
        if db is None:
            try:
                db = self._connect()
            except (OSError, sqlite3.Error) as exc:
                if is_damage(exc, opening=True):
                    raise
                self._close()
                # Not writable, not a folder, locked for 10 s: one clear line, not a traceback.
                raise ConfigError(str(self.path), f"cannot open memory: {reason(exc)}") from exc
            self._opened = True
        with db:  # one transaction: committed on success, rolled back on error
            return fn(db)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        why = unfit(self.path)
        if why is not None:
            self._move_aside(why, expect=None)
        self._identity = identity(self.path)  # what a failure below would move aside
        # check_same_thread=False: trio may pick a different worker thread each
        # time; the CapacityLimiter(1) guarantees one thread at a time.
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        # A garbled byte in one row reads as U+FFFD instead of failing every query on it.
        db.text_factory = lenient_text
        self._db = db  # so that a failure below closes it only after moving the file
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        for query in _PROBE:
            db.execute(query).fetchall()
        self._identity = identity(self.path)
        return db

    def _move_aside(self, why: str, *, expect: Identity | None) -> None:
        """Rename the damaged file (unless another process did), then close the connection.

        Raises:
            ConfigError: the file cannot be renamed.
        """
        self.cache.clear()
        try:
            # Renamed before the connection closes: closing a moved database never
            # checkpoints into, or deletes, the companions (its -wal stays with it).
            target = quarantine(self.path, expect=expect)
        except OSError as exc:
            raise ConfigError(
                str(self.path), f"damaged, and cannot be moved aside: {reason(exc)}"
            ) from exc
        finally:
            self._close()
        if target is not None:
            log.warning(
                "memory: %s was damaged (%s); moved it to %s and started an empty one",
                self.path,
                why,
                target,
            )

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
        await self._run(
            lambda db: db.execute(
                f"INSERT OR REPLACE INTO memories ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", row
            )
        )
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
        query = (
            f"SELECT {_COLUMNS}, task_hash = ? AS exact FROM memories WHERE agent = ? "
            "ORDER BY exact DESC, created_at DESC, rowid DESC LIMIT ?"
        )
        rows = await self._run(lambda db: db.execute(query, (key[1], agent, k)).fetchall())
        items = tuple(_item(row) for row in rows)
        self.cache.put(key, items)
        return list(items)

    async def stats(self) -> MemoryStats:
        """Counts and sizes of the store, and the query cache's counters."""

        def read(db: sqlite3.Connection) -> tuple[Any, ...]:
            return tuple(
                db.execute(
                    "SELECT COUNT(*), COUNT(DISTINCT agent), MIN(created_at), MAX(created_at) "
                    "FROM memories"
                ).fetchone()
            )

        items, agents, oldest, newest = await self._run(read)
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

        await trio.to_thread.run_sync(self._close, limiter=self._limiter)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
        self._opened = False


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
        with trio.CancelScope(shield=True):
            await store.aclose()


def format_context(items: list[MemoryItem], max_chars: int = 4000) -> str:
    """The items as markdown for the user message, at most ``max_chars`` characters.

    Items come in the order given (most relevant first); the last one that fits
    is cut with an ellipsis, and later ones are dropped.

    Args:
        items: what :meth:`MemoryStore.relevant` returned.
        max_chars: the budget for the whole text.
    """
    parts: list[str] = []
    left = max_chars
    for item in items:
        when = datetime.fromtimestamp(item.created_at, UTC).strftime("%Y-%m-%d")
        label = "the same task" if item.exact else "an earlier task"
        text = (
            f"### {label} ({when})\n\nTask: {item.task.strip()}\n\nResult:\n{item.output.strip()}"
        )
        sep = 2 if parts else 0
        if len(text) + sep > left:
            if left - sep > 80:  # worth a truncated entry
                parts.append(text[: left - sep - 1] + "…")
            break
        parts.append(text)
        left -= len(text) + sep
    return "\n\n".join(parts)
