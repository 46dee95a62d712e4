"""What one metrics line holds (:data:`FIELDS`), built from the engine's events.

Why the builder remembers earlier events: a finished step's result does not
name its workflow (:class:`WorkflowStarted` does) or its task
(:class:`StepQueued` carries the task's hash), and a cache hit's saving, when
the result does not state it, is the last uncached cost of the same agent,
model and task. Each of those tables keeps at most :data:`_MAX_REMEMBERED`
entries, so a long-lived engine stays small.

Every line carries the ``project`` its engine belongs to (``Config.project_key``),
so one project's calls never show in another's ``cft metrics``; lines written
before projects existed have none and count as no project's.

What is never written: the task text (only ``task_hash``, a SHA-256) and the key.

**Semantic hits.** ``cached`` stays a boolean (``true`` for every answer served
from the cache, a semantic match included), so readers written before the
semantic cache count such a call as the hit it is; ``similarity``, the last
field, is the match's cosine similarity for a semantic hit and ``null`` for
every other call (an exact hit, a live call), which is how a reader tells them apart.

**State lines.** Besides one line per call, an engine's breaker and concurrency
changes (:class:`BreakerStateChanged`, :class:`ConcurrencyChanged`) are written
as lines of their own ``kind`` (:data:`STATE_KINDS`), so ``cft dashboard`` can
show open breakers and the adaptive limit of every running process. They are
rare (a breaker trips, a 429 halves the limit and successes grow it back) and
start ``{"ts":…,"kind":`` — readers of calls skip them (:func:`is_state_line`).
Each carries the writer's ``pid`` and an ``engine`` id (one per recorder, since a
process may open many engines); ``closed`` says an engine that wrote state is gone.

Why a line is encoded by a template rather than ``json.dumps``: the recorder is
on for every engine, so its cost is every call's; filling one ``%`` template
with C-escaped strings costs about half of encoding the dict (see BENCHMARKS.md,
"Metrics recorder"). The output is the same compact JSON (non-finite numbers,
which JSON cannot hold, are written as ``null``); anything the template cannot
take falls back to ``json.dumps``.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from .._events import (
    BreakerStateChanged,
    ConcurrencyChanged,
    Event,
    StepCancelled,
    StepFailed,
    StepQueued,
    StepSucceeded,
    StepTimedOut,
    WorkflowFinished,
    WorkflowStarted,
)

__all__ = ["FIELDS", "STATE_KINDS", "RecordBuilder", "is_state_line"]

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
    "project",
    "similarity",
)

#: The ``kind`` of a state line: a breaker moved, the concurrency limit changed, an engine closed.
STATE_KINDS = ("breaker", "concurrency", "closed")
#: Where ``"kind":`` sits in a state line at the latest (after ``{"ts":"`` and the time stamp).
_KIND_BY = 64

Finished = StepSucceeded | StepFailed | StepTimedOut | StepCancelled
_FINISHED = (StepSucceeded, StepFailed, StepTimedOut, StepCancelled)
_MAX_REMEMBERED = 4096  # entries per table: a bound on what a long-lived engine keeps


#: One line, fields in :data:`FIELDS` order, each filled in by :func:`_encode`.
_COUNTS = {
    "attempts",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
}
_TEMPLATE = "{" + ",".join(f'"{n}":{"%d" if n in _COUNTS else "%s"}' for n in FIELDS) + "}\n"


def _text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _real(value: float | None) -> str:
    return "null" if value is None or not math.isfinite(value) else repr(value)


def _encode(record: dict[str, Any]) -> str:
    """``record`` as one compact JSON line (newline included), in :data:`FIELDS` order."""
    r, q = record, _text
    try:
        # One flat tuple, in FIELDS order: the cheapest way to fill the template.
        return _TEMPLATE % (
            q(r["ts"]),
            q(r["run_id"]),
            q(r["workflow"]),
            q(r["step_id"]),
            q(r["agent"]),
            q(r["model"]),
            "true" if r["success"] is True else "false",
            q(r["status"]),
            q(r["error_type"]),
            "true" if r["cached"] is True else "false",
            r["attempts"],
            _real(r["latency_ms"]),
            _real(r["ttft_ms"]),
            r["input_tokens"],
            r["output_tokens"],
            r["cache_read_input_tokens"],
            r["cache_creation_input_tokens"],
            _real(r["cost_usd"]),
            _real(r["saved_usd"]),
            q(r["task_hash"]),
            q(r["project"]),
            _real(r["similarity"]),
        )
    except TypeError:  # a field of another type than the engine's results carry
        return json.dumps(record, separators=(",", ":")) + "\n"


def is_state_line(line: bytes) -> bool:
    """True for a state line (breaker, concurrency, closed), which is not a call's record."""
    return line.find(b',"kind":', 0, _KIND_BY) > 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > _MAX_REMEMBERED:
        table.popitem(last=False)


class RecordBuilder:
    """Turns the engine's events into metrics records (one per finished call, none for skips).

    Args:
        project: the project key stamped on every record (``None``: no project).
    """

    __slots__ = ("_last_cost", "_task_hashes", "_workflows", "engine", "project", "stateful")

    def __init__(self, project: str | None = None) -> None:
        self.project = project
        #: Names this builder's engine in its state lines (a process may open many).
        self.engine = os.urandom(4).hex()
        #: A state line was written since the last :meth:`closed_line`.
        self.stateful = False
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
            return _encode(self.record(event))
        if isinstance(event, BreakerStateChanged):
            base_url, model = event.key
            return self._state(
                "breaker",
                f',"base_url":{_text(base_url)},"model":{_text(model)}'
                f',"old":{_text(event.old)},"state":{_text(event.new)}',
            )
        if isinstance(event, ConcurrencyChanged):
            return self._state(
                "concurrency", f',"limit":{int(event.limit)},"reason":{_text(event.reason)}'
            )
        if isinstance(event, WorkflowStarted):
            _remember(self._workflows, event.run_id, event.workflow)
        elif isinstance(event, StepQueued):
            _remember(self._task_hashes, (event.run_id, event.step_id), event.task_hash)
        elif isinstance(event, WorkflowFinished):
            self._workflows.pop(event.run_id, None)
        return None

    def _state(self, kind: str, fields: str) -> str:
        self.stateful = True
        return (
            f'{{"ts":{_text(_now())},"kind":"{kind}","pid":{os.getpid()}'
            f',"engine":"{self.engine}","project":{_text(self.project)}{fields}}}\n'
        )

    def closed_line(self) -> str | None:
        """The ``closed`` state line, if this builder wrote state lines since the last one."""
        if not self.stateful:
            return None
        line = self._state("closed", "")
        self.stateful = False
        return line

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
            "cached": bool(result.cached),
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
            "project": self.project,
            "similarity": result.similarity if result.cached == "semantic" else None,
        }
