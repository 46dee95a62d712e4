"""``SQLiteVectors``: the vectors in ``<cache directory>/semantic.db``, shared by processes.

One table, an append log: ``id INTEGER PRIMARY KEY AUTOINCREMENT`` never
reuses an id (not even the largest after a delete), so "rows of this scope with
an id above the last one I saw" — one indexed range query, ~50 µs when nothing
is new — is all a process needs to see what the others added. WAL lets those
reads run beside another process's write.

**Bounded**: each push deletes expired rows (as old as the TTL or older) and,
past ``max_entries`` rows, the oldest ones; the in-memory index has its own bound.

**Damage** is handled as the other stores handle it (:mod:`..._quarantine`):
a file that is not a database, or whose schema or first queries fail, is
moved aside to ``semantic.db.damaged-<UTC time>`` with one warning and an empty
one started; corruption reported later heals the same way, and the operation
is retried once. After that every scope is read afresh from id 0.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..._quarantine import (
    Identity,
    identity,
    is_damage,
    lenient_text,
    quarantine,
    reason,
    unfit,
    while_locked,
)
from ._index import IndexEntry
from ._store import FIELDS, decode_entry, encode_entry, valid_namespace

__all__ = ["DB_NAME", "SQLiteVectors"]

log = logging.getLogger("claude_force_trio.cache")
T = TypeVar("T")

DB_NAME = "semantic.db"
_BUSY_TIMEOUT_S = 10.0


def _schema(table: str) -> str:
    return f"""
    CREATE TABLE IF NOT EXISTS {table} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        signature TEXT NOT NULL,
        contrast INTEGER NOT NULL,
        direction INTEGER NOT NULL,
        words BLOB NOT NULL,
        created REAL NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table}(scope, key);
    CREATE INDEX IF NOT EXISTS {table}_log ON {table}(scope, id);
    CREATE INDEX IF NOT EXISTS {table}_age ON {table}(created);
    """


class SQLiteVectors:
    """The :class:`~._store.VectorStore` on SQLite. Blocking: call it from a worker thread.

    Args:
        directory: the response cache's directory; the file is ``semantic.db`` in it.
        dim: the vectors' length.
        max_entries: the most rows kept; a push beyond drops the oldest.
        ttl_s: rows older than this are deleted on push (``None``: kept).
        clock: wall-clock seconds.
        namespace: the table's name.
    """

    name = "sqlite"

    def __init__(
        self,
        directory: Path,
        *,
        dim: int,
        max_entries: int,
        ttl_s: float | None,
        clock: Callable[[], float],
        namespace: str = "cft",
    ) -> None:
        self.path = Path(directory) / DB_NAME
        self.dim = dim
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._table = f"{valid_namespace(namespace)}_semantic"
        self._db: sqlite3.Connection | None = None
        self._identity: Identity | None = None
        self._last: dict[str, int] = {}  # scope -> the largest id pulled
        self._connect_healing()

    # -- the connection -----------------------------------------------------------

    def _connect_healing(self) -> None:
        try:
            self._db = self._connect()
        except Exception as exc:
            if not is_damage(exc, opening=True):
                self.close()
                raise
            self._move_aside(reason(exc), expect=self._identity)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        why = unfit(self.path)
        if why is not None:
            self._move_aside(why, expect=None)
        self._identity = identity(self.path)
        # check_same_thread=False: calls come from worker threads, one at a time.
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
        self._db = db  # closed by _move_aside if what follows finds damage
        db.text_factory = lenient_text
        while_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
        db.execute("PRAGMA synchronous=NORMAL")
        while_locked(lambda: db.executescript(_schema(self._table)))
        db.execute(f"SELECT id, scope, {', '.join(FIELDS)} FROM {self._table} LIMIT 1").fetchall()
        db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchall()
        self._identity = identity(self.path)
        return db

    def _move_aside(self, why: str, *, expect: Identity | None) -> None:
        target = quarantine(self.path, expect=expect)
        if self._db is not None:
            self._db.close()  # after the rename: the -wal moves with the damaged file
        self._db = None
        self._last.clear()
        if target is not None:
            log.warning(
                "cache: %s was damaged (%s); moved it to %s and started an empty one",
                self.path,
                why,
                target,
            )

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` in one transaction; after damage, heal and retry once."""
        for attempt in (1, 2):
            try:
                if self._db is None:
                    self._connect_healing()
                assert self._db is not None
                with self._db:
                    return fn(self._db)
            except Exception as exc:
                if attempt == 2 or not is_damage(exc):
                    raise
                self._move_aside(reason(exc), expect=self._identity)
        raise AssertionError("unreachable")

    # -- the store ------------------------------------------------------------------

    def pull(self, scope: str, expired_at: float | None) -> list[IndexEntry]:
        """Rows of ``scope`` with an id above the last one pulled (see ``VectorStore.pull``)."""

        def read(db: sqlite3.Connection) -> list[tuple[object, ...]]:
            query = (
                f"SELECT id, {', '.join(FIELDS)} FROM {self._table}"
                " WHERE scope = ? AND id > ? AND created > ? ORDER BY id"
            )
            floor = -math.inf if expired_at is None else expired_at
            return db.execute(query, (scope, self._last.get(scope, 0), floor)).fetchall()

        rows = self._run(read)
        if rows and isinstance(rows[-1][0], int):
            self._last[scope] = rows[-1][0]
        entries = []
        for row in rows:
            entry = decode_entry(scope, dict(zip(FIELDS, row[1:], strict=True)), self.dim)
            if entry is not None:
                entries.append(entry)
        return entries

    def push(self, entry: IndexEntry) -> None:
        """Append ``entry`` (its older row replaced); delete expired rows, then the oldest."""
        self.push_many([entry])

    def push_many(self, entries: Sequence[IndexEntry]) -> None:
        """Append every entry in one transaction, then apply the TTL and the bound once."""
        table = self._table
        insert = f"INSERT INTO {table}(scope, {', '.join(FIELDS)}) VALUES (?{', ?' * len(FIELDS)})"
        rows = []
        for entry in entries:
            fields = encode_entry(entry)
            rows.append((entry.scope, *(fields[name] for name in FIELDS)))

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                f"DELETE FROM {table} WHERE scope = ? AND key = ?",
                [(entry.scope, entry.key) for entry in entries],
            )
            db.executemany(insert, rows)
            if self.ttl_s is not None:
                db.execute(f"DELETE FROM {table} WHERE created <= ?", (self._clock() - self.ttl_s,))
            self._bound(db)

        self._run(write)

    def _bound(self, db: sqlite3.Connection) -> None:
        """Delete the oldest rows beyond ``max_entries``.

        ``newest id - oldest id + 1`` bounds the count from above and costs two
        index look-ups; only when it exceeds the bound are rows counted (a
        ``COUNT(*)`` reads the whole index: ~ms at 100 000 rows).
        """
        table = self._table
        low, high = db.execute(f"SELECT MIN(id), MAX(id) FROM {table}").fetchone()
        if low is None or high - low + 1 <= self.max_entries:
            return
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        if count > self.max_entries:
            db.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT ?)",
                (count - self.max_entries,),
            )

    def drop(self, scope: str, key: str) -> None:
        """Delete the row for ``key`` in ``scope``."""
        self._run(
            lambda db: db.execute(
                f"DELETE FROM {self._table} WHERE scope = ? AND key = ?", (scope, key)
            )
        )

    def count(self) -> int:
        """How many rows the file holds (every scope)."""
        (count,) = self._run(
            lambda db: db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()
        )
        return int(count)

    def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            self._db.close()
        self._db = None
