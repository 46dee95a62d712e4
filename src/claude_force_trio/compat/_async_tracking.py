"""One metrics line per ``AsyncAgentOrchestrator`` run, from Claude Force's keywords.

Why through the recorder's events rather than a line of our own: the metrics
file has one writer and one format (``_metrics._record``), which ``cft
metrics`` and ``AgentOrchestrator.get_performance_summary()`` read. Claude
Force's ``record_execution`` keywords (agent, task, success, time, model,
tokens, error type, workflow) are turned into the same events a step of the
engine emits, so the line is indistinguishable from one ``cft run`` writes;
the task itself is kept only as its hash, as everywhere else. Each line carries
the config's project key (:func:`recorder_for`), as an engine's lines do, and
is priced at the config's prices (:func:`pricing_of`: ``pricing`` over the table).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from .._errors import ConfigError
from .._events import StepFailed, StepQueued, StepSucceeded, StepTimedOut, WorkflowStarted
from .._metrics import MetricsRecorder, hash_task, project_key_of
from .._pricing import DEFAULT_PRICING, Pricing
from .._results import StepResult, StepStatus
from .._types import Usage

__all__ = ["pricing_of", "record_execution", "recorder_for"]


def recorder_for(
    recorder: MetricsRecorder | None, config_path: Path, document: dict[str, Any] | None
) -> MetricsRecorder:
    """``recorder`` if it writes for the config's project, else a new one in ``$CFT_HOME/metrics``.

    Args:
        recorder: the orchestrator's recorder so far (flushed after every line).
        config_path: the orchestrator's ``claude.json``.
        document: its content once read (``None`` before: the path decides the key).
    """
    from ._tracking import metrics_dir

    project = project_key_of(config_path, document or {})
    if recorder is not None and recorder.project == project:
        return recorder
    return MetricsRecorder(metrics_dir(), project=project)


def pricing_of(document: dict[str, Any] | None) -> Pricing:
    """The prices of a ``claude.json`` document: its ``pricing`` section over the table.

    A section the loader would refuse prices nothing: the table's prices stand
    (the engine refuses the same document with the reason when it runs it).

    Args:
        document: the orchestrator's ``claude.json`` content (``None`` before it is read).
    """
    from .._config._schema import read_pricing

    try:
        return Pricing.from_overrides(read_pricing(document or {}))
    except ConfigError:
        return DEFAULT_PRICING


def record_execution(
    recorder: MetricsRecorder,
    *,
    agent_name: str,
    task: str,
    success: bool,
    execution_time_ms: float,
    model: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    error_type: str | None = None,
    workflow_name: str | None = None,
    workflow_position: int | None = None,
    cached: bool = False,
    pricing: Pricing = DEFAULT_PRICING,
    **_unused: Any,
) -> None:
    """Give ``recorder`` the events of one finished run (it buffers the line).

    Args:
        recorder: the metrics hook.
        agent_name: the agent that ran (also the step id).
        task: the task, hashed into ``task_hash``.
        success: whether it produced its output.
        execution_time_ms: how long it took.
        model: the model asked for.
        input_tokens: input tokens billed.
        output_tokens: output tokens billed.
        error_type: the exception's class name, for a failure (``TimeoutError``
            is recorded as ``timed_out``).
        workflow_name: the workflow it ran in, if any.
        workflow_position: accepted, as Claude Force's tracker took it.
        cached: answered by the response cache.
        pricing: the prices its cost is counted at (:func:`pricing_of` the config).
    """
    now = anyio.current_time()
    finished = datetime.now(UTC)
    elapsed_s = max(execution_time_ms, 0.0) / 1000
    run_id = uuid.uuid4().hex
    if workflow_name:
        recorder(WorkflowStarted(run_id, workflow_name, (agent_name,), now))
    recorder(StepQueued(run_id, agent_name, agent_name, now, hash_task(task)))
    usage = Usage(input_tokens, output_tokens)
    status: StepStatus = (
        "succeeded" if success else "timed_out" if error_type == "TimeoutError" else "failed"
    )
    result = StepResult(
        id=agent_name,
        agent=agent_name,
        status=status,
        error=None if success else error_type,
        error_type=None if success else error_type,
        attempts=0 if cached else 1,
        cached=cached,
        model=model,
        started_at=finished - timedelta(seconds=elapsed_s),
        finished_at=finished,
        elapsed_s=elapsed_s,
        usage=usage,
        cost_usd=pricing.cost_usd(usage, model),
    )
    event = StepSucceeded if success else StepTimedOut if status == "timed_out" else StepFailed
    recorder(event(run_id, agent_name, result, now))
