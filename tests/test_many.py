"""``run_all`` alone (``_many``): independent jobs, in input order, at most a bound under way."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import trio
import trio.testing

from claude_force_trio._journalling import JournalledRun
from claude_force_trio._many import run_all
from claude_force_trio._results import StepResult


@dataclass
class Job:
    """A job that sleeps ``seconds`` and counts how many jobs are under way with it."""

    name: str
    seconds: float
    gauge: list[int]  # [now under way, most ever]
    started: float | None = None

    async def run(self) -> StepResult:
        self.started = anyio.current_time()
        self.gauge[0] += 1
        self.gauge[1] = max(self.gauge)
        await anyio.sleep(self.seconds)
        self.gauge[0] -= 1
        return StepResult(id=self.name, agent="a", status="succeeded", output=self.name)

    def interrupted(self) -> StepResult:
        return StepResult(id=self.name, agent="a", status="cancelled")


def jobs(seconds: list[float]) -> tuple[list[Job], list[int]]:
    """Jobs ``j0``, ``j1``… sleeping ``seconds``, sharing one gauge."""
    gauge = [0, 0]
    return [Job(f"j{i}", s, gauge) for i, s in enumerate(seconds)], gauge


async def test_a_bound_keeps_that_many_jobs_under_way(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Seven 1 s jobs, three at a time: 3 s in all, never more than three, results in order."""
    steps, gauge = jobs([1.0] * 7)
    results = await run_all(steps, JournalledRun(None, "r"), max_active=3)
    assert [r.output for r in results] == [f"j{i}" for i in range(7)]
    assert gauge[1] == 3
    assert trio.current_time() == 3.0
    assert [s.started for s in steps] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]


async def test_a_freed_worker_takes_the_next_job_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With jobs of unequal length, each job starts the moment any worker is free."""
    steps, _ = jobs([3.0, 1.0, 1.0, 1.0])
    await run_all(steps, JournalledRun(None, "r"), max_active=2)
    assert [s.started for s in steps] == [0.0, 0.0, 1.0, 2.0]
    assert trio.current_time() == 3.0


async def test_no_bound_starts_every_job(autojump_clock: trio.testing.MockClock) -> None:
    """``max_active=None``: every job at once, as many as there are (a bound above that too)."""
    for bound in (None, 50):
        steps, gauge = jobs([1.0] * 5)
        start = trio.current_time()
        results = await run_all(steps, JournalledRun(None, "r"), max_active=bound)
        assert len(results) == 5
        assert gauge[1] == 5
        assert trio.current_time() - start == 1.0


async def test_no_jobs_is_an_empty_result() -> None:
    """An empty job list returns at once with no results."""
    assert await run_all([], JournalledRun(None, "r"), max_active=4) == []
