"""Events the engine emits, and the ``Hook`` protocol that receives them.

Why events instead of callbacks sprinkled through the engine: the core stays
free of any UI, metrics or storage code (the CLI's live table, the metrics
recorder and the run journal are all hooks), and a test can assert exactly what
happened, in order, by collecting events into a list.

Hooks are called synchronously, in the engine's task, in registration order:
keep them cheap (update a table, append to a buffer). A hook that raises is
logged and otherwise ignored, so a broken exporter never fails a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias

from ._public import publish

if TYPE_CHECKING:
    from ._results import StepResult, WorkflowResult
    from ._types import Usage

__all__ = [
    "BreakerStateChanged",
    "CallFinished",
    "ConcurrencyChanged",
    "Emitter",
    "Event",
    "Hook",
    "StepCancelled",
    "StepFailed",
    "StepQueued",
    "StepRetrying",
    "StepSkipped",
    "StepStarted",
    "StepSucceeded",
    "StepTimedOut",
    "StepWaitingApproval",
    "ToolCalled",
    "ToolFinished",
    "WorkflowFinished",
    "WorkflowStarted",
    "emit",
]

log = logging.getLogger("claude_force_trio")


@dataclass(frozen=True, slots=True)
class WorkflowStarted:
    """A workflow run began; ``steps`` are its step ids in config order."""

    run_id: str
    workflow: str
    steps: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class WorkflowFinished:
    """A workflow run ended (any status); ``result`` holds every step."""

    run_id: str
    workflow: str
    result: WorkflowResult
    at: float


@dataclass(frozen=True, slots=True)
class StepQueued:
    """A step's dependencies are done; it waits for a concurrency slot.

    ``task_hash`` is the sha256 of its user message: enough to group repeats in
    metrics without ever storing the task itself.
    """

    run_id: str
    step_id: str
    agent: str
    at: float
    task_hash: str | None = None


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A step got its slot and its request is being sent."""

    run_id: str
    step_id: str
    agent: str
    model: str
    at: float


@dataclass(frozen=True, slots=True)
class StepRetrying:
    """A step's attempt failed with a retryable error; the next starts after ``delay_s``.

    ``attempt`` is the number of the attempt that failed (1-based). A streaming
    step's ``on_text`` restarts from the beginning of the reply on the next attempt.
    """

    run_id: str
    step_id: str
    attempt: int
    delay_s: float
    error_type: str
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class BreakerStateChanged:
    """The circuit breaker for ``key`` (base URL, model) moved from ``old`` to ``new``.

    States are ``"closed"``, ``"open"`` and ``"half_open"``. Breakers are shared by
    every run of an engine, so this event carries no run id.
    """

    key: tuple[str, str]
    old: str
    new: str
    at: float


@dataclass(frozen=True, slots=True)
class ConcurrencyChanged:
    """The engine's adaptive limit on requests in flight is now ``limit``.

    ``reason`` is ``"rate limited (429)"`` when it halved and ``"success"`` when it
    grew back by one. Shared by every run of an engine: no run id.
    """

    limit: int
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallFinished:
    """One API call ended: answered, served without an API call, or failed for good.

    Emitted once per call by the top layer of the call stack, after retries, so
    it describes what the step saw. Engine-wide: it goes to the engine's hooks,
    not to a run's own.

    Attributes:
        run_id: the run the call belongs to (``None`` outside a run).
        step_id: the step that made it.
        agent: the agent that asked.
        model: the model asked for.
        cached: served without an API call (the cache, or an identical call in flight).
        attempts: requests sent for it (0 when served).
        elapsed_s: from the call to its end, on the engine's clock.
        usage: the answer's token counts (zero when served or failed).
        error_type: the exception's class name when it failed, else ``None``.
        request_id: the API's request id of the answer or the error, when known.
        at: when it ended.
        response_id: the answer's message id (``msg_…``), when it was answered.
        response_model: the model that answered, when it was answered.
        stop_reason: the answer's ``stop_reason``, when it was answered.
        similarity: for an answer the semantic cache served, how close the task was
            to the one answered before (cosine, 0–1); else ``None``.
    """

    run_id: str | None
    step_id: str | None
    agent: str | None
    model: str
    cached: bool
    attempts: int
    elapsed_s: float
    usage: Usage
    error_type: str | None
    request_id: str | None
    at: float
    response_id: str | None = None
    response_model: str | None = None
    stop_reason: str | None = None
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class StepSucceeded:
    """A step produced its output."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class StepFailed:
    """A step failed with an error it recorded (``result.error``)."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class StepTimedOut:
    """A step ran past its own timeout; its request was cancelled."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class StepCancelled:
    """A running step was cancelled (fail-fast, workflow timeout, Ctrl-C)."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class StepSkipped:
    """A step never ran because a dependency failed or the run stopped."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class StepWaitingApproval:
    """A gated step (``"approval": true``) has no decision: it did not start, the run pauses."""

    run_id: str
    step_id: str
    result: StepResult
    at: float


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """A step's model asked for a tool, which starts now.

    ``turn`` is the loop's call (1-based) whose reply asked for it;
    ``tool_use_id`` pairs it with its :class:`ToolFinished`.
    """

    run_id: str
    step_id: str
    tool: str
    turn: int
    tool_use_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ToolFinished:
    """A tool call ended; ``is_error``: the model is told it failed (``error`` says why)."""

    run_id: str
    step_id: str
    tool: str
    turn: int
    tool_use_id: str
    is_error: bool
    elapsed_s: float
    error: str | None
    at: float


Event: TypeAlias = (
    WorkflowStarted
    | WorkflowFinished
    | StepQueued
    | StepStarted
    | StepRetrying
    | StepSucceeded
    | StepFailed
    | StepTimedOut
    | StepCancelled
    | StepSkipped
    | StepWaitingApproval
    | BreakerStateChanged
    | ConcurrencyChanged
    | CallFinished
    | ToolCalled
    | ToolFinished
)


class Hook(Protocol):
    """Anything callable with one event: a function, a bound method, a list's ``append``."""

    def __call__(self, event: Event, /) -> object: ...


def emit(hooks: Iterable[Hook], event: Event) -> None:
    """Deliver ``event`` to every hook; a hook's exception is logged, never raised."""
    for hook in hooks:
        try:
            hook(event)
        except Exception:
            log.exception("hook %r failed on %s", hook, type(event).__name__)


publish(globals())


class Emitter:
    """Delivers events to a list of hooks, then to a run's own: a :class:`Hook` itself.

    The list is shared, not copied, so a hook appended to an engine's ``hooks``
    later still hears every event.
    """

    __slots__ = ("_extra", "_hooks")

    def __init__(self, hooks: list[Hook], extra: tuple[Hook, ...] = ()) -> None:
        self._hooks = hooks
        self._extra = extra

    def __call__(self, event: Event, /) -> None:
        emit(self._hooks, event)
        if self._extra:
            emit(self._extra, event)
