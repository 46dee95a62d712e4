"""Agent memory: past successes in SQLite, recalled as context for new tasks, per project.

**Per project.** Every row carries the project key of the config that wrote it
(``Config.project_key``), and a store opened for one project reads and writes
only that project's rows: project A's tasks and outputs never reach project
B's prompts, even for agents of the same name. Rows written before memory was
kept per project are kept with no project (``NULL``) when the file is first
opened by this version (the old ``memories`` table is copied into
``memory_items`` and dropped, in one transaction); they are never offered to
any prompt, are counted by ``cft memory stats --all-projects`` and removed by
``cft memory clear --all-projects``.

**What a task is given.** One row per (project, agent, task): recording the
same task again replaces its output. A task seen for the first time is given
the agent's ``k`` most recent successes. A task that has a row is given *the
memories its last answer was given* (the row names them in ``context``), never
its own earlier answer, and only those that still exist. So a repeated task's
prompt is the same as the last time — the response cache answers it — until
one of those memories changes; and an answer never feeds on itself.

**The query cache** (:mod:`._lru`), keyed by (project, agent, task hash, k),
belongs to this process and this store. A write of task T drops only the
recalls it changes: first-seen recalls of the same project and agent (T is
now the most recent), and recalls that name T; the recall of T itself is
replaced by what a lookup would now return (its own context), so the next
repeat is a hit. A damaged file moved aside drops them all. Writes by *other*
processes are seen once those entries are evicted or the store is reopened.
The file itself, its worker thread and its healing are :mod:`._database`'s.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
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
CREATE TABLE IF NOT EXISTS memory_items (
    project TEXT, agent TEXT NOT NULL, task_hash TEXT NOT NULL, task TEXT NOT NULL,
    output TEXT NOT NULL, model TEXT, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, created_at REAL NOT NULL, context TEXT,
    PRIMARY KEY (project, agent, task_hash)
);
CREATE INDEX IF NOT EXISTS memory_items_order ON memory_items (project, agent);
"""
_COLUMNS = "agent, task_hash, task, output, model, input_tokens, output_tokens, created_at"
#: The first queries: our schema is there and the table can be walked.
_PROBE = (
    f"SELECT project, {_COLUMNS}, context FROM memory_items LIMIT 0",
    "SELECT COUNT(*) FROM memory_items",
)
_INSERT = (
    f"INSERT OR REPLACE INTO memory_items (project, {_COLUMNS}, context)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_OWN = "SELECT context FROM memory_items WHERE project = ? AND agent = ? AND task_hash = ?"
# The newest first by when they were written (rowid: a rewrite gets a new one), not by
# ``created_at``: a clock that jumped, or a damaged timestamp, never pins an old memory
# on top. The (project, agent) index walks its rows in rowid order.
_RECENT = (
    f"SELECT {_COLUMNS}, project FROM memory_items WHERE project = ? AND agent = ?"
    " ORDER BY rowid DESC LIMIT ?"
)
#: The named rows, in the order named (``json_each`` keeps it in ``key``).
_NAMED = (
    f"SELECT {', '.join('m.' + c for c in _COLUMNS.split(', '))}, m.project"
    " FROM json_each(?) AS j JOIN memory_items AS m"
    " ON m.project = ? AND m.agent = ? AND m.task_hash = j.value ORDER BY j.key"
)
_LEGACY = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memories'"
_MIGRATE = (
    f"INSERT OR IGNORE INTO memory_items (project, {_COLUMNS}, context)"
    f" SELECT NULL, {_COLUMNS}, NULL FROM memories"
)

#: A query cache key: (project, agent, task hash, k).
Key = tuple[str, str, str, int]


@dataclass(frozen=True, slots=True)
class _Recall:
    """What a lookup returned, and what a write must know to tell whether it changed it.

    ``first`` is true for a task seen for the first time (the most recent items);
    ``names`` are the task hashes the recall stands for (a repeat's stored context,
    also those no longer present).
    """

    items: tuple[MemoryItem, ...]
    first: bool
    names: frozenset[str]


def _migrate(db: sqlite3.Connection) -> None:
    """Move the rows of the table before projects (``memories``) into ``memory_items``.

    They keep no project, so no prompt is given them. Checked again under the
    write lock: a second process opening the same old file finds it done.
    """
    if db.execute(_LEGACY).fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute(_LEGACY).fetchone() is not None:
            db.execute(_MIGRATE)
            db.execute("DROP TABLE memories")
        db.commit()
    except BaseException:
        db.rollback()
        raise


def _item(row: tuple[Any, ...]) -> MemoryItem:
    agent, task_hash, task, output, model, tokens_in, tokens_out, created_at, project = row
    return MemoryItem(
        agent, task_hash, task, output, model, tokens_in, tokens_out, created_at, False, project
    )


def _names(context: object) -> list[str]:
    """The task hashes a row's ``context`` names (nothing, for a garbled value)."""
    try:
        names = json.loads(context) if isinstance(context, str) else []
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _named(db: sqlite3.Connection, project: str, agent: str, names: list[str]) -> _Recall:
    rows = db.execute(_NAMED, (json.dumps(names), project, agent)).fetchall()
    return _Recall(tuple(_item(row) for row in rows), False, frozenset(names))


def _recall(db: sqlite3.Connection, key: Key) -> _Recall:
    """What ``key``'s task is given (see the module docstring), in one transaction."""
    project, agent, task_hash, k = key
    own = db.execute(_OWN, (project, agent, task_hash)).fetchone()
    if own is not None:
        return _named(db, project, agent, _names(own[0])[:k])
    items = tuple(_item(row) for row in db.execute(_RECENT, (project, agent, k)).fetchall())
    return _Recall(items, True, frozenset(item.task_hash for item in items))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class MemoryStore:
    """Past successes of each agent of one project, in SQLite, with an LRU of recent queries.

    Open it with :func:`open_memory` (which closes it); every method is async
    and does its SQLite work in a worker thread.

    Args:
        path: the database file; its folder is created.
        project: the project whose memories it recalls, records, counts and
            clears (``Config.project_key``); ``None`` is a view of every project
            for :meth:`stats` and :meth:`clear`, which recalls nothing and
            cannot record.
        cache_size: queries kept in the LRU.
        clock: wall-clock seconds for ``created_at`` (tests pin it).
    """

    def __init__(
        self,
        path: Path,
        *,
        project: str | None = None,
        cache_size: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.project = project
        self.cache: LRUCache[Key, _Recall] = LRUCache(cache_size)
        self._clock = clock
        self._writes = 0  # bumped by every write: a recall read before one is not cached
        self._db = Database(self.path, schema=_SCHEMA, probe=_PROBE, migrate=_migrate)

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
        context: Sequence[MemoryItem] = (),
    ) -> None:
        """Remember that ``agent`` answered ``task`` with ``output`` (replacing an older answer).

        Args:
            agent: the agent's name.
            task: the task as the agent was given it, without injected memory.
            output: the successful reply.
            model: the model id that answered.
            usage: its token counts.
            context: the memories the prompt carried (what :meth:`relevant`
                returned): a repeat of ``task`` is given these again.

        Raises:
            ValueError: the store belongs to no project.
        """
        project = self.project
        if project is None:
            raise ValueError("a memory store of no project cannot record")
        usage = usage or Usage()
        task_hash = hash_task(task)
        names = [item.task_hash for item in context]
        row = (
            project,
            agent,
            task_hash,
            task,
            output,
            model,
            usage.input_tokens,
            usage.output_tokens,
            self._clock(),
            json.dumps(names),
        )
        own = [key for key in self.cache if key[:3] == (project, agent, task_hash)]

        def write(db: sqlite3.Connection) -> dict[Key, _Recall]:
            db.execute(_INSERT, row)
            # What a repeat of this task is now given: its own context, as a lookup reads it.
            return {key: _named(db, project, agent, names[: key[3]]) for key in own}

        self._writes += 1
        replaced = await self._run(write)
        self._writes += 1

        def changed(key: Key, recall: _Recall) -> bool:
            if key[0] != project or key[1] != agent:
                return False
            return key[2] == task_hash or recall.first or task_hash in recall.names

        self.cache.discard(changed)
        for key, recall in replaced.items():
            self.cache.put(key, recall)

    async def relevant(self, agent: str, task: str, k: int = 3) -> list[MemoryItem]:
        """Up to ``k`` past successes of ``agent`` in this project to give ``task``.

        A new task is given the most recent; a task answered before is given what
        its last answer was given (never its own answer), so its prompt repeats.

        Args:
            agent: the agent about to run.
            task: its task (hashed; compared with past tasks' hashes).
            k: how many items at most.
        """
        if k < 1 or self.project is None:
            return []
        key: Key = (self.project, agent, hash_task(task), k)
        cached = self.cache.get(key)
        if cached is not None:
            return list(cached.items)
        writes = self._writes
        recall = await self._run(lambda db: _recall(db, key))
        if writes == self._writes:  # no write in between could have changed it
            self.cache.put(key, recall)
        return list(recall.items)

    async def stats(self) -> MemoryStats:
        """Counts and sizes of this project's memory (every project's for ``project=None``)."""
        project = self.project

        def count(db: sqlite3.Connection) -> tuple[Any, ...]:
            where, args = ("", ()) if project is None else (" WHERE project = ?", (project,))
            row = db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT agent), MIN(created_at), MAX(created_at),"
                " COUNT(DISTINCT project), COUNT(*) - COUNT(project) FROM memory_items" + where,
                args,
            ).fetchone()
            return tuple(row)

        items, agents, oldest, newest, projects, unscoped = await self._run(count)
        size = sum(_size(Path(f"{self.path}{suffix}")) for suffix in ("", *COMPANIONS))
        hits, misses = self.cache.hits, self.cache.misses
        return MemoryStats(
            str(self.path),
            *(items, agents, size, oldest, newest, hits, misses),
            project=project,
            projects=projects,
            unscoped=unscoped,
        )

    async def clear(self) -> int:
        """Forget this project's memories (every project's for ``project=None``); how many went."""
        project = self.project
        where, args = ("", ()) if project is None else (" WHERE project = ?", (project,))

        def wipe(db: sqlite3.Connection) -> int:
            removed: int = db.execute("DELETE FROM memory_items" + where, args).rowcount
            if db.execute("SELECT COUNT(*) FROM memory_items" + where, args).fetchone() != (0,):
                raise Damaged("rows survive deleting them")  # a b-tree out of order
            return removed

        self._writes += 1
        removed = await self._run(wipe)
        self._writes += 1
        if project is None:
            self.cache.clear()
        else:
            self.cache.discard(lambda key, _: key[0] == project)
        return removed

    async def aclose(self) -> None:
        """Close the connection (in a thread, after any running query)."""
        await self._db.aclose()


@asynccontextmanager
async def open_memory(
    path: Path, *, project: str | None = None, cache_size: int = 256
) -> AsyncIterator[MemoryStore]:
    """Open the memory store at ``path`` for the duration of an ``async with`` block.

    Args:
        path: the database file (``$CFT_HOME/memory/memory.sqlite3``).
        project: the project it serves (see :class:`MemoryStore`).
        cache_size: queries kept in the LRU.
    """
    store = MemoryStore(path, project=project, cache_size=cache_size)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
