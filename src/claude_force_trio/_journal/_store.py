"""The run journal: one SQLite file of runs, their steps' last states, and approval decisions.

Why SQLite in WAL mode: one file under ``$CFT_HOME/runs``, transactional, and
shared by every process on the machine (a writer and readers at once; writers
wait for each other up to the busy timeout instead of failing). Every write is
committed with ``synchronous=FULL`` before its method returns, so a step the
journal has acknowledged survives ``kill -9`` and, as far as SQLite promises,
power loss: that is what lets a resume skip it without paying for it again.

The connection, its worker thread and its healing from damage are
:class:`.._memory._database.Database`'s: a damaged file is moved aside with one
warning and an empty journal takes its place (the runs in it are then lost to
history and to resume, but no command stops).

Approval decisions (``cft runs approve`` / ``reject``, or a library callback)
live in the same file, one row per gated step: a resume finds them there.
A journal written before approvals existed gains the table on open.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, get_args

import anyio

from .._errors import ConfigError
from .._memory._database import Database
from .._paths import state_home
from ._group import GroupCommit
from ._records import Decision, RunKind, RunRecord, decode_object, decode_steps, iso

__all__ = ["JOURNAL_FILE", "MIN_PREFIX", "Journal", "journal_path", "open_journal"]

JOURNAL_FILE = "journal.db"
#: The shortest run id prefix :meth:`Journal.get_run` looks up (shorter ones
#: would match by accident as the history grows).
MIN_PREFIX = 6
R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, workflow TEXT, fingerprint TEXT, task TEXT,
    status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, document TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL,
    updated_at TEXT NOT NULL, PRIMARY KEY (run_id, step_id)
);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at DESC);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, approved INTEGER NOT NULL, note TEXT,
    decided_at TEXT NOT NULL, PRIMARY KEY (run_id, step_id)
);
"""
_RUN_COLUMNS = (
    "run_id, kind, workflow, fingerprint, task, status, started_at, finished_at, document"
)
_STEP_COLUMNS = "run_id, step_id, status, data, updated_at"
_DECISION_COLUMNS = "run_id, step_id, approved, note, decided_at"
#: The first queries: our schema is there and both tables can be walked.
_PROBE = (
    f"SELECT {_RUN_COLUMNS} FROM runs LIMIT 0",
    f"SELECT {_STEP_COLUMNS} FROM steps LIMIT 0",
    "SELECT COUNT(*) FROM runs",
    "SELECT COUNT(*) FROM steps",
    f"SELECT {_DECISION_COLUMNS} FROM approvals LIMIT 0",
)
# Starting an id again (a resume) marks the run running and keeps its steps.
_START = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, NULL) "
    "ON CONFLICT (run_id) DO UPDATE SET kind = excluded.kind, workflow = excluded.workflow, "
    "fingerprint = excluded.fingerprint, task = excluded.task, status = 'running', "
    "finished_at = NULL, document = NULL"
)
_STEP = f"INSERT OR REPLACE INTO steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
# A later decision on the same step replaces the earlier one.
_DECIDE = f"INSERT OR REPLACE INTO approvals ({_DECISION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_DECISION = f"SELECT {_DECISION_COLUMNS} FROM approvals WHERE run_id = ? AND step_id = ?"
_FINISH = "UPDATE runs SET status = ?, finished_at = ?, document = ? WHERE run_id = ?"
_BY_ID = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
# The same, without the document (as large as all the steps for a finished run).
_BY_ID_BARE = _BY_ID.replace(", document FROM", ", NULL FROM")
_BY_PREFIX = "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id LIMIT 3"
_COUNT_PREFIX = "SELECT COUNT(*) FROM runs WHERE substr(run_id, 1, ?) = ?"
_STEPS_OF = "SELECT step_id, data, 0 FROM steps WHERE run_id = ? ORDER BY rowid"
# The third column: the row is one well-formed JSON value on its own (decode_steps).
_STEPS_CHECKED = "SELECT step_id, data, json_valid(data) FROM steps WHERE run_id = ? ORDER BY rowid"
_LIST = (
    f"SELECT {_RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR workflow = ?1) "
    "AND (?2 IS NULL OR status = ?2) ORDER BY started_at DESC, rowid DESC LIMIT ?3"
)
_OLD = "coalesce(finished_at, started_at) < ?1"
_PRUNE = (
    f"DELETE FROM steps WHERE run_id IN (SELECT run_id FROM runs WHERE {_OLD})",
    # Steps whose run row was lost (a journal replaced mid-run) age by their own time.
    "DELETE FROM steps WHERE updated_at < ?1 AND run_id NOT IN (SELECT run_id FROM runs)",
    f"DELETE FROM approvals WHERE run_id IN (SELECT run_id FROM runs WHERE {_OLD})",
    "DELETE FROM approvals WHERE decided_at < ?1 AND run_id NOT IN (SELECT run_id FROM runs)",
)
_PRUNE_RUNS = f"DELETE FROM runs WHERE {_OLD}"


