"""The memory's SQLite file: one connection, used from worker threads, that heals from damage.

Why SQLite: one file under ``$CFT_HOME/memory``, transactional, shared safely by
several processes (WAL mode lets readers and a writer work at once), and in the
standard library. Every statement runs in a worker thread
(``anyio.to_thread.run_sync``) behind a ``CapacityLimiter(1)``: sqlite3 blocks,
and one connection must not be used by two threads at the same time.
The run journal (``_journal``) opens its file through this class too.

A damaged file never stops a command (:mod:`.._quarantine`): when the database
cannot be opened, fails its first queries, or SQLite reports corruption later,
it is moved aside to ``memory.sqlite3.damaged-<UTC time>`` (still readable by
``sqlite3`` for recovery), an empty one is started, one warning names both
paths, and the operation is retried once on the fresh file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import anyio

from .._errors import ConfigError
from .._quarantine import (
    Identity,
    identity,
    is_damage,
    lenient_text,
    quarantine,
    reason,
    unfit,
    while_locked,
)

__all__ = ["Database"]

R = TypeVar("R")


#: How long opening waits, in all, for other processes' locks (as the busy timeout does).


class Database:
    """A lazily opened SQLite connection that moves a damaged file aside and starts afresh.

    Args:
        path: the database file; its folder is created.
        schema: the script that creates the tables (run on every open).
        probe: queries that must succeed on a sound file of ours (run on every open).
        label: what the file holds, for messages and the logger's name.
        synchronous: SQLite's ``synchronous`` setting; ``FULL`` makes each commit
            survive power loss, not only a killed process (the run journal).
        migrate: brings an older file's tables up to ``schema`` (run on every
            open, after the schema script and before the probe; it must be
            cheap when there is nothing to do, and safe when two processes race).
    """

    def __init__(
        self,
        path: Path,
        *,
        schema: str,
        probe: tuple[str, ...],
        label: str = "memory",
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        migrate: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.label = label
        self._synchronous = synchronous
        self._log = logging.getLogger(f"claude_force_trio.{label}")
        #: Bumped whenever the file is moved aside: what was read before is gone.
        self.generation = 0
        self._schema = schema
        self._probe = probe
        self._migrate = migrate
        self._limiter = anyio.CapacityLimiter(1)
        self._db: sqlite3.Connection | None = None
        self._opened = False  # _db has passed the first queries
        self._identity: Identity | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(connection)`` in one transaction, in a worker thread.

        Raises:
            ConfigError: the file cannot be opened (not writable, locked for
                10 s…), or is damaged and cannot be moved aside.
        """
        return await anyio.to_thread.run_sync(self._heal_and_call, fn, limiter=self._limiter)

    def _heal_and_call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        try:
            return self._call(fn)
        except Exception as exc:
            if not is_damage(exc, opening=not self._opened):
                raise
            self._move_aside(reason(exc), expect=self._identity)
        return self._call(fn)  # once more, on the fresh file

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
                raise ConfigError(
                    str(self.path), f"cannot open {self.label}: {reason(exc)}"
                ) from exc
            self._opened = True
        with db:  # one transaction: committed on success, rolled back on error
            return fn(db)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        why = unfit(self.path)
        if why is not None:
            self._move_aside(why, expect=None)
        self._identity = identity(self.path)  # what a failure below would move aside
        # check_same_thread=False: each call may run in a different worker thread;
        # the CapacityLimiter(1) guarantees one thread at a time.
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        # A garbled byte in one row reads as U+FFFD instead of failing every query on it.
        db.text_factory = lenient_text
        self._db = db  # so that a failure below closes it only after moving the file
        while_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        while_locked(lambda: db.executescript(self._schema))
        if self._migrate is not None:
            self._migrate(db)
        for query in self._probe:
            db.execute(query).fetchall()
        self._identity = identity(self.path)
        return db

    def _move_aside(self, why: str, *, expect: Identity | None) -> None:
        """Rename the damaged file (unless another process did), then close the connection.

        Raises:
            ConfigError: the file cannot be renamed.
        """
        self.generation += 1
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
            self._log.warning(
                "%s: %s was damaged (%s); moved it to %s and started an empty one",
                self.label,
                self.path,
                why,
                target,
            )

    async def aclose(self) -> None:
        """Close the connection (in a thread, after any running statement)."""
        await anyio.to_thread.run_sync(self._close, limiter=self._limiter)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db = None
        self._opened = False
