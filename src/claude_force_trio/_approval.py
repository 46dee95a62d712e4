"""Approval gates: a step with ``"approval": true`` runs only once someone has said yes.

Why a layer around the step and not a branch in the scheduler or in the step:
the scheduler (``_run``) only needs a result, and the step (``_step``) only
knows how to ask the API; the gate is one more :class:`StepHandle` wrapped
around the step, as a transport wraps a transport, so each can be tested alone.

Where the decision comes from, in this order:

1. the run journal: ``cft runs approve`` / ``reject`` wrote it, and a resume
   finds it;
2. the run's ``on_approval`` callback: a program deciding in-process. Its
   answer is journalled (when a journal is open), so a later resume does not
   ask again;
3. nobody: the step ends ``waiting_approval``. That is not a failure: no
   fail-fast cancel, independent branches run on, only its dependents wait,
   and the run ends ``waiting_approval`` (docs/runs.md, "Approval gates").

Approved, the step runs and its result carries the decision (``approval``);
rejected, it fails with ``error_type`` ``approval_rejected`` and its dependents
are skipped as after any failure. A callback that raises, or answers something
that is not a decision, fails the step (``approval_error``): like every step's
failure, it is recorded, never raised into the run's task group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeAlias

import anyio

from ._events import StepFailed, StepWaitingApproval
from ._journal._records import Decision, iso
from ._public import publish
from ._results import StepResult, StepStatus

if TYPE_CHECKING:
    from ._config import StepConfig
    from ._events import Event
    from ._prompts import DependencyOutput
    from ._run import StepHandle

__all__ = [
    "ApprovalAnswer",
    "ApprovalCallback",
    "ApprovalGate",
    "ApprovalRequest",
    "Decisions",
    "Gates",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What an ``on_approval`` callback is asked about: one gated step, about to start.

    Attributes:
        run_id: the run's id.
        workflow: the workflow's name.
        step_id: the gated step.
        agent: the agent it would run.
        task: the step's own task (``None`` when it has none).
        workflow_task: the run's task, which every step sees above its own.
        inputs: what its dependencies produced, in config order.
    """

    run_id: str
    workflow: str
    step_id: str
    agent: str
    task: str | None
    inputs: tuple[DependencyOutput, ...] = ()
    workflow_task: str | None = None


class Verdict(Protocol):
    """A decision-like answer: a :class:`Decision`, or any object with these two attributes."""

    @property
    def approved(self) -> bool:
        """Whether the step may run."""
        ...

    @property
    def note(self) -> str | None:
        """Why, if there is a reason to keep."""
        ...


#: What a callback may answer: ``True``/``False``, a :class:`Verdict`, or ``(approved, note)``.
ApprovalAnswer: TypeAlias = bool | Verdict | tuple[bool, str | None]

#: The ``on_approval`` callback of ``run_workflow`` / ``resume_workflow``.
ApprovalCallback: TypeAlias = Callable[[ApprovalRequest], Awaitable[ApprovalAnswer]]


class Decisions(Protocol):
    """Where decisions are kept: the run journal (:class:`~._journal.Journal`)."""

    async def decision(self, run_id: str, step_id: str) -> Decision | None:
        """The decision on the step, if there is one."""
        ...

    async def decide(
        self, run_id: str, step_id: str, *, approved: bool, note: str | None = None
    ) -> Decision:
        """Keep a decision, durably, and return it."""
        ...


