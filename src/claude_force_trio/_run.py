"""``WorkflowRun``: one run of a workflow, scheduled eagerly, alive for that run only.

Why eager and not waves: a step starts the moment *its own* dependencies have
succeeded, so a slow branch never holds back a fast one. With A (1.0 s) and
B (0.2 s) → C (0.8 s) the run takes 1.0 s, not the 1.8 s a wave scheduler
("run everything ready, wait for all of it") would take.

Why a class of its own, that knows nothing of the engine: the engine owns what
lives as long as it does (HTTP pool, cache, limiter, breakers); a run owns the
DAG bookkeeping — how many dependencies each step still waits for, the results
so far — and the task group its steps run in. It is handed a ``make_step``
factory and never looks inside a step: a step is anything with ``run()`` and
``interrupted()`` (:class:`StepHandle`), so the scheduler can be tested with
steps that only sleep, and the step's own life (prompt, cache, retries, tools)
can change without touching it.

Readiness is counted, never rescanned: each step keeps the number of
dependencies it still waits for, and a success decrements only its own
dependents' counts. Scheduling a whole run costs O(steps + edges), so a
30,000-step fan-in costs three times a 10,000-step one.

Why a step's result is recorded before it counts: with a ``record`` callable
(the engine's run journal), a finished step's result is awaited into durable
storage before its dependents are released and before ``WorkflowFinished``,
so a run killed at any moment never has a dependent that consumed an output
the journal lacks. A resumed run is handed the journalled successes as
``done``: they count as finished from the start and are never run again.

Why a step waiting for approval is neither a success nor a failure: a gated
step with no decision (``_approval``) returns ``waiting_approval``. It is
recorded like any result, but it releases no dependent (they end ``skipped``,
"waiting for approval of 'STEP'") and cancels nothing, so independent branches
run on; the run then ends ``waiting_approval`` unless something failed.

Why a bound on how many steps are under way (``max_active``): a step that is
ready but finds every request slot taken would only park at the limiter, and a
parked step is not free — its task, its deadline's cancel scope, its call stack
down to the limiter's waiter, ~12 KB — nor is it free to the loop, which walks
every parked task's wake-up. So at most ``max_active`` steps are under way;
further ready steps wait in a FIFO queue, not yet started, and a step task that
finishes takes the next one itself. The engine sets the bound above the request
slots (twice as many, and 16 more), so a slot never idles for want of a started
step while the others build prompts, read the cache, run tools or wait for an
approval; ``None`` (batch mode, whose calls wait for a whole batch) starts every
ready step at once. (``run_many`` gives jobs that only call one worker per slot:
see :mod:`._many`.)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import anyio
import anyio.lowlevel

from ._config import StepConfig, WorkflowConfig
from ._dag import Graph
from ._events import (
    Event,
    StepCancelled,
    StepSkipped,
    WorkflowFinished,
    WorkflowStarted,
)
from ._prompts import DependencyOutput
from ._results import RunStatus, StepResult, WorkflowResult

__all__ = [
    "StepFactory",
    "StepHandle",
    "StepRecorder",
    "StopSignal",
    "WorkflowRun",
    "admission_bound",
]


class StopSignal(Protocol):
    """What stops a run early: an ``anyio.Event``, a ``trio.Event``, anything with ``wait()``."""

    def wait(self) -> Awaitable[object]:
        """Return when the run should stop."""
        ...


class StepHandle(Protocol):
    """One step, ready to run: what :class:`WorkflowRun` needs of it."""

    async def run(self) -> StepResult:
        """Run the step to an outcome and return it; only cancellation escapes."""
        ...

    def interrupted(self) -> StepResult:
        """The result to record when the step is cancelled before it finishes."""
        ...


#: Builds the step for ``step`` given its dependencies' outputs (in config order).
StepFactory = Callable[[StepConfig, Sequence[DependencyOutput]], StepHandle]

#: Makes a finished step's result durable; the step counts as done only once it returns.
StepRecorder = Callable[[StepResult], Awaitable[object]]


def admission_bound(max_concurrency: int) -> int:
    """How many steps may be under way with ``max_concurrency`` request slots.

    Twice the slots, and 16 more: enough started steps that a freed slot is
    taken at once while others build prompts, read the cache or run tools.
    """
    return 2 * max_concurrency + 16


class WorkflowRun:
    """One run of a workflow. Build it, then ``await run.execute(...)`` once.

    Args:
        workflow: the workflow being run.
        graph: its validated graph.
        make_step: builds each step when its dependencies have succeeded.
        run_id: the run's id, stamped on every event.
        emit: delivers the run's events (``WorkflowStarted``, ``StepSkipped``…).
        sequential: one step at a time in topological order.
        keep_going: after a failure let independent branches finish (and skip
            only the failure's dependents) instead of cancelling everything.
        record: awaited with each step's final result (succeeded, failed,
            timed out or waiting for approval) before the step counts as done. If it raises, the run
            stops and :meth:`execute` raises that exception: a run must not go
            on unrecorded.
        done: results of steps that already succeeded (a resume): they count
            as finished from the start and are not run.
        max_active: the most steps under way at once (see the module docstring),
            or ``None`` for no bound.
    """

    def __init__(
        self,
        workflow: WorkflowConfig,
        graph: Graph[StepConfig],
        make_step: StepFactory,
        *,
        run_id: str,
        emit: Callable[[Event], object],
        sequential: bool = False,
        keep_going: bool = False,
        record: StepRecorder | None = None,
        done: Mapping[str, StepResult] | None = None,
        max_active: int | None = None,
    ) -> None:
        if max_active is not None and max_active < 1:
            raise ValueError(f"max_active must be at least 1, not {max_active}")
        self.workflow = workflow
        self.graph = graph
        self.run_id = run_id
        self.sequential = sequential
        self.keep_going = keep_going
        self._make_step = make_step
        self._emit = emit
        self._results: dict[str, StepResult] = {}
        self._waiting = {sid: len(deps) for sid, deps in graph.dependencies.items()}
        self._failed = False
        self._paused = False  # some step waits for an approval decision
        self._group: anyio.abc.TaskGroup | None = None
        self._record = record
        self._record_error: Exception | None = None
        self._max_active = math.inf if max_active is None else max_active
        self._active = 0  # step tasks under way
        self._queued: deque[str] = deque()  # ready steps not yet started (over the bound)
        for step_id, result in (done or {}).items():
            self._results[step_id] = result
            self._release(step_id, launch=False)

    @property
    def results(self) -> Mapping[str, StepResult]:
        """The results recorded so far, by step id."""
        return self._results

    async def execute(self, timeout_s: float, stop: StopSignal | None = None) -> WorkflowResult:
        """Run every step that can run and return the run's result.

        Args:
            timeout_s: deadline for the whole run (``math.inf`` for none).
            stop: set it to stop early; the result then says ``cancelled``.

        Raises:
            Exception: whatever ``record`` raised, once the run has stopped.
        """
        start = anyio.current_time()
        self._emit(WorkflowStarted(self.run_id, self.workflow.name, tuple(self.graph.steps), start))
        with anyio.move_on_after(timeout_s) as timeout_scope:
            async with anyio.create_task_group() as outer:
                stop_scope = anyio.CancelScope()
                if stop is not None:
                    outer.start_soon(_cancel_when_set, stop, stop_scope)
                with stop_scope:
                    async with anyio.create_task_group() as group:
                        self._group = group
                        if self.sequential:
                            group.start_soon(self._run_sequentially)
                        else:
                            for step_id in self.graph.order:
                                if not self._waiting[step_id] and step_id not in self._results:
                                    self._launch(step_id)
                outer.cancel_scope.cancel()  # only the stop watcher can be left
        if self._record_error is not None:
            raise self._record_error
        status = self._status(timeout_scope.cancelled_caught, stop_scope.cancelled_caught)
        self._record_skipped(status)
        steps = tuple(self._results[sid] for sid in self.graph.steps)
        result = WorkflowResult(
            workflow=self.workflow.name,
            run_id=self.run_id,
            status=status,
            elapsed_s=anyio.current_time() - start,
            critical_path_s=self.graph.critical_path(
                {sid: r.elapsed_s for sid, r in self._results.items()}
            )[0],
            execution_order=_execution_order(steps),
            steps=steps,
        )
        self._emit(WorkflowFinished(self.run_id, self.workflow.name, result, anyio.current_time()))
        return result

    def _status(self, timed_out: bool, stopped: bool) -> RunStatus:
        if timed_out:
            return "timed_out"
        if stopped:
            return "cancelled"
        if self._failed:
            return "failed"
        if self._paused:
            return "waiting_approval"
        if len(self._results) < len(self.graph):
            return "failed"
        return "succeeded"

    def _launch(self, step_id: str) -> None:
        """Start ``step_id`` in a task of its own, or queue it while the bound is reached."""
        if self._active >= self._max_active:
            self._queued.append(step_id)
            return
        assert self._group is not None
        self._active += 1
        self._group.start_soon(self._run_step_task, step_id, name=step_id)

    async def _run_step_task(self, step_id: str) -> None:
        """A step task: run ``step_id``, then queued steps for as long as there are any."""
        try:
            await self._run_step(step_id)
            while self._queued and not (self._failed and not self.keep_going):
                # A run being stopped leaves the rest queued: never started, they are
                # recorded as skipped ("... before it could start"), not as cancelled.
                await anyio.lowlevel.checkpoint_if_cancelled()
                await self._run_step(self._queued.popleft())
        finally:
            self._active -= 1

    def _inputs(self, step_id: str) -> list[DependencyOutput]:
        results = self._results
        return [DependencyOutput.of(dep, results[dep]) for dep in self.graph.dependencies[step_id]]

    async def _run_sequentially(self) -> None:
        for step_id in self.graph.order:
            if self._failed and not self.keep_going:
                return
            if not self._waiting[step_id] and step_id not in self._results:
                await self._run_step(step_id, launch_dependents=False)

    async def _run_step(self, step_id: str, *, launch_dependents: bool = True) -> None:
        """Run ``step_id``, then whatever it made ready: the first of those in this task.

        Running one ready dependent here rather than spawning a task for it
        starts it with no scheduling delay, and makes a chain cost no task
        spawns at all; further dependents get tasks of their own.
        """
        current: str | None = step_id
        while current is not None:
            step = self._make_step(self.graph.steps[current], self._inputs(current))
            try:
                result = await step.run()
            except anyio.get_cancelled_exc_class():
                self._results[current] = cancelled = step.interrupted()
                self._emit(StepCancelled(self.run_id, current, cancelled, anyio.current_time()))
                raise
            if not await self._recorded(result):
                return
            self._results[current] = result
            if result.status == "waiting_approval":
                self._paused = True  # its dependents stay unreleased; nothing is cancelled
                return
            if not result.ok:
                self._failed = True
                if not self.keep_going:
                    assert self._group is not None
                    self._group.cancel_scope.cancel()
                return
            current = self._release(current, launch=launch_dependents)

    async def _recorded(self, result: StepResult) -> bool:
        """Record ``result`` if there is a recorder; False (and the run stopped) if that failed.

        Shielded: the step was paid for, so its result is recorded even when the
        run is being cancelled around it (Ctrl-C, the deadline, a fail-fast);
        otherwise a resume would pay for it again.
        """
        if self._record is None:
            return True
        try:
            with anyio.CancelScope(shield=True):
                await self._record(result)
        except Exception as exc:
            if self._record_error is None:
                self._record_error = exc
            assert self._group is not None
            self._group.cancel_scope.cancel()
            return False
        return True

    def _release(self, step_id: str, *, launch: bool) -> str | None:
        """Count ``step_id`` done for its dependents; with ``launch``, start all ready but one.

        Only this step's dependents can have become ready: O(their count), not O(graph).

        Returns:
            The ready dependent the caller should run itself, if any.
        """
        waiting, mine = self._waiting, None
        for dependent in self.graph.dependents[step_id]:
            waiting[dependent] -= 1
            if launch and not waiting[dependent] and dependent not in self._results:
                if mine is None:
                    mine = dependent
                else:
                    self._launch(dependent)
        return mine

    def _record_skipped(self, status: RunStatus) -> None:
        gated: dict[str, str] = {}  # skipped step -> the waiting step it waits behind
        for step_id in self.graph.order:
            if step_id in self._results:
                continue
            blocker = next(
                (
                    dep
                    for dep in self.graph.dependencies[step_id]
                    if dep in self._results and not self._results[dep].ok
                ),
                None,
            )
            if blocker is not None and self._results[blocker].status == "waiting_approval":
                gated[step_id] = blocker
            elif blocker is not None and blocker in gated:
                gated[step_id] = gated[blocker]
            if step_id in gated:
                reason = f"waiting for approval of {gated[step_id]!r}"
            elif blocker is not None:
                status_text = self._results[blocker].status.replace("_", " ")
                reason = f"dependency {blocker!r} {status_text}"
            elif status == "timed_out":
                reason = "the workflow timed out before it could start"
            elif status == "cancelled":
                reason = "the run was stopped before it could start"
            else:
                reason = "not run: an earlier step failed (fail-fast)"
            step = self.graph.steps[step_id]
            result = StepResult(id=step_id, agent=step.agent, status="skipped", error=reason)
            self._results[step_id] = result
            self._emit(StepSkipped(self.run_id, step_id, result, anyio.current_time()))


def _execution_order(steps: Sequence[StepResult]) -> tuple[str, ...]:
    # Steps that started at the same instant are listed in config order, so the
    # order is reproducible although the event loop may start tasks in any order.
    # Steps replayed from the journal come first, in the order they once started.
    replayed = [
        (s.started_at.timestamp() if s.started_at else 0.0, i, s.id)
        for i, s in enumerate(steps)
        if s.resumed
    ]
    started = [(s.started, i, s.id) for i, s in enumerate(steps) if s.started is not None]
    return tuple(step_id for _, _, step_id in sorted(replayed) + sorted(started))


async def _cancel_when_set(event: StopSignal, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