def journal_path() -> Path:
    """``$CFT_HOME/runs/journal.db``: the journal every command shares (not created here)."""
    return state_home() / "runs" / JOURNAL_FILE


def _now() -> datetime:
    return datetime.now(UTC)


#: One encoder for every row. No circular check: the documents are the
#: results' ``to_dict()``, trees by construction, and the check costs a fifth.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_dumps = _ENCODER.encode


class Journal:
    """Runs and the last state of each of their steps, in one SQLite file.

    Open it with :func:`open_journal` (which closes it); every method is async
    and does its SQLite work in a worker thread, one statement at a time per
    journal. Writes made at the same moment share one commit (:mod:`._group`).
    Several journals (in one process or many) may share a file.

    Args:
        path: the database file; its folder is created.
        clock: the current time, for ``started_at`` and friends (tests pin it).
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._db = Database(
            self.path, schema=_SCHEMA, probe=_PROBE, label="journal", synchronous="FULL"
        )
        self._writes = GroupCommit(self._db)

    async def start_run(
        self,
        run_id: str,
        *,
        kind: str,
        workflow: str | None,
        fingerprint: str | None,
        task: str | None,
    ) -> None:
        """Journal that a run starts (or, for a known id, starts again: a resume).

        A restarted run is ``running`` again, keeps its first ``started_at`` and
        its steps, and takes the new fingerprint, workflow and task.

        Args:
            run_id: the run's id.
            kind: ``workflow`` or ``many``.
            workflow: the workflow's name, for ``workflow`` runs.
            fingerprint: :func:`fingerprint` of the config for this run.
            task: the run's task, if any.

        Raises:
            ValueError: ``kind`` is not one of the two.
        """
        if kind not in get_args(RunKind):
            raise ValueError(f"run kind must be 'workflow' or 'many', not {kind!r}")
        row = (run_id, kind, workflow, fingerprint, task, iso(self._clock()))
        await self._writes.write(_START, row)

    async def record_step(self, run_id: str, step: Mapping[str, Any]) -> None:
        """Journal a step's state; committed to disk (``synchronous=FULL``) when this returns.

        A step journalled again replaces its earlier state.

        Args:
            run_id: the run the step belongs to.
            step: the step's ``StepResult.to_dict()`` (its ``id`` and ``status`` are indexed).

        Raises:
            ValueError: ``step`` has no string ``id`` or ``status``.
        """
        await self._writes.write(_STEP, self._step_row(run_id, step))

    def _step_row(self, run_id: str, step: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
        step_id, status = step.get("id"), step.get("status")
        if not isinstance(step_id, str) or not isinstance(status, str):
            raise ValueError("a journalled step needs a string 'id' and 'status'")
        return (run_id, step_id, status, _dumps(step), iso(self._clock()))

    async def finish_run(self, run_id: str, document: Mapping[str, Any]) -> None:
        """Journal that a run finished, with its ``workflow run --json`` document.

        The run's status becomes the document's ``status``. Durable on return.

        Args:
            run_id: the run's id.
            document: the run's ``--json`` document (``WorkflowResult.to_dict()``).
        """
        status = document.get("status")
        row = (status if isinstance(status, str) else "finished", iso(self._clock()))
        params = (*row, _dumps(document), run_id)
        await self._writes.write(_FINISH, params)

    async def decide(
        self, run_id: str, step_id: str, *, approved: bool, note: str | None = None
    ) -> Decision:
        """Journal the decision on gated step ``step_id`` of run ``run_id``; durable on return.

        A step decided again takes the later decision. The run is not looked
        up: the caller (``cft runs approve``, the approval gate) knows it exists.

        Args:
            run_id: the run's full id.
            step_id: the step with ``"approval": true``.
            approved: let it run (``True``) or fail it (``False``).
            note: why, if there is a reason to keep.

        Returns:
            The decision as journalled, with its ``decided_at``.
        """
        decision = Decision(run_id, step_id, bool(approved), note, iso(self._clock()))
        row = (run_id, step_id, int(decision.approved), note, decision.decided_at)
        await self._writes.write(_DECIDE, row)
        return decision

    async def decision(self, run_id: str, step_id: str) -> Decision | None:
        """The journalled decision on step ``step_id`` of run ``run_id`` (its full id), if any."""
        row = await self._db.run(lambda db: db.execute(_DECISION, (run_id, step_id)).fetchone())
        if row is None:
            return None
        found_run, found_step, approved, note, decided_at = row
        return Decision(
            str(found_run),
            str(found_step),
            bool(approved),
            None if note is None else str(note),
            str(decided_at),
        )

    async def get_run(self, run_id: str, *, with_document: bool = True) -> RunRecord | None:
        """The run with id ``run_id``, or the one run whose id starts with it; else ``None``.

        Args:
            run_id: a full run id, or a prefix of at least 6 characters.
            with_document: also read the run's final document; ``False`` leaves
                ``document`` ``None``, which is much cheaper for a large finished
                run (a resume needs only its steps).

        Raises:
            ConfigError: the prefix matches more than one run.
        """
        by_id = _BY_ID if with_document else _BY_ID_BARE
        return await self._db.run(lambda db: _read_run(db, run_id, by_id))

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        with_steps: bool = True,
    ) -> list[RunRecord]:
        """The most recently started runs first, optionally of one workflow or status.

        Args:
            workflow: only runs of this workflow.
            status: only runs with this status (``running``, ``succeeded``…).
            limit: at most this many runs.
            with_steps: also read every run's steps; ``False`` leaves ``steps``
                empty, which is much cheaper for a history of large runs.
        """
        if limit < 1:
            return []
        return await self._db.run(lambda db: _list_runs(db, workflow, status, limit, with_steps))

    async def prune(self, older_than_s: float) -> int:
        """Remove runs that finished (or, never finished, started) over ``older_than_s`` ago.

        Args:
            older_than_s: age in seconds; ``0`` removes every run up to now.

        Returns:
            How many runs were removed (their steps and decisions go with them).

        Raises:
            ValueError: ``older_than_s`` is negative or not a number.
        """
        if not math.isfinite(older_than_s) or older_than_s < 0:
            raise ValueError(f"older_than_s must be a number ≥ 0, not {older_than_s!r}")
        cutoff = (iso(self._clock() - timedelta(seconds=older_than_s)),)

        def prune(db: sqlite3.Connection) -> int:
            for statement in _PRUNE:
                db.execute(statement, cutoff)
            removed: int = db.execute(_PRUNE_RUNS, cutoff).rowcount
            return removed

        return await self._db.run(prune)

    async def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict on the file: ``ok`` when sound."""
        rows = await self._db.run(lambda db: db.execute("PRAGMA integrity_check").fetchall())
        return "; ".join(str(row[0]) for row in rows)

    async def aclose(self) -> None:
        """Close the connection (in a thread, after any running statement)."""
        await self._db.aclose()


