"""``RunJournal``: what the engine and the CLI need of a run journal, whatever stores it.

Why a protocol: the journal was one SQLite file (:class:`._store.Journal`);
workers on many machines share a journal on a Redis server instead
(:class:`._redis_journal.RedisJournal`). Both keep the same contract, so the
engine takes either as ``open_engine(journal=...)`` and a resume reads its
steps the same way from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ._records import Decision, RunRecord

__all__ = ["RunJournal"]


@runtime_checkable
class RunJournal(Protocol):
    """Runs, their steps' last states and approval decisions, durable on every write's return."""

    async def start_run(
        self,
        run_id: str,
        *,
        kind: str,
        workflow: str | None,
        fingerprint: str | None,
        task: str | None,
    ) -> None:
        """Journal that a run starts (or, for a known id, starts again: a resume)."""
        ...

    async def record_step(self, run_id: str, step: Mapping[str, Any]) -> None:
        """Journal a step's state (its ``StepResult.to_dict()``); durable on return."""
        ...

    async def finish_run(self, run_id: str, document: Mapping[str, Any]) -> None:
        """Journal that a run finished, with its ``workflow run --json`` document."""
        ...

    async def decide(
        self, run_id: str, step_id: str, *, approved: bool, note: str | None = None
    ) -> Decision:
        """Journal the decision on a gated step; durable on return."""
        ...

    async def decision(self, run_id: str, step_id: str) -> Decision | None:
        """The journalled decision on a gated step, if any."""
        ...

    async def get_run(self, run_id: str, *, with_document: bool = True) -> RunRecord | None:
        """The run with id ``run_id``, or the one run whose id starts with it (6+ characters)."""
        ...

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        with_steps: bool = True,
    ) -> list[RunRecord]:
        """The most recently started runs first, optionally of one workflow or status."""
        ...

    async def prune(self, older_than_s: float) -> int:
        """Remove runs that finished (or, never finished, started) over ``older_than_s`` ago."""
        ...

    async def aclose(self) -> None:
        """Close the journal's connection."""
        ...
