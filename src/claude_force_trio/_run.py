"""One workflow run: the eager scheduler's state, alive for that run only.

Why a class of its own: the engine owns long-lived things (the HTTP pool,
limiter, cache, breakers); a run owns the DAG bookkeeping — which steps have
started, their results, the order they started in — and the nursery its steps
run in. Each step launches its dependents the moment it succeeds (looking only
at its own dependents, so scheduling costs O(edges) for the whole run).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import trio

from ._config import StepConfig, WorkflowConfig
from ._dag import Graph
from ._errors import ConfigError
from ._events import (
    Event,
    Hook,
    StepCancelled,
    StepFailed,
    StepSkipped,
    WorkflowFinished,
    WorkflowStarted,
)
from ._prompts import DependencyOutput
from ._results import RunStatus, StepResult, StepStatus, WorkflowResult

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["StepProgress", "WorkflowRun", "cancel_when_set", "now"]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class StepProgress:
    """What a step has done so far, so a cancelled step can still be reported."""

    step_id: str
    agent: str
    model: str | None = None
    started: float | None = None
    started_at: datetime | None = None
    attempts: int = 0

    def result(self, status: StepStatus, error: str | None, error_type: str | None) -> StepResult:
        elapsed = trio.current_time() - self.started if self.started is not None else 0.0
        return StepResult(
            id=self.step_id,
            agent=self.agent,
            status=status,
            error=error,
            error_type=error_type,
            attempts=self.attempts,
            model=self.model,
            started_at=self.started_at,
            finished_at=now() if self.started_at else None,
            elapsed_s=elapsed,
        )


class WorkflowRun:
    """One run of a workflow: the scheduler's state, alive for that run only."""

    def __init__(
        self,
        engine: Engine,
        workflow: WorkflowConfig,
        graph: Graph[StepConfig],
        *,
        task: str | None,
        sequential: bool,
        keep_going: bool,
        step_timeout_s: float | None,
        hooks: Sequence[Hook],
    ) -> None:
        self.engine = engine
        self.workflow = workflow
        self.graph = graph
        self.task = task if task is not None else workflow.task
        self.sequential = sequential
        self.keep_going = keep_going
        self.step_timeout_s = step_timeout_s
        self.hooks = hooks
        self.run_id = uuid.uuid4().hex
        self.results: dict[str, StepResult] = {}
        self.started: set[str] = set()
        self.start_times: dict[str, float] = {}
        self.failed = False
        self._nursery: trio.Nursery | None = None

    def _emit(self, event: Event) -> None:
        self.engine._emit(event, self.hooks)

    async def execute(self, deadline: float, stop: trio.Event | None) -> WorkflowResult:
        start = trio.current_time()
        self._emit(WorkflowStarted(self.run_id, self.workflow.name, tuple(self.graph.steps), start))
        stop_scope = trio.CancelScope()
        with trio.move_on_after(deadline) as timeout_scope:
            async with trio.open_nursery() as outer:
                if stop is not None:
                    outer.start_soon(cancel_when_set, stop, stop_scope)
                with stop_scope:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        if self.sequential:
                            nursery.start_soon(self._run_sequentially)
                        else:
                            for step_id in self.graph.roots():
                                self._launch(step_id)
                # Only the stop watcher can be left in ``outer`` now.
                outer.cancel_scope.cancel()
        status: RunStatus
        if timeout_scope.cancelled_caught:
            status = "timed_out"
        elif stop_scope.cancelled_caught:
            status = "cancelled"
        elif self.failed or len(self.results) < len(self.graph):
            status = "failed"
        else:
            status = "succeeded"
        self._record_skipped(status)
        result = WorkflowResult(
            workflow=self.workflow.name,
            run_id=self.run_id,
            status=status,
            elapsed_s=trio.current_time() - start,
            critical_path_s=self.graph.critical_path(
                {sid: r.elapsed_s for sid, r in self.results.items()}
            )[0],
            execution_order=self._execution_order(),
            steps=tuple(self.results[sid] for sid in self.graph.steps),
        )
        self._emit(WorkflowFinished(self.run_id, self.workflow.name, result, trio.current_time()))
        return result

    def _launch(self, step_id: str) -> None:
        assert self._nursery is not None
        self.started.add(step_id)
        self._nursery.start_soon(self._run_step, step_id, name=f"step:{step_id}")

    async def _run_sequentially(self) -> None:
        done: set[str] = set()
        for step_id in self.graph.order:
            if self.failed and not self.keep_going:
                return
            if all(dep in done for dep in self.graph.dependencies[step_id]):
                self.started.add(step_id)
                await self._run_step(step_id, launch_dependents=False)
                if self.results[step_id].ok:
                    done.add(step_id)

    async def _run_step(self, step_id: str, *, launch_dependents: bool = True) -> None:
        step = self.graph.steps[step_id]
        progress = StepProgress(step_id, step.agent)
        try:
            result = await self._execute_step(step, progress)
        except trio.Cancelled:
            self.results[step_id] = cancelled = progress.result(
                "cancelled", "cancelled before it finished", "Cancelled"
            )
            self._emit(StepCancelled(self.run_id, step_id, cancelled, trio.current_time()))
            raise
        self.results[step_id] = result
        if not result.ok:
            self.failed = True
            if not self.keep_going:
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
            return
        if launch_dependents:
            # Only this step's dependents can have become ready: O(their edges), not O(graph).
            for dependent in self.graph.dependents[step_id]:
                if dependent not in self.started and all(
                    dep in self.results and self.results[dep].ok
                    for dep in self.graph.dependencies[dependent]
                ):
                    self._launch(dependent)

    async def _execute_step(self, step: StepConfig, progress: StepProgress) -> StepResult:
        engine = self.engine
        try:
            agent = engine._agent(step.agent, f"{step.path}.agent")
            deps = [
                DependencyOutput(dep, self.graph.steps[dep].agent, self.results[dep].output or "")
                for dep in self.graph.dependencies[step.id]
            ]
            text, memory_task = await engine._user_text(
                step.agent, step.task, workflow_task=self.task, dependencies=deps
            )
            body = engine._prepare(agent, text)
        except ConfigError as exc:
            result = progress.result("failed", str(exc), type(exc).__name__)
            self._emit(StepFailed(self.run_id, step.id, result, trio.current_time()))
            return result
        progress.model = str(body["model"])
        return await engine._execute(
            progress,
            body,
            run_id=self.run_id,
            timeout_s=engine._step_timeout(step.timeout_s, self.step_timeout_s),
            on_text=None,
            hooks=self.hooks,
            on_start=self._started_now,
            memory_task=memory_task,
        )

    def _started_now(self, step_id: str) -> None:
        self.start_times[step_id] = trio.current_time()

    def _execution_order(self) -> tuple[str, ...]:
        # Steps that start at the same instant are listed in config order, so the
        # order is reproducible although trio deliberately shuffles task starts.
        index = {step_id: i for i, step_id in enumerate(self.graph.steps)}
        return tuple(sorted(self.start_times, key=lambda s: (self.start_times[s], index[s])))

    def _record_skipped(self, status: RunStatus) -> None:
        for step_id in self.graph.order:
            if step_id in self.results:
                continue
            blocker = next(
                (
                    dep
                    for dep in self.graph.dependencies[step_id]
                    if dep in self.results and not self.results[dep].ok
                ),
                None,
            )
            if blocker is not None:
                reason = f"dependency {blocker!r} {self.results[blocker].status.replace('_', ' ')}"
            elif status == "timed_out":
                reason = "the workflow timed out before it could start"
            elif status == "cancelled":
                reason = "the run was stopped before it could start"
            else:
                reason = "not run: an earlier step failed (fail-fast)"
            step = self.graph.steps[step_id]
            result = StepResult(id=step_id, agent=step.agent, status="skipped", error=reason)
            self.results[step_id] = result
            self._emit(StepSkipped(self.run_id, step_id, result, trio.current_time()))


async def cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