def _read_run(db: sqlite3.Connection, run_id: str, by_id: str) -> RunRecord | None:
    db.execute("BEGIN")  # one snapshot: the run and its steps as of one moment
    row = db.execute(by_id, (run_id,)).fetchone()
    if row is None and len(run_id) >= MIN_PREFIX:
        key = (len(run_id), run_id)
        matches = [found for (found,) in db.execute(_BY_PREFIX, key)]
        if len(matches) > 1:
            (count,) = db.execute(_COUNT_PREFIX, key).fetchone()
            shown = ", ".join(matches[:2]) + (", …" if count > 2 else "")
            raise ConfigError(
                "run_id", f"{run_id!r} matches {count} runs ({shown}); give more of the id"
            )
        if matches:
            row = db.execute(by_id, (matches[0],)).fetchone()
    if row is None:
        return None
    return _record(row, _steps_of(db, row[0]))


def _list_runs(
    db: sqlite3.Connection, workflow: str | None, status: str | None, limit: int, with_steps: bool
) -> list[RunRecord]:
    db.execute("BEGIN")
    rows = db.execute(_LIST, (workflow, status, limit)).fetchall()
    return [_record(row, _steps_of(db, row[0]) if with_steps else {}) for row in rows]


def _steps_of(db: sqlite3.Connection, run_id: str) -> dict[str, Mapping[str, Any]]:
    try:
        rows = db.execute(_STEPS_CHECKED, (run_id,)).fetchall()
    except sqlite3.OperationalError as exc:  # an SQLite built without JSON
        if not str(exc).startswith("no such function"):
            raise
        rows = db.execute(_STEPS_OF, (run_id,)).fetchall()
    return decode_steps(rows, run_id=run_id)


def _record(row: Sequence[Any], steps: Mapping[str, Mapping[str, Any]]) -> RunRecord:
    # The columns are named as RunRecord's fields.
    fields = dict(zip(_RUN_COLUMNS.split(", "), row, strict=True))
    fields["document"] = decode_object(fields["document"], where=f"run {row[0]} document")
    return RunRecord(**fields, steps=steps)


@asynccontextmanager
async def open_journal(
    path: Path | None = None, *, clock: Callable[[], datetime] = _now
) -> AsyncIterator[Journal]:
    """Open the run journal for the duration of an ``async with`` block.

    The file (and its folder) is created on first use, in WAL mode; a damaged
    one is moved aside with one warning and replaced by an empty one.

    Args:
        path: the database file; default :func:`journal_path`.
        clock: the current time (tests pin it).
    """
    journal = Journal(journal_path() if path is None else path, clock=clock)
    try:
        yield journal
    finally:
        with anyio.CancelScope(shield=True):
            await journal.aclose()
