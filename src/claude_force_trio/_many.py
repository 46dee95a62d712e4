"""``run_many``'s run: independent steps at once, results in input order, journalled if asked.

Kept apart from the engine, which builds the steps: this is only the running
of them, and the journal's writes around it (the run's start, each job's
result as it finishes, the run's document at the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from ._journalling import JournalledRun, JournalWriteError, many_document

if TYPE_CHECKING:
    from ._results import StepResult
    from ._run import StepHandle

__all__ = ["run_all"]


async def run_all(steps: Sequence[StepHandle], journalled: JournalledRun) -> list[StepResult]:
    """Run ``steps`` concurrently and return their results in input order.

    Args:
        steps: the jobs' steps.
        journalled: the run's journal writes (no-ops when the journal is off);
            each job is journalled as ``jobs[INDEX]``, since jobs may share an agent.

    Raises:
        JournalWriteError: the journal could not be written.
    """
    results: list[StepResult | None] = [None] * len(steps)
    failures: list[JournalWriteError] = []
    await journalled.start(kind="many", workflow=None, fingerprint=None, task=None)

    async def one(index: int, step: StepHandle) -> None:
        result = await step.run()
        try:
            with anyio.CancelScope(shield=True):  # paid for: record it even if stopping
                await journalled.step_as(f"jobs[{index}]", result)
        except JournalWriteError as exc:
            failures.append(exc)
            group.cancel_scope.cancel()
            return
        results[index] = result

    async with anyio.create_task_group() as group:
        for index, step in enumerate(steps):
            group.start_soon(one, index, step)
    if failures:  # one error, not a group of them: the first write that failed
        raise failures[0]
    done = [result for result in results if result is not None]
    await journalled.finish(many_document(journalled.run_id, done))
    return done
