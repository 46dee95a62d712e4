"""Results of a step and of a workflow run, and their ``--json`` documents.

The field names of ``to_dict()`` are a public contract (the ``--json``
documents in the README): add fields, never rename them. Durations are seconds
on the engine's clock (``anyio.current_time()``); ``started_at``/``finished_at``
are wall-clock ISO-8601 for people and logs.

A result keeps the facts of a failure, not only its message: the exception's
type name, the HTTP status and request id when the API answered, and the
exception itself (never serialised), so ``raise_for_status()`` can raise it.

A step's ``to_dict()`` is also what the run journal stores, and
:meth:`StepResult.from_dict` rebuilds a result from it, so a resumed run hands
its dependents exactly what the journalled step produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Self, TypeAlias, get_args

from ._errors import StepError
from ._public import publish
from ._types import Usage

__all__ = ["RunStatus", "StepResult", "StepStatus", "ToolCall", "WorkflowResult"]

StepStatus: TypeAlias = Literal[
    "succeeded", "failed", "timed_out", "cancelled", "skipped", "waiting_approval"
]
RunStatus: TypeAlias = Literal["succeeded", "failed", "timed_out", "cancelled", "waiting_approval"]
_STEP_STATUSES = frozenset(get_args(StepStatus))


def _moment(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _optional(value: object, kind: type | tuple[type, ...]) -> Any:
    """``value`` if it is a ``kind`` (a bool never counts as a number), else ``None``."""
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    """``value`` if it is a string, else ``None`` (``_optional(value, str)``, cheaper)."""
    return value if isinstance(value, str) else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _cached(value: object) -> bool | Literal["semantic"]:
    """A journalled ``cached``: ``"semantic"`` kept as such, anything else as a boolean."""
    return "semantic" if value == "semantic" else bool(value)


def _usage(value: object) -> Usage:
    """``Usage.from_api`` of a journalled ``usage`` object (anything else: all zero)."""
    if not isinstance(value, Mapping) or not value:
        return Usage()
    get = value.get
    return Usage(
        input_tokens=_count(get("input_tokens")),
        output_tokens=_count(get("output_tokens")),
        cache_creation_input_tokens=_count(get("cache_creation_input_tokens")),
        cache_read_input_tokens=_count(get("cache_read_input_tokens")),
    )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call a step made, as its result and ``--json`` record it.

    Attributes:
        name: the tool's name, as the model called it.
        turn: the call of the loop (1-based) whose reply asked for it.
        is_error: the model was told the call failed (``is_error: true``).
        elapsed_s: how long the tool ran, on the engine's clock.
        input_summary: the input, short and scrubbed of secrets, for people
            reading a record (never the whole input).
        error: what the model was told when the call failed, else ``None``.
    """

    name: str
    turn: int
    is_error: bool
    elapsed_s: float
    input_summary: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``tool_calls`` entry of a step's ``--json`` object."""
        return {
            "name": self.name,
            "turn": self.turn,
            "is_error": self.is_error,
            "elapsed_s": round(self.elapsed_s, 6),
            "input": self.input_summary,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ToolCall:
        """Rebuild a call from its :meth:`to_dict` entry (``input`` is the summary)."""
        return cls(
            name=str(doc["name"]),
            turn=int(doc["turn"]),
            is_error=bool(doc["is_error"]),
            elapsed_s=float(doc["elapsed_s"]),
            input_summary=str(doc["input"]),
            error=_optional(doc.get("error"), str),
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step (or one ``run_agent`` call) produced.

    Attributes:
        id: the step id (the agent name for ``run_agent``, ``jobs[INDEX]`` for ``run_many``).
        agent: the agent that ran.
        status: ``succeeded``, ``failed``, ``timed_out``, ``cancelled``, ``skipped``,
            or ``waiting_approval``: a step with ``"approval": true`` that has no
            decision yet did not start (see docs/runs.md, "Approval gates").
        output: the reply text, when the step succeeded.
        error: a one-line description of what went wrong, else ``None``.
        error_type: the exception class name (``RateLimitError``…), else ``None``.
        attempts: requests made for this step (0 for a cache hit or a skip).
        cached: the output came from the response cache: ``True`` for an
            answer stored for this very request (or one shared in flight),
            ``"semantic"`` when the semantic cache served the answer of a task
            close to this one (docs/semantic-cache.md), ``False`` otherwise;
            so ``not result.cached`` holds exactly for answers paid for now.
        similarity: for a semantic hit, the cosine similarity of this task to
            the one whose answer it was served (the lowest, over several calls);
            ``None`` when no call of the step was a semantic match.
        model: the model id that answered (or would have).
        elapsed_s: from the step's start to its end (0 for a skip).
        usage: token counts (all zero for a cache hit).
        cost_usd: what the call cost; ``None`` when the model has no known price.
        stop_reason: the API's ``stop_reason``.
        ttft_s: time to the first text token, for streamed calls.
        saved_usd: for a cache hit, what the original call cost (what this one saved).
        error_status: the HTTP status of the API error that failed the step, if any.
        request_id: the API's ``request-id`` of the answer (or of the error).
        exception: the exception that failed the step (not serialised, not compared).
        started: when the step started on the engine's clock (``anyio.current_time()``),
            for ordering and timelines; ``None`` if it never started.
        data: the parsed, schema-valid answer of a step with an ``output_schema``.
        turns: calls of the step's loop (each tool round, continuation or
            schema retry is one more); 0 when it made none.
        tool_calls: every tool call, in the order the model asked for them.
        thinking: the model's thinking text over every turn (kept, not printed).
        resumed: the result was replayed from the run journal by a resume: no
            call was made for it this time, and its usage, cost, attempts and
            timings are those of the session that ran it.
        approval: the decision that let a gated step run (or rejected it):
            ``{"approved": bool, "note": str | None, "decided_at": ISO-8601}``;
            ``None`` for a step without ``"approval": true``.
    """

    id: str
    agent: str
    status: StepStatus
    output: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    cached: bool | Literal["semantic"] = False
    model: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    elapsed_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    stop_reason: str | None = None
    ttft_s: float | None = None
    saved_usd: float | None = None
    error_status: int | None = None
    request_id: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    started: float | None = field(default=None, compare=False, repr=False)
    data: Any = None
    turns: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str | None = field(default=None, repr=False)
    resumed: bool = False
    approval: Mapping[str, Any] | None = None
    similarity: float | None = None

    @property
    def ok(self) -> bool:
        """True when the step succeeded."""
        return self.status == "succeeded"

    def raise_for_status(self) -> Self:
        """Return this result if the step succeeded; else raise why it did not.

        Raises:
            CFTError: the exception the step recorded (``RateLimitError``,
                ``StepTimeoutError``…), or :class:`StepError` for a step that was
                skipped or cancelled.
        """
        if self.ok:
            return self
        if self.exception is not None:
            raise self.exception
        raise StepError(self.id, self.status, self.error or "no reason recorded")

    def to_dict(self) -> dict[str, Any]:
        """The step object of the ``--json`` documents."""
        # Written out (no helper calls): the journal builds one per finished step.
        started, finished, calls, approval = (
            self.started_at,
            self.finished_at,
            self.tool_calls,
            self.approval,
        )
        return {
            "id": self.id,
            "agent": self.agent,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "error_type": self.error_type,
            "attempts": self.attempts,
            "cached": self.cached,
            "similarity": self.similarity,
            "model": self.model,
            "started_at": None if started is None else started.isoformat(timespec="milliseconds"),
            "finished_at": None
            if finished is None
            else finished.isoformat(timespec="milliseconds"),
            "elapsed_s": round(self.elapsed_s, 6),
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "saved_usd": self.saved_usd,
            "stop_reason": self.stop_reason,
            "error_status": self.error_status,
            "request_id": self.request_id,
            "data": self.data,
            "turns": self.turns,
            "tool_calls": [call.to_dict() for call in calls] if calls else [],
            "resumed": self.resumed,
            "approval": None if approval is None else dict(approval),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, resumed: bool = False) -> StepResult:
        """Rebuild a result from its :meth:`to_dict` object (as the run journal holds it).

        What ``to_dict`` leaves out stays unknown: the exception (only its type
        name and message survive), the engine-clock ``started``, ``ttft_s`` and
        the thinking text.

        Args:
            doc: a step object of a ``--json`` document.
            resumed: mark the result as replayed from the journal.

        Raises:
            ValueError: ``doc`` is not such an object (a field missing or of the wrong type).
        """
        try:
            status = doc["status"]
            if status not in _STEP_STATUSES:
                raise ValueError(f"unknown step status {status!r}")
            get = doc.get  # a resume rebuilds every finished step: one lookup each
            approval = get("approval")
            calls = get("tool_calls")
            return cls(
                id=str(doc["id"]),
                agent=str(doc["agent"]),
                status=status,
                output=_text(get("output")),
                error=_text(get("error")),
                error_type=_text(get("error_type")),
                attempts=int(get("attempts") or 0),
                cached=_cached(get("cached")),
                similarity=_optional(get("similarity"), (int, float)),
                model=_text(get("model")),
                started_at=_moment(get("started_at")),
                finished_at=_moment(get("finished_at")),
                elapsed_s=float(get("elapsed_s") or 0.0),
                usage=_usage(get("usage")),
                cost_usd=_optional(get("cost_usd"), (int, float)),
                saved_usd=_optional(get("saved_usd"), (int, float)),
                stop_reason=_text(get("stop_reason")),
                error_status=_optional(get("error_status"), int),
                request_id=_text(get("request_id")),
                data=get("data"),
                turns=int(get("turns") or 0),
                tool_calls=tuple(ToolCall.from_dict(c) for c in calls) if calls else (),
                resumed=resumed,
                approval=dict(approval) if isinstance(approval, Mapping) else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a step result: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class WorkflowResult:
    """Everything a workflow run produced, step by step.

    Attributes:
        workflow: the workflow's name.
        run_id: unique id of this run.
        status: ``succeeded`` when every step succeeded, else why it stopped:
            ``failed``, ``timed_out``, ``cancelled``, or ``waiting_approval``
            (nothing failed, and some gated step waits for a decision).
        elapsed_s: the makespan, first step start to last step end.
        critical_path_s: the longest dependency chain by the steps' measured
            times — what a perfect scheduler would take with these durations.
        execution_order: step ids in the order they started.
        steps: every step's result, in config order.
    """

    workflow: str
    run_id: str
    status: RunStatus
    elapsed_s: float
    critical_path_s: float
    execution_order: tuple[str, ...]
    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return self.status == "succeeded"

    @property
    def usage(self) -> Usage:
        """Token counts summed over every step."""
        total = Usage()
        for step in self.steps:
            total = total + step.usage
        return total

    @property
    def cost_usd(self) -> float | None:
        """Cost summed over every step; ``None`` if any step's model has no price."""
        costs = [step.cost_usd for step in self.steps]
        if any(cost is None for cost in costs):
            return None
        return sum(cost for cost in costs if cost is not None)

    @property
    def saved_usd(self) -> float:
        """What cache hits saved in this run (0 when nothing came from the cache)."""
        return sum(step.saved_usd or 0.0 for step in self.steps)

    @property
    def step_time_s(self) -> float:
        """Sum of the steps' own times: what a sequential run would have taken."""
        return sum(step.elapsed_s for step in self.steps)

    def step(self, step_id: str) -> StepResult:
        """The result of one step by id."""
        for result in self.steps:
            if result.id == step_id:
                return result
        raise KeyError(step_id)

    def outputs(self) -> dict[str, str]:
        """Outputs of the steps that produced one, by step id."""
        return {s.id: s.output for s in self.steps if s.output is not None}

    def to_dict(self) -> dict[str, Any]:
        """The ``workflow run --json`` document (fields are a contract: added to, never renamed)."""
        return {
            "workflow": self.workflow,
            "run_id": self.run_id,
            "status": self.status,
            "elapsed_s": round(self.elapsed_s, 6),
            "critical_path_s": round(self.critical_path_s, 6),
            "execution_order": list(self.execution_order),
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "saved_usd": self.saved_usd,
            "steps": [step.to_dict() for step in self.steps],
        }


publish(globals())
