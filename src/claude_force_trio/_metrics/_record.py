"""What one metrics line holds (:data:`FIELDS`), built from the engine's events.

Why the builder remembers earlier events: a finished step's result does not
name its workflow (:class:`WorkflowStarted` does) or its task
(:class:`StepQueued` carries the task's hash), and a cache hit's saving, when
the result does not state it, is the last uncached cost of the same agent,
model and task. Each of those tables keeps at most :data:`_MAX_REMEMBERED`
entries, so a long-lived engine stays small.

What is never written: the task text (only ``task_hash``, a SHA-256) and the key.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from .._events import (
    Event,
    StepCancelled,
    StepFailed,
    StepQueued,
    StepSucceeded,
    StepTimedOut,
    WorkflowFinished,
    WorkflowStarted,
)

__all__ = ["FIELDS", "RecordBuilder"]

#: The keys of every line, in order (also the CSV columns of ``cft metrics export``).
FIELDS = (
    "ts",
    "run_id",
    "workflow",
    "step_id",
    "agent",
    "model",
    "success",
    "status",
    "error_type",
    "cached",
    "attempts",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",
    "saved_usd",
    "task_hash",
)

Finished = StepSucceeded | StepFailed | StepTimedOut | StepCancelled
_FINISHED = (StepSucceeded, StepFailed, StepTimedOut, StepCancelled)
_MAX_REMEMBERED = 4096  # entries per table: a bound on what a long-lived engine keeps


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > _MAX_REMEMBERED:
        table.popitem(last=False)


class RecordBuilder:
    """Turns the engine's events into metrics records (one per finished call, none for skips)."""

    __slots__ = ("_last_cost", "_task_hashes", "_workflows")

    def __init__(self) -> None:
        self._workflows: OrderedDict[str, str] = OrderedDict()
        self._task_hashes: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        # Last cost of an uncached success per (agent, model, task): what a later
        # cache hit on the same task saved, when the result does not say.
        self._last_cost: OrderedDict[tuple[str, str | None, str], float] = OrderedDict()

    def line(self, event: Event) -> str | None:
        """The JSON line (newline included) for a finished step; ``None`` for any other event.

        Every event is noted: a workflow's name and a step's task hash wait for
        the step's end, and a finished workflow's name is forgotten.
        """
        if isinstance(event, _FINISHED):
            return json.dumps(self.record(event), separators=(",", ":")) + "\n"
        if isinstance(event, WorkflowStarted):
            _remember(self._workflows, event.run_id, event.workflow)
        elif isinstance(event, StepQueued):
            _remember(self._task_hashes, (event.run_id, event.step_id), event.task_hash)
        elif isinstance(event, WorkflowFinished):
            self._workflows.pop(event.run_id, None)
        return None

    def record(self, event: Finished) -> dict[str, Any]:
        """The record of a finished step, as a dict with :data:`FIELDS` as keys."""
        result = event.result
        usage = result.usage
        task_hash = self._task_hashes.pop((event.run_id, event.step_id), None)
        saved = result.saved_usd
        memo = (result.agent, result.model, task_hash) if task_hash else None
        if memo is not None and result.ok and not result.cached and result.cost_usd is not None:
            _remember(self._last_cost, memo, result.cost_usd)
        if saved is None and result.cached and memo is not None:
            saved = self._last_cost.get(memo)
        moment = result.finished_at or datetime.now(UTC)
        return {
            "ts": moment.astimezone(UTC).isoformat(timespec="milliseconds"),
            "run_id": event.run_id,
            "workflow": self._workflows.get(event.run_id),
            "step_id": event.step_id,
            "agent": result.agent,
            "model": result.model,
            "success": result.ok,
            "status": result.status,
            "error_type": result.error_type,
            "cached": result.cached,
            "attempts": result.attempts,
            "latency_ms": round(result.elapsed_s * 1000, 3),
            "ttft_ms": None if result.ttft_s is None else round(result.ttft_s * 1000, 3),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cost_usd": result.cost_usd,
            "saved_usd": saved,
            "task_hash": task_hash,
        }
