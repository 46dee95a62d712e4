"""``DiskStore``: one diskcache directory that a planted or damaged file cannot turn against us.

The response cache's directory may be shared by several users (documented), so
anything in it may have been written by someone else. Three ways such a file
could hurt the process that opens it, and how each is closed:

* **Rows that name files.** diskcache keeps large values in side files and their
  names in the ``Cache`` table, and reads and *deletes* whatever a row names —
  on lookup, on ``expire``/``cull``/``clear``, and in the cull every write does.
  Here every value is stored inline in SQLite (:class:`InlineDisk`), so a row
  with a ``filename`` was planted (or left by an older version): reading it
  raises :class:`ForeignRow`, and removing it drops the row and reports it to
  ``on_foreign`` without touching the file system. Every file access of
  diskcache goes through ``Disk.fetch`` and ``Disk.remove`` (``Cache.check``,
  which does not, is never called), so no row can reach a path.
* **Settings that retarget the store.** diskcache copies every row of its
  ``Settings`` table onto the cache object (a planted ``_directory`` row moves
  the connection elsewhere) and runs every ``sqlite_*`` row as a ``PRAGMA``.
  :class:`GuardedCache` ignores names it does not know and always applies our
  own values, never the file's.
* **Damage.** A file that is not a database, or whose schema or first query
  fails, is moved aside (:mod:`._quarantine`) and the directory reopened empty:
  when opening, and whenever SQLite later reports corruption (:meth:`DiskStore.run`).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import DBNAME, ENOVAL, METADATA, MODE_RAW, UNKNOWN

from .._quarantine import (
    Damaged,
    Identity,
    identity,
    is_damage,
    lenient_text,
    quarantine,
    reason,
    unfit,
)

__all__ = [
    "DiskStore",
    "ForeignRow",
    "ForeignRowCount",
    "GuardedCache",
    "InlineDisk",
    "warn_foreign",
]

log = logging.getLogger("claude_force_trio.cache")
T = TypeVar("T")

_KNOWN_SETTINGS = frozenset(diskcache.DEFAULT_SETTINGS) | frozenset(METADATA)
#: Entries as diskcache's ``set`` writes an inline value (``mode`` raw, no side
#: file, ``size`` 0), a ``{rows}`` of :data:`_ROW` each; a row already under the
#: key is updated in place, as ``set`` does, so diskcache's triggers keep its
#: ``count`` and ``size`` right.
_UPSERT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count,"
    " tag, size, mode, filename, value) VALUES {rows}"
    " ON CONFLICT(key, raw) DO UPDATE SET store_time = excluded.store_time,"
    " expire_time = excluded.expire_time, access_time = excluded.access_time,"
    " access_count = 0, tag = NULL, size = 0, mode = excluded.mode, filename = NULL,"
    " value = excluded.value"
)
_ROW = f"(?, 1, ?, ?, ?, 0, NULL, 0, {MODE_RAW}, NULL, ?)"
#: Every column diskcache reads; selecting them checks the schema is the one it wrote.
_COLUMNS = (
    "rowid, key, raw, store_time, expire_time, access_time, access_count,"
    " tag, size, mode, filename, value"
)


@functools.cache
def warn_foreign() -> None:
    """Say once per process that rows naming side files were dropped (the count is in stats)."""
    log.warning(
        "cache: dropped a row that names a side file: entries are stored inline, so it was "
        "planted or left by an older version; the file was neither read nor deleted "
        "(`cft cache stats` counts such rows as foreign_rows)"
    )


class ForeignRowCount:
    """Rows dropped for naming a side file: counted from any thread, drained on the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, _filename: str) -> None:
        """Count one dropped row (the ``on_foreign`` hook); the first one is logged."""
        with self._lock:
            self._value += 1
        warn_foreign()

    def take(self) -> int:
        """The count so far, reset to zero (it goes into the persisted counters)."""
        with self._lock:
            value, self._value = self._value, 0
        return value

    def peek(self) -> int:
        """The count not yet taken."""
        with self._lock:
            return self._value


class ForeignRow(ValueError):
    """A cache row names a side file: this store never writes one, so the row is not ours."""