class _Refused(Exception):
    """No decision could be had: the gate fails the step with ``error_type``."""

    def __init__(self, error_type: str, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.cause = cause


class ApprovalGate:
    """A gated step: runs ``inner`` once approved (see the module doc).

    Args:
        inner: the step to run once approved.
        request: what the step is, for the callback (and the results' ids).
        decisions: the run journal, or ``None`` when the run has none.
        on_approval: the run's callback, or ``None``: then a step without a
            journalled decision waits.
        emit: delivers ``StepWaitingApproval`` and, for a step the gate fails,
            ``StepFailed``.
    """

    __slots__ = ("_decisions", "_emit", "_inner", "_on_approval", "_request", "_running")

    def __init__(
        self,
        inner: StepHandle,
        request: ApprovalRequest,
        *,
        decisions: Decisions | None,
        on_approval: ApprovalCallback | None,
        emit: Callable[[Event], object],
    ) -> None:
        self._inner = inner
        self._request = request
        self._decisions = decisions
        self._on_approval = on_approval
        self._emit = emit
        self._running: Decision | None = None

    async def run(self) -> StepResult:
        """Decide, then run the step, fail it, or leave it waiting; only cancellation escapes."""
        try:
            decision = await self._decide()
        except _Refused as refused:
            return self._fail(refused.error_type, refused.message, refused.cause)
        if decision is None:
            return self._waiting()
        if not decision.approved:
            reason = f"rejected: {decision.note}" if decision.note else "rejected"
            return self._fail("approval_rejected", reason, None, decision)
        self._running = decision
        result = await self._inner.run()
        return dataclasses.replace(result, approval=decision.approval())

    def interrupted(self) -> StepResult:
        """The step's cancelled result: the inner step's, or the gate's while it decides."""
        if self._running is not None:
            result = self._inner.interrupted()
            return dataclasses.replace(result, approval=self._running.approval())
        return self._result(
            "cancelled", "cancelled while waiting for an approval decision", "Cancelled"
        )

    async def _decide(self) -> Decision | None:
        """The journalled decision, else the callback's (journalled now), else ``None``.

        Raises:
            _Refused: the journal could not be read or written, or the callback
                raised or answered something that is not a decision.
        """
        run_id, step_id = self._request.run_id, self._request.step_id
        if self._decisions is not None:
            try:
                found = await self._decisions.decision(run_id, step_id)
            except Exception as exc:
                raise _Refused(
                    "approval_error", _failure("reading the decision", exc), exc
                ) from exc
            if found is not None:
                return found
        if self._on_approval is None:
            return None
        try:
            answer = await self._on_approval(self._request)
        except Exception as exc:
            raise _Refused("approval_error", _failure("the approval callback", exc), exc) from exc
        approved, note = _verdict(answer)
        if self._decisions is None:
            return Decision(run_id, step_id, approved, note, iso(datetime.now(UTC)))
        try:
            return await self._decisions.decide(run_id, step_id, approved=approved, note=note)
        except Exception as exc:
            from ._journalling import JournalWriteError

            error = JournalWriteError(f"the approval of step {step_id!r} of run {run_id}", exc)
            raise _Refused("JournalWriteError", str(error), error) from exc

    def _result(
        self,
        status: StepStatus,
        error: str,
        error_type: str | None,
        exception: BaseException | None = None,
        decision: Decision | None = None,
    ) -> StepResult:
        return StepResult(
            id=self._request.step_id,
            agent=self._request.agent,
            status=status,
            error=error,
            error_type=error_type,
            exception=exception,
            approval=None if decision is None else decision.approval(),
        )

    def _waiting(self) -> StepResult:
        result = self._result("waiting_approval", "waiting for approval", None)
        self._emit(StepWaitingApproval(self._request.run_id, result.id, result, _now()))
        return result

    def _fail(
        self,
        error_type: str,
        message: str,
        exception: BaseException | None,
        decision: Decision | None = None,
    ) -> StepResult:
        result = self._result("failed", message, error_type, exception, decision)
        self._emit(StepFailed(self._request.run_id, result.id, result, _now()))
        return result


@dataclass(frozen=True, slots=True)
class Gates:
    """What every gate of one run shares; :meth:`wrap` gates the steps that ask for it.

    Attributes:
        run_id: the run's id.
        workflow: the workflow's name.
        workflow_task: the run's task.
        decisions: the run journal, or ``None``.
        on_approval: the run's callback, or ``None``.
        emit: the run's event emitter.
    """

    run_id: str
    workflow: str
    workflow_task: str | None
    decisions: Decisions | None
    on_approval: ApprovalCallback | None
    emit: Callable[[Event], object]

    def wrap(
        self, step: StepConfig, inputs: Sequence[DependencyOutput], inner: StepHandle
    ) -> StepHandle:
        """``inner`` behind a gate if ``step`` has ``"approval": true``, else ``inner`` itself."""
        if not step.approval:
            return inner
        request = ApprovalRequest(
            self.run_id,
            self.workflow,
            step.id,
            step.agent,
            step.task,
            tuple(inputs),
            self.workflow_task,
        )
        return ApprovalGate(
            inner,
            request,
            decisions=self.decisions,
            on_approval=self.on_approval,
            emit=self.emit,
        )


def _now() -> float:
    return anyio.current_time()


def _failure(what: str, exc: BaseException) -> str:
    """``the approval callback raised KeyError: 'x'``: the exception's type, then its message."""
    text = str(exc)
    return f"{what} raised {type(exc).__name__}" + (f": {text}" if text else "")


def _verdict(answer: object) -> tuple[bool, str | None]:
    """``(approved, note)`` from a callback's answer.

    Raises:
        _Refused: the answer is not a bool, a :class:`Verdict` or an ``(approved, note)`` pair.
    """
    approved: object
    note: object = None
    if isinstance(answer, bool):
        approved = answer
    elif isinstance(answer, Sequence) and not isinstance(answer, str) and len(answer) == 2:
        approved, note = answer
    else:
        approved = getattr(answer, "approved", None)
        note = getattr(answer, "note", None)
    if isinstance(approved, bool) and (note is None or isinstance(note, str)):
        return approved, note
    message = (
        f"the approval callback answered {type(answer).__name__}, "
        "not a bool, a decision (approved, note) or an (approved, note) pair"
    )
    raise _Refused("approval_error", message, TypeError(message))


publish(globals())
