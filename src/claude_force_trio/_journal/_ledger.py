"""The day-budget ledger: what every process on the machine has spent today, and holds.

Why a ledger of *holds*: before a call the engine reserves the call's
worst-case cost and settles the real cost after, so two processes that check
"is there room?" at the same moment cannot both spend the last dollar. A
reservation that fits becomes a :class:`Hold` that counts against the limit
until it is settled or expires (wall-clock time, so a hold left by a killed
process is freed after its TTL even though nobody settles it).

Amounts are integer micro-dollars (:data:`MICROS_PER_USD`): sums of floats
drift, and "spent + reserved + amount <= limit" must be exact.

Two backends keep the same contract (:class:`DayLedger`): SQLite here, for the
processes of one machine, and Redis (:mod:`._ledger_redis`) across machines.

SQLite: a file of its own, ``$CFT_HOME/runs/budget.db``, beside the journal
and not inside it, so that healing one never moves the other aside. WAL with
``synchronous=FULL``; each reserve and settle is one ``BEGIN IMMEDIATE``
transaction, so writers on the machine take turns (the second waits up to the
connection's 10 s busy timeout) and the check and the hold it allows are one
atomic step. A damaged file is moved aside with one warning by
:class:`.._memory._database.Database` and an empty ledger takes its place:
the day's totals are then lost and the day starts again from zero. That is
fail-open on purpose — a garbled state file must not stop every command —
and the per-run caps, kept in memory, still bound each run.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio

from .._memory._database import Database
from .._paths import state_home
from .._run_budget import MICROS_PER_USD

__all__ = [
    "LEDGER_FILE",
    "MICROS_PER_USD",
    "DayLedger",
    "Hold",
    "LedgerStatus",
    "SqliteLedger",
    "check_amount",
    "check_reservation",
    "day_key",
    "ledger_path",
    "open_sqlite_ledger",
]

LEDGER_FILE = "budget.db"
#: How long a settled hold's id is remembered, so a second settle adds nothing.
SETTLED_KEEP_S = 7 * 24 * 3600.0

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Hold:
    """One reservation, as :meth:`DayLedger.reserve` returns it.

    Attributes:
        key: the budget it counts against, e.g. ``day:2026-12-02``.
        hold_id: a uuid4 in hex, unique across processes and machines.
        amount: micro-dollars reserved.
    """

    key: str
    hold_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    """A snapshot of one budget key.

    Attributes:
        key: the budget.
        spent: settled micro-dollars.
        reserved: micro-dollars held by live (unexpired) holds.
        holds: how many live holds there are.
    """

    key: str
    spent: int
    reserved: int
    holds: int


class DayLedger(Protocol):
    """Spent totals and holds per key, shared by processes (SQLite) or machines (Redis)."""

    #: Where the ledger lives, for messages: a file path, or a Redis URL without password.
    where: str

    async def reserve(self, key: str, amount: int, limit: int, *, ttl_s: float) -> Hold | None:
        """Atomically: drop expired holds of ``key``; if ``spent + reserved + amount <= limit``
        add a hold that expires ``ttl_s`` from now (wall clock) and return it; else ``None``.
        """
        ...

    async def settle(self, hold: Hold, spent: int) -> None:
        """Atomically: remove ``hold`` (if still there) and add ``spent`` to its key's total.

        Idempotent per ``hold_id``: a second settle of the same hold adds nothing.
        """
        ...

    async def status(self, key: str) -> LedgerStatus:
        """The spent total and live holds of ``key``."""
        ...

    async def aclose(self) -> None:
        """Release the connection."""
        ...


def day_key(at: datetime | None = None) -> str:
    """``day:YYYY-MM-DD`` of the UTC date of ``at`` (default: now).

    Args:
        at: a timezone-aware moment.

    Raises:
        ValueError: ``at`` is naive (its UTC date would be a guess).
    """
    if at is None:
        at = datetime.now(UTC)
    elif at.utcoffset() is None:
        raise ValueError("day_key needs a timezone-aware datetime")
    return f"day:{at.astimezone(UTC):%Y-%m-%d}"


def ledger_path() -> Path:
    """``$CFT_HOME/runs/budget.db``: the ledger every process on the machine shares."""
    return state_home() / "runs" / LEDGER_FILE


def check_amount(name: str, value: int) -> None:
    """Refuse what is not a whole, non-negative number of micro-dollars.

    Raises:
        ValueError: ``value`` is a bool, not an int, or negative.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int of micro-dollars, not {value!r}")


