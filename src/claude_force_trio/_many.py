"""``run_many``'s run: independent steps at once, results in input order, journalled if asked.

Kept apart from the engine, which builds the steps: this is only the running
of them, and the journal's writes around it (the run's start, each job's
result as it finishes, the run's document at the end).

With ``max_active`` the jobs run in that many tasks, each taking the next job
when it finishes one, instead of one task a job: 10,000 jobs at 10 requests in
flight would otherwise be 10,000 tasks parked at the limiter (see the bound in
:mod:`._run`).

The engine gives jobs that only call (no job's agent has tools) exactly one
worker per request slot. A worker beyond the slots can only park at the limiter,
and then every freed slot is handed to a parked worker, which runs after every
other runnable task has had its turn: when 256 replies land together, each next
request waited for the whole wave's work (0.86 → 0.90 of the ideal at 256 × 0.5 s,
``benchmarks/throughput.py``). With as many workers as slots, the worker whose
call ended takes its next job and the freed slot at once. Jobs with tools keep
the workflow bound (twice the slots, and 16 more): their workers spend time in
tools, holding no slot.
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


async def run_all(
    steps: Sequence[StepHandle], journalled: JournalledRun, *, max_active: int | None = None
) -> list[StepResult]:
    """Run ``steps`` concurrently and return their results in input order.

    Args:
        steps: the jobs' steps.
        journalled: the run's journal writes (no-ops when the journal is off);
            each job is journalled as ``jobs[INDEX]``, since jobs may share an agent.
        max_active: the most jobs under way at once, or ``None`` for all of them.

    Raises:
        JournalWriteError: the journal could not be written.
    """
    results: list[StepResult | None] = [None] * len(steps)
    failures: list[JournalWriteError] = []
    await journalled.start(kind="many", workflow=None, fingerprint=None, task=None)

    pending = iter(enumerate(steps))

    async def worker() -> None:
        # One frame per worker, the job's work inline: a frame more would wait in
        # every job's stack while its request is under way.
        for index, step in pending:  # shared: each job is taken by one worker
            result = await step.run()
            try:
                with anyio.CancelScope(shield=True):  # paid for: record it even if stopping
                    await journalled.step_as(f"jobs[{index}]", result)
            except JournalWriteError as exc:
                failures.append(exc)
                group.cancel_scope.cancel()
                return
            results[index] = result
            if failures:
                return

    workers = len(steps) if max_active is None else min(max_active, len(steps))
    async with anyio.create_task_group() as group:
        for _ in range(workers):
            group.start_soon(worker)
    if failures:  # one error, not a group of them: the first write that failed
        raise failures[0]
    done = [result for result in results if result is not None]
    await journalled.finish(lambda: many_document(journalled.run_id, done))
    return done
