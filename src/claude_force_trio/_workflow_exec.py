"""One workflow plan, executed: steps built for it, gated, scheduled eagerly, journalled.

Why apart from the engine: the engine owns what lives as long as it does and
builds steps; this is what one run puts together around them — its settled
options, the approval gates, the journal's recorder and the scheduler — so the
engine's module holds only the ways in (one agent, many, a workflow, a resume).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._approval import Gates
from ._dag import build_graph
from ._errors import ConfigError
from ._journalling import JournalledRun
from ._run import StepHandle, WorkflowRun

if TYPE_CHECKING:
    from ._config import Config, StepConfig, WorkflowConfig
    from ._events import Emitter
    from ._journal import Journal
    from ._options import RunOptions
    from ._prompts import DependencyOutput
    from ._results import WorkflowResult
    from ._resume import RunPlan
    from ._step import Step

__all__ = ["BuildStep", "check_tasks", "execute_plan"]

#: Builds the engine's step for a workflow step, given its inputs and its timeout.
BuildStep = Callable[["StepConfig", "Sequence[DependencyOutput]", float], "Step"]


async def execute_plan(
    plan: RunPlan,
    options: RunOptions,
    config: Config,
    journal: Journal | None,
    emitter: Emitter,
    build: BuildStep,
    *,
    max_active: int | None = None,
) -> WorkflowResult:
    """Run ``plan`` (its ``done`` steps already finished) and journal it if ``journal``.

    ``max_active`` bounds the steps under way at once (:class:`WorkflowRun`).

    Raises:
        ConfigError: a step with no task at all.
        ValueError: a timeout is zero, negative or NaN.
        JournalWriteError: the journal could not be written (the run stopped).
    """
    workflow, run_task, run_id = plan.workflow, plan.task, plan.run_id
    check_tasks(workflow, run_task)
    settled = options.settle(config, workflow)
    gates = Gates(run_id, workflow.name, run_task, journal, options.on_approval, emitter)

    def make_step(step: StepConfig, inputs: Sequence[DependencyOutput]) -> StepHandle:
        timeout = settled.step_timeout_s if step.timeout_s is None else step.timeout_s
        return gates.wrap(step, inputs, build(step, inputs, timeout))

    journalled = await JournalledRun.of_workflow(journal, run_id, config, workflow, run_task)
    run = WorkflowRun(
        workflow,
        build_graph(workflow),
        make_step,
        run_id=run_id,
        emit=emitter,
        sequential=settled.sequential,
        keep_going=settled.keep_going,
        record=journalled.recorder,
        done=plan.done,
        max_active=max_active,
    )
    result = await run.execute(settled.deadline_s, options.stop)
    await journalled.finish(result.to_dict)
    return result


def check_tasks(workflow: WorkflowConfig, run_task: str | None) -> None:
    """Refuse a run in which some step would have no task at all.

    Raises:
        ConfigError: naming the first such step's ``task``.
    """
    if run_task:
        return
    for step in workflow.steps:
        if not step.task:
            raise ConfigError(
                f"{step.path or workflow.path}.task",
                "a task is required: set one on the step, give the workflow a task, "
                "or pass one to the run (--task)",
            )