def check_reservation(amount: int, limit: int, ttl_s: float) -> None:
    """Refuse a reservation that makes no sense (both backends call this).

    Raises:
        ValueError: a bad amount or limit, or a TTL that is not a positive number.
    """
    check_amount("amount", amount)
    check_amount("limit", limit)
    if not ttl_s > 0 or ttl_s == float("inf"):
        raise ValueError(f"ttl_s must be a positive number of seconds, not {ttl_s!r}")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_spent (key TEXT PRIMARY KEY, spent INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS budget_holds (
    hold_id TEXT PRIMARY KEY, key TEXT NOT NULL, amount INTEGER NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS budget_holds_by_key ON budget_holds (key, expires_at);
CREATE TABLE IF NOT EXISTS budget_settled (hold_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS budget_settled_by_time ON budget_settled (at);
"""
_PROBE = (
    "SELECT key, spent FROM budget_spent LIMIT 0",
    "SELECT hold_id, key, amount, expires_at FROM budget_holds LIMIT 0",
    "SELECT hold_id, at FROM budget_settled LIMIT 0",
    "SELECT COUNT(*) FROM budget_spent",
    "SELECT COUNT(*) FROM budget_holds",
)
_STATUS = (
    "SELECT coalesce((SELECT spent FROM budget_spent WHERE key = ?1), 0), "
    "coalesce(sum(amount), 0), count(*) FROM budget_holds WHERE key = ?1 AND expires_at > ?2"
)
_DROP_EXPIRED = "DELETE FROM budget_holds WHERE key = ? AND expires_at <= ?"
_ADD_HOLD = "INSERT INTO budget_holds (hold_id, key, amount, expires_at) VALUES (?, ?, ?, ?)"
_MARK_SETTLED = "INSERT OR IGNORE INTO budget_settled (hold_id, at) VALUES (?, ?)"
_DROP_HOLD = "DELETE FROM budget_holds WHERE hold_id = ?"
_ADD_SPENT = (
    "INSERT INTO budget_spent (key, spent) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent"
)
_PRUNE_SETTLED = "DELETE FROM budget_settled WHERE at < ?"


class SqliteLedger:
    """The day ledger in one SQLite file, shared by every process that opens it.

    Open it with :func:`open_sqlite_ledger` (which closes it). Calls run in a
    worker thread, one at a time per ledger; across processes each reserve and
    settle is a ``BEGIN IMMEDIATE`` transaction, so they take turns.

    Args:
        path: the database file; its folder is created.
        clock: wall-clock seconds, for hold expiry (tests pass a fake one).
    """

    def __init__(self, path: Path, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._clock = clock
        self._db = Database(
            self.path, schema=_SCHEMA, probe=_PROBE, label="budget", synchronous="FULL"
        )

    def __repr__(self) -> str:
        return f"SqliteLedger({self.where!r})"

    async def reserve(self, key: str, amount: int, limit: int, *, ttl_s: float) -> Hold | None:
        """Hold ``amount`` under ``key`` if it fits under ``limit`` with what is spent and held.

        Args:
            key: the budget, e.g. :func:`day_key`.
            amount: micro-dollars to hold.
            limit: the budget's cap in micro-dollars.
            ttl_s: seconds until the hold expires unless settled.

        Returns:
            The hold, or ``None`` when it does not fit.

        Raises:
            ValueError: a negative or non-int amount or limit, or a bad TTL.
            ConfigError: the file cannot be opened.
            sqlite3.OperationalError: another process kept the file locked past the
                busy timeout.
        """
        check_reservation(amount, limit, ttl_s)
        hold = Hold(key=key, hold_id=uuid.uuid4().hex, amount=amount)

        def run(db: sqlite3.Connection) -> Hold | None:
            db.execute("BEGIN IMMEDIATE")
            now = self._clock()  # read under the lock: waiting for it takes time
            db.execute(_DROP_EXPIRED, (key, now))
            spent, reserved, _ = db.execute(_STATUS, (key, now)).fetchone()
            if spent + reserved + amount > limit:
                return None
            db.execute(_ADD_HOLD, (hold.hold_id, key, amount, now + ttl_s))
            return hold

        return await self._db.run(run)

    async def settle(self, hold: Hold, spent: int) -> None:
        """Release ``hold`` and add ``spent`` to its key's total, once per hold.

        Args:
            hold: what :meth:`reserve` returned (expired or not: the money was spent).
            spent: the real cost in micro-dollars; it may exceed ``hold.amount``.

        Raises:
            ValueError: ``spent`` is negative or not an int.
            ConfigError: the file cannot be opened.
            sqlite3.OperationalError: another process kept the file locked past the
                busy timeout.
        """
        check_amount("spent", spent)

        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            now = self._clock()
            if db.execute(_MARK_SETTLED, (hold.hold_id, now)).rowcount == 0:
                return  # settled before
            db.execute(_DROP_HOLD, (hold.hold_id,))
            db.execute(_ADD_SPENT, (hold.key, spent))
            db.execute(_PRUNE_SETTLED, (now - SETTLED_KEEP_S,))

        await self._db.run(run)

    async def status(self, key: str) -> LedgerStatus:
        """The spent total and live holds of ``key``.

        Raises:
            ConfigError: the file cannot be opened.
        """

        def run(db: sqlite3.Connection) -> LedgerStatus:
            spent, reserved, holds = db.execute(_STATUS, (key, self._clock())).fetchone()
            return LedgerStatus(key=key, spent=spent, reserved=reserved, holds=holds)

        return await self._db.run(run)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._db.aclose()


@asynccontextmanager
async def open_sqlite_ledger(
    path: Path | None = None, *, clock: Clock = time.time
) -> AsyncIterator[SqliteLedger]:
    """Open the machine's day ledger for the duration of an ``async with`` block.

    Args:
        path: the database file; default :func:`ledger_path`.
        clock: wall-clock seconds, for hold expiry.
    """
    ledger = SqliteLedger(ledger_path() if path is None else path, clock=clock)
    try:
        yield ledger
    finally:
        with anyio.CancelScope(shield=True):
            await ledger.aclose()