class InlineDisk(diskcache.Disk):  # type: ignore[misc]
    """A diskcache ``Disk`` that keeps every value in SQLite and never touches a file.

    Values are bytes (JSON entries) or numbers (counters), stored inline; a
    pickled value is refused outright, so a planted pickle is a corrupt entry,
    not code we run.

    Attributes:
        on_foreign: called with the name of each dropped row's side file.
    """

    on_foreign: Callable[[str], None] | None = None

    def __init__(
        self, directory: str, min_file_size: int = 0, pickle_protocol: int = 0, **planted: Any
    ) -> None:
        # ``planted``: diskcache passes every ``disk_*`` row of the Settings table.
        super().__init__(directory, min_file_size=0, pickle_protocol=pickle_protocol)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[int, int, None, Any]:
        if type(value) is bytes:
            return 0, MODE_RAW, None, sqlite3.Binary(value)
        if type(value) in (int, float):
            return 0, MODE_RAW, None, value
        raise TypeError(f"the cache stores bytes and numbers only, not {type(value).__name__}")

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if filename is not None:
            raise ForeignRow("the row names a side file")
        if mode != MODE_RAW:
            raise ValueError(f"refusing a cache value stored in mode {mode} (pickled or a file)")
        return super().fetch(mode, filename, value, read)

    def remove(self, file_path: str) -> None:
        # The row is already deleted; the file it names is not ours to read or delete.
        if self.on_foreign is not None:
            self.on_foreign(file_path)


class GuardedCache(diskcache.Cache):  # type: ignore[misc]
    """A ``diskcache.Cache`` on :class:`InlineDisk` whose settings come from us, never the file.

    Args:
        directory: the folder holding ``cache.db``.
        timeout: SQLite busy timeout, seconds.
        **settings: diskcache settings; every default is pinned too.
    """

    def __init__(self, directory: str, *, timeout: float, **settings: Any) -> None:
        self._pinned = {**diskcache.DEFAULT_SETTINGS, **settings}
        super().__init__(directory, timeout=timeout, disk=InlineDisk, **self._pinned)

    @property
    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection = super()._con
        # A garbled byte in a TEXT column (a key, a filename) reads as U+FFFD instead
        # of failing every statement that touches the row.
        con.text_factory = lenient_text
        return con

    def clear(self, retry: bool = False) -> int:
        removed = int(super().clear(retry=retry))
        # diskcache's clear walks rowids upwards from 1: a row at rowid 0 or below
        # (planted, or a garbled page) would survive every clear.
        with self.transact(retry=retry):
            left = self._sql("SELECT filename FROM Cache").fetchall()
            self._sql("DELETE FROM Cache")
            if self._sql("SELECT COUNT(*) FROM Cache").fetchone() != (0,):
                raise Damaged("rows survive deleting every row")  # a b-tree out of order
        for (filename,) in left:
            if filename is not None:
                self.disk.remove(filename)  # counted as foreign, the file untouched
        return removed + len(left)

    def set_many(
        self, items: Sequence[tuple[str, bytes]], *, expire: float | None, retry: bool = False
    ) -> int:
        """Store every ``(key, value)`` inline, in one transaction; return how many rows it culled.

        What diskcache's ``set`` does per item — upsert the row, report a side
        file the old row named (as foreign: never read or deleted), cull up to
        one expired or least-recently-used row once over the size limit — done
        once for the whole batch, in one statement and one cull of up to
        ``len(items)`` rows: diskcache's per-item Python is most of a write's
        cost, and it holds the GIL the event loop needs. Call it with at most
        a few hundred items (the statement has five parameters per item).

        Args:
            items: distinct keys and their JSON bytes.
            expire: seconds until the rows expire (``None``: never).
            retry: retry when the database is busy (as diskcache's ``retry``).
        """
        now = time.time()
        expire_time = None if expire is None else now + expire
        keys = [key for key, _ in items]
        values: list[Any] = []
        for key, value in items:
            values += (key, now, expire_time, now, sqlite3.Binary(value))
        # One statement for the whole batch, not one per row: each statement
        # gives the GIL away and must win it back from a busy event loop.
        upsert = _UPSERT.format(rows=",".join([_ROW] * len(items)))
        named = f"SELECT filename FROM Cache WHERE raw = 1 AND key IN ({','.join('?' * len(keys))})"
        with self._transact(retry) as (sql, cleanup):
            for (filename,) in sql(named, keys).fetchall():
                cleanup(filename)  # reported after the commit, as set() does
            sql(upsert, values)
            written = len(self)
            self._cull(now, sql, cleanup, limit=len(items))
            return int(written - len(self))

    def reset(self, key: str, value: Any = ENOVAL, update: bool = True) -> Any:
        if key not in _KNOWN_SETTINGS:
            return None  # a planted setting: never an attribute of ours, never a PRAGMA
        if key in self._pinned:
            value = self._pinned[key]
        return super().reset(key, value, update)


