"""The journal's part in batch mode: which batch each waiting step's calls are in.

Why: a run killed while its batches process has paid for them; resuming it
must find their answers, not submit the same entries again. So when a batch
is created, each of its workflow steps gets a journal row ``batch_submitted``
with its ``custom_id → batch_id`` map (``batches``), through
``Journal.record_step`` like any step state. A status other than
``succeeded`` runs again on resume (``_resume``), which is what is wanted: the
step's identical call has the same ``custom_id`` (``_api._batch_layer``), and
the layer, on a run's first call, asks :meth:`BatchJournal.recorded` for the
run's map and waits for those batches instead of making new ones. The step's
final result replaces the row when it finishes.

Only workflow runs are journalled this way: a ``run-many`` is not resumable,
and its jobs share step ids. The run's kind is read from its journal record,
which the run writes before any step calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._errors import CFTError
from ._journalling import JournalWriteError

if TYPE_CHECKING:
    from ._api._batch_parts import BatchSubmission
    from ._journal import Journal

__all__ = ["BATCH_SUBMITTED", "BatchJournal", "submitted_batches"]

#: The journal status of a step whose call waits in a batch.
BATCH_SUBMITTED: Final = "batch_submitted"


class BatchJournal:
    """The batch layer's records (``BatchRecords``): submissions journalled, and read back.

    Args:
        journal: the engine's run journal.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._workflow_runs: set[str] = set()
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}

    async def recorded(self, run_id: str) -> Mapping[str, str]:
        """``custom_id → batch_id`` journalled for run ``run_id`` (a resume's; else empty).

        Also notes whether the run is a workflow run, whose submissions are journalled.
        """
        try:
            record = await self._journal.get_run(run_id, with_document=False)
        except Exception:  # unreadable: nothing to adopt; the submissions will say why
            return {}
        if record is None or record.kind != "workflow":
            return {}
        self._workflow_runs.add(run_id)
        return submitted_batches(record.steps)

    async def record(self, submissions: Sequence[BatchSubmission]) -> None:
        """Write one row per workflow step in ``submissions``; durable when this returns.

        Raises:
            JournalWriteError: the journal could not be written.
        """
        touched: dict[tuple[str, str], dict[str, Any]] = {}
        for sub in submissions:
            if sub.run_id not in self._workflow_runs or sub.step_id is None:
                continue
            key = (sub.run_id, sub.step_id)
            row = self._rows.setdefault(
                key, {"id": sub.step_id, "agent": sub.agent, "status": BATCH_SUBMITTED}
            )
            row["batch_id"], row["custom_id"] = sub.batch_id, sub.custom_id
            row["batches"] = {**row.get("batches", {}), sub.custom_id: sub.batch_id}
            touched[key] = row
        failures: list[BaseException] = []

        async def write(run_id: str, row: Mapping[str, Any]) -> None:
            try:
                await self._journal.record_step(run_id, dict(row))
            except CFTError as exc:
                failures.append(exc)
            except Exception as exc:
                failures.append(JournalWriteError(f"step {row['id']!r} of run {run_id}", exc))

        async with anyio.create_task_group() as group:
            for (run_id, _), row in touched.items():
                group.start_soon(write, run_id, row)
        if failures:
            raise failures[0]


def submitted_batches(steps: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``custom_id → batch_id`` of every journalled step row still ``batch_submitted``."""
    found: dict[str, str] = {}
    for row in steps.values():
        batches = row.get("batches") if row.get("status") == BATCH_SUBMITTED else None
        if isinstance(batches, dict):
            found.update(
                {k: v for k, v in batches.items() if isinstance(k, str) and isinstance(v, str)}
            )
    return found
