"""Group commit: the writes that queue up while one commit is on its way go out in the next.

Why: a durable commit costs a disk flush (about a millisecond here, far more on
some disks), and a wide workflow finishes many steps at once. Committing each
step alone would make the journal the bottleneck of a fast run; committing
whatever queued up during the previous flush keeps every write durable before
its caller goes on and pays one flush per batch instead of one per step.

Order is kept: statements run in the order their callers queued them, in one
transaction per batch, so a later state of a step always wins and a run's
``finish`` lands after the steps journalled before it.

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

    __slots__ = ("done", "error", "statements")

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.done = False
        self.error: Exception | None = None

    def __call__(self, db: sqlite3.Connection) -> None:
        for sql, params in self.statements:
            db.execute(sql, params)


class GroupCommit:
    """Durable writes to one database, batched while a commit is in progress.

    Args:
        db: the database the batches are committed to.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = anyio.Lock()
        self._open = _Batch()

    async def write(self, sql: str, params: Sequence[Any]) -> None:
        """Run ``sql`` with ``params``; committed (with whatever queued beside it) on return.

        Raises:
            Exception: what committing the batch raised (every caller in it sees it).
        """
        batch = self._open
        batch.statements.append((sql, params))
        async with self._lock:
            if not batch.done:  # nobody committed it while we waited: our turn
                self._open = _Batch()  # writes from now on wait for the next commit
                try:
                    # Shielded: a batch holds other callers' writes, and it must not be
                    # marked done unless it ran (a commit takes milliseconds).
                    with anyio.CancelScope(shield=True):
                        await self._db.run(batch)
                except Exception as exc:
                    batch.error = exc
                finally:
                    batch.done = True
        if batch.error is not None:
            raise batch.error