def _probe(cache: GuardedCache) -> None:
    """The first queries: the schema is diskcache's, the table readable, the counters numbers."""
    sql = cache._sql  # diskcache has no public "run this query"
    sql(f"SELECT {_COLUMNS} FROM Cache LIMIT 0").fetchall()
    sql("SELECT COUNT(*) FROM Cache").fetchall()
    # The batch upsert needs the unique (key, raw) index diskcache creates, not a
    # planted index of that name (``IF NOT EXISTS`` keeps whatever is there).
    indexes = {row[1]: row[2] for row in sql("PRAGMA index_list(Cache)").fetchall()}
    columns = [row[2] for row in sql("PRAGMA index_info(Cache_key_raw)").fetchall()]
    if indexes.get("Cache_key_raw") != 1 or columns != ["key", "raw"]:
        raise Damaged("the (key, raw) index is not diskcache's")
    count, size = len(cache), cache.volume()
    if type(count) is not int or type(size) is not int or size < 0:
        raise ValueError("the store's size counters are not numbers")


class DiskStore:
    """One diskcache directory opened as one :class:`GuardedCache` per role, healed when damaged.

    Args:
        directory: the folder; ``cache.db`` lives in it.
        timeouts: role name → SQLite busy timeout; each role is a connection set on
            the same file (e.g. fast reads on the event loop, patient writes in threads).
        on_foreign: called with the name in each dropped row that named a side file.
        **settings: diskcache settings for every role.
    """

    def __init__(
        self,
        directory: Path,
        *,
        timeouts: Mapping[str, float],
        on_foreign: Callable[[str], None],
        **settings: Any,
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DBNAME
        #: Bumped each time the store is reopened, so concurrent failures heal it once.
        self.generation = 0
        self._timeouts = dict(timeouts)
        self._settings = settings
        self._on_foreign = on_foreign
        self._lock = threading.Lock()
        self._identity: Identity | None = None
        self._caches = self._open()

    def __getitem__(self, role: str) -> GuardedCache:
        return self._caches[role]

    def _open(self) -> dict[str, GuardedCache]:
        self.directory.mkdir(parents=True, exist_ok=True)
        why = unfit(self.path)
        if why is not None:
            self._move_aside(why, expect=None)
        try:
            return self._connect()
        except Exception as exc:
            if not is_damage(exc, opening=True):
                raise
            self._move_aside(reason(exc), expect=identity(self.path))
        return self._connect()

    def _connect(self) -> dict[str, GuardedCache]:
        caches = {
            role: GuardedCache(str(self.directory), timeout=timeout, **self._settings)
            for role, timeout in self._timeouts.items()
        }
        for cache in caches.values():
            cache.disk.on_foreign = self._on_foreign
        _probe(next(iter(caches.values())))
        self._identity = identity(self.path)
        return caches

    def _move_aside(self, why: str, *, expect: Identity | None) -> None:
        target = quarantine(self.path, expect=expect)
        if target is not None:
            log.warning(
                "cache: %s was damaged (%s); moved it to %s and started an empty one",
                self.path,
                why,
                target,
            )

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` (using the caches through ``self[role]``); after damage, heal and retry once.

        Args:
            fn: a blocking store operation (runs in the calling thread).
        """
        generation = self.generation
        try:
            return fn()
        except Exception as exc:
            if not is_damage(exc):
                raise
            self.recover(reason(exc), generation)
        return fn()

    def check(self) -> None:
        """Run SQLite's ``quick_check`` and heal the store if it fails.

        For damage SQLite does not notice by itself: an index that leads a lookup
        to another key's row. It reads the whole file, so callers run it rarely.
        """
        generation = self.generation
        role = next(iter(self._timeouts))
        verdict = self.run(lambda: self[role]._sql("PRAGMA quick_check").fetchall())
        if verdict != [("ok",)]:
            found = " ".join(str(verdict[0][0]).split())
            self.recover(f"quick_check: {found[:120]}", generation)

    def recover(self, why: str, generation: int) -> None:
        """Move the damaged file aside and reopen empty, unless that already happened.

        Args:
            why: what showed the damage, for the warning.
            generation: :attr:`generation` when the failing operation started; if it
                has moved on, another caller healed the store already.
        """
        with self._lock:
            if generation != self.generation:
                return
            old = self._caches
            self._move_aside(why, expect=self._identity)
            self._caches = self._open()
            self.generation += 1
        for cache in old.values():
            # This thread's connections; other threads' close with the old objects.
            cache.close()

    def close(self) -> None:
        """Close the calling thread's connections."""
        for cache in self._caches.values():
            cache.close()
