"""Group commit: the writes that queue up while one commit is on its way go out in the next.

Why: a durable commit costs a disk flush (about a millisecond here, far more on
some disks), and a wide workflow finishes many steps at once. Committing each
step alone would make the journal the bottleneck of a fast run; committing
whatever queued up during the previous flush keeps every write durable before
its caller goes on and pays one flush per batch instead of one per step.

Order is kept: statements run in the order their callers queued them, in one
transaction per batch, so a later state of a step always wins and a run's
``finish`` lands after the steps journalled before it. Consecutive writes of
one statement (a batch of steps) go to SQLite in one ``executemany``.

Why events rather than a lock: the writers waiting for a commit all wake at
its end, in one pass of the scheduler, where a lock would hand itself on to
one waiter after another (a thousand waiters: a thousand passes). The first
of them to run commits the batch that queued up meanwhile; the rest of that
batch then wait for its commit.

A caller cancelled while it waits leaves its statement queued: it is committed
with the next batch (a write is never half done, only possibly late).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import anyio

from .._memory._database import Database

__all__ = ["GroupCommit"]

Statement = tuple[str, Sequence[Any]]


class _Batch:
    """The statements of one commit, and how it went."""

    __slots__ = ("committed", "error", "statements")

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        #: Set once the batch ran (committed, or failed with ``error``).
        self.committed = anyio.Event()
        self.error: Exception | None = None

    def __call__(self, db: sqlite3.Connection) -> None:
        statements = self.statements
        start, count = 0, len(statements)
        while start < count:
            sql = statements[start][0]
            end = start + 1
            while end < count and statements[end][0] == sql:
                end += 1
            if end - start == 1:
                db.execute(sql, statements[start][1])
            else:  # one call for a run of the same statement: rows in queue order
                db.executemany(sql, [params for _, params in statements[start:end]])
            start = end


class GroupCommit:
    """Durable writes to one database, batched while a commit is in progress.

    Args:
        db: the database the batches are committed to.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._open = _Batch()
        self._running: _Batch | None = None  # the batch being committed, if any

    async def write(self, sql: str, params: Sequence[Any]) -> None:
        """Run ``sql`` with ``params``; committed (with whatever queued beside it) on return.

        Raises:
            Exception: what committing the batch raised (every caller in it sees it).
        """
        batch = self._open
        batch.statements.append((sql, params))
        while not batch.committed.is_set():
            running = self._running
            if running is None:  # nothing on its way: ours (still the open batch) goes now
                await self._commit(batch)
            else:  # ours goes in the next commit, once this one is done
                await running.committed.wait()
        if batch.error is not None:
            raise batch.error

    async def _commit(self, batch: _Batch) -> None:
        self._open = _Batch()  # writes from now on wait for the next commit
        self._running = batch
        try:
            # Shielded: a batch holds other callers' writes, and it must not be
            # marked committed unless it ran (a commit takes milliseconds).
            with anyio.CancelScope(shield=True):
                await self._db.run(batch)
        except Exception as exc:
            batch.error = exc
        except BaseException:
            batch.error = RuntimeError("the commit was interrupted")
            raise
        finally:
            self._running = None
            batch.committed.set()
