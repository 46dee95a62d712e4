"""The engine's side of the run journal: what a run writes, when, and what a failed write is.

A journalled run writes three things: its start (id, kind, workflow, config
fingerprint, task), each step's final result before the step counts as done
(the :data:`~claude_force_trio._run.StepRecorder` a ``WorkflowRun`` awaits),
and its ``--json`` document when it ends. A step that is cancelled, or never
starts, is not written one by one: it did not finish, so a resume runs it
again, and the final document says what became of it.

A write that fails stops the run with one :class:`JournalWriteError`, never a
warning: a run that goes on unrecorded would be paid for again after a crash,
which is what the journal exists to prevent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import CFTError

if TYPE_CHECKING:
    from ._config import Config, WorkflowConfig
    from ._journal import Journal
    from ._results import StepResult
    from ._run import StepRecorder

__all__ = ["JournalWriteError", "JournalledRun", "many_document"]


class JournalWriteError(CFTError):
    """The run journal could not be written; the run stopped rather than go on unrecorded.

    The run's record keeps what was written before; the run can be resumed once
    the journal is writable again. The cause is chained as ``__cause__``.
    """

    def __init__(self, what: str, cause: BaseException) -> None:
        self.what = what
        reason = str(cause) or type(cause).__name__
        super().__init__(f"run journal: could not record {what} ({reason}); the run was stopped")


@contextmanager
def _writing(what: str) -> Iterator[None]:
    """Map any failure of the store (sqlite3, OS, disk full…) to one :class:`JournalWriteError`."""
    try:
        yield
    except CFTError:
        raise
    except Exception as exc:
        raise JournalWriteError(what, exc) from exc


@dataclass(frozen=True, slots=True)
class JournalledRun:
    """One run's writes to the journal; each is a no-op when the journal is off.

    Attributes:
        journal: the open journal, or ``None`` when the engine has none.
        run_id: the run every write belongs to.
    """

    journal: Journal | None
    run_id: str

    @classmethod
    async def of_workflow(
        cls,
        journal: Journal | None,
        run_id: str,
        config: Config,
        workflow: WorkflowConfig,
        task: str | None,
    ) -> JournalledRun:
        """The writes of run ``run_id`` of ``workflow``, its start already written."""
        journalled = cls(journal, run_id)
        await journalled.start_workflow(config, workflow.name, task)
        return journalled

    @property
    def recorder(self) -> StepRecorder | None:
        """What a ``WorkflowRun`` awaits with each finished step (``None``: nothing to await)."""
        return None if self.journal is None else self.step

    async def start(
        self, *, kind: str, workflow: str | None, fingerprint: str | None, task: str | None
    ) -> None:
        """Write the run's start (a resumed run's start updates its record)."""
        if self.journal is None:
            return
        with _writing(f"the start of run {self.run_id}"):
            await self.journal.start_run(
                self.run_id, kind=kind, workflow=workflow, fingerprint=fingerprint, task=task
            )

    async def start_workflow(self, config: Config, workflow: str, task: str | None) -> None:
        """Write the start of a run of ``workflow``, with the config's fingerprint for it."""
        if self.journal is None:
            return
        from ._journal import fingerprint

        await self.start(
            kind="workflow",
            workflow=workflow,
            fingerprint=fingerprint(config, workflow),
            task=task,
        )

    async def step(self, result: StepResult) -> None:
        """Write a step's final result; durable when this returns (the ``StepRecorder``)."""
        # Not through step_as: a thousand steps wait here at once, one frame less each.
        journal = self.journal
        if journal is None:
            return
        try:
            await journal.record_step(self.run_id, result.to_dict())
        except CFTError:
            raise
        except Exception as exc:
            raise JournalWriteError(f"step {result.id!r} of run {self.run_id}", exc) from exc

    async def step_as(self, step_id: str, result: StepResult) -> None:
        """Write ``result`` under ``step_id`` (``run-many`` jobs share agent names, not ids)."""
        if self.journal is None:
            return
        document = result.to_dict()
        document["id"] = step_id
        with _writing(f"step {step_id!r} of run {self.run_id}"):
            await self.journal.record_step(self.run_id, document)

    async def finish(self, document: Callable[[], Mapping[str, Any]]) -> None:
        """Write the run's ``--json`` document; the record's status becomes the document's.

        ``document`` is called only when a journal keeps it: for a run of
        thousands of jobs, building it costs about a hundredth of the run.
        """
        if self.journal is None:
            return
        with _writing(f"the end of run {self.run_id}"):
            await self.journal.finish_run(self.run_id, document())


def many_document(run_id: str, results: Sequence[StepResult]) -> dict[str, Any]:
    """The journalled document of a ``run-many``: its ``--json`` results, with id and status."""
    return {
        "run_id": run_id,
        "status": "succeeded" if all(result.ok for result in results) else "failed",
        "results": [result.to_dict() for result in results],
    }
