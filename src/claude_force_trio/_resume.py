"""What a resume may skip: the journalled successes that still hold for today's config.

A resume replays a step from the journal (no call, whatever the cache says)
only when three things hold, checked in topological order:

* its last journalled state is ``succeeded`` and rebuilds into a result;
* it is still the same step: same id, same agent;
* every one of its dependencies is replayed too. A dependency that runs again
  may answer differently, and a step must never have consumed an output its
  run does not have; after an ordinary crash this always holds, because a step
  is journalled before its dependents may start.

Everything else (failed, timed out, cancelled, skipped, in flight at a crash,
garbled) runs again; so does a step that waited for approval, whose gate then
finds the decision journalled since (``_approval``). A gated step that ran once
approved is a success like any other, replayed with its ``approval``.

A run whose config fingerprint changed is refused unless forced: its
journalled outputs answer a question the config no longer asks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._results import StepResult

if TYPE_CHECKING:
    from ._config import Config, StepConfig, WorkflowConfig
    from ._dag import Graph
    from ._journal import Journal

__all__ = ["RunPlan", "load_resumable", "replayable"]

log = logging.getLogger("claude_force_trio")


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a workflow run is to do: a fresh run (nothing done), or a resume.

    Attributes:
        run_id: the run's full id (a prefix may have named it).
        workflow: the workflow, as today's config defines it.
        task: the run's task (for a resume, as it was journalled).
        done: the results to replay, by step id (see :func:`replayable`).
    """

    run_id: str
    workflow: WorkflowConfig
    task: str | None
    done: Mapping[str, StepResult] = field(default_factory=dict)


async def load_resumable(
    journal: Journal | None, config: Config, run_id: str, *, force: bool
) -> RunPlan:
    """The run ``run_id`` (or a unique prefix of it), if it can be resumed under ``config``.

    Raises:
        ConfigError: there is no journal, or naming the run: not in the
            journal, not a workflow run, a workflow the config no longer has,
            or (unless ``force``) a config whose fingerprint changed since.
    """
    from ._dag import build_graph
    from ._journal import fingerprint

    if journal is None:
        raise ConfigError("journal", "resuming a run needs the run journal (journal=True)")
    where = f"run {run_id}"
    record = await journal.get_run(run_id, with_document=False)  # its steps are what counts
    if record is None:
        raise ConfigError(where, "not in the run journal (cft runs list shows the runs)")
    if record.kind != "workflow" or record.workflow is None:
        raise ConfigError(where, f"a {record.kind} run cannot be resumed, only workflow runs")
    if record.workflow not in config.workflows:
        raise ConfigError(where, f"its workflow {record.workflow!r} is not in {config.path}")
    if not force and record.fingerprint != fingerprint(config, record.workflow):
        raise ConfigError(
            f"run {record.run_id}", "config or agent files changed since; --force to resume anyway"
        )
    workflow = config.workflows[record.workflow]
    done = replayable(workflow, build_graph(workflow), record.steps)
    return RunPlan(record.run_id, workflow, record.task, done)


def replayable(
    workflow: WorkflowConfig, graph: Graph[StepConfig], steps: Mapping[str, Mapping[str, Any]]
) -> dict[str, StepResult]:
    """The journalled results a resume hands the run as done, by step id (see the module doc)."""
    done: dict[str, StepResult] = {}
    for step_id in graph.order:
        doc = steps.get(step_id)
        if doc is None or doc.get("status") != "succeeded":
            continue
        if any(dep not in done for dep in graph.dependencies[step_id]):
            continue
        try:
            result = StepResult.from_dict(doc, resumed=True)
        except ValueError as exc:
            log.warning(
                "journal: step %r of %s cannot be replayed (%s)", step_id, workflow.name, exc
            )
            continue
        if result.id == step_id and result.agent == graph.steps[step_id].agent:
            done[step_id] = result
    return done
